"""Every message of the parse stage: Lark's exceptions -> ``ParseError`` with a span and a hint.

A failed LALR parse tells us the unexpected token and the set of terminals the grammar would
have accepted there; ``expected`` reads that set as a phrase ("an object", "a number"), and the
post-lexer's state (the token before, the brackets still open) says where and after what. The
templates live here so that the wording of the language's errors is in one place.

>>> from catlm.syntax.parser import parse
>>> try:
...     parse("object D = fin\\n", "d.cat")
... except Exception as err:
...     print(err)
d.cat:1:15: unexpected end of line: expected a number after 'fin'
"""
from __future__ import annotations

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from catlm.errors import ParseError, Span, format_bytes
from catlm.syntax.layout import CONTINUATIONS
from catlm.syntax.to_ast import lark_span

# terminal name -> how a message shows it; keywords and names are shown by their text instead
TERMINALS = {
    "_ARROW": "'->'", "_TENSOR": "'@'", "_THEN": "'>>'", "_COMPOSE": "'∘'", "_EQ": "'=='",
    "_NE": "'!='", "_A_S": "'a.s.'", "EQUAL": "'='", "COLON": "':'", "COMMA": "','",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'", "RBRACE": "'}'",
    "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "CIRCUMFLEX": "'^'",
    "NAME": "a name", "NUMBER": "a number", "STRING": "a double-quoted string", "_NL": "end of line",
    "DETERMINISTIC": "'deterministic'", "MARKOV": "'markov'",
}

# (terminals that must all be acceptable, the phrase for them); the first row that fits is used
EXPECTATIONS = (
    ({"OBJECT", "KERNEL", "LAW"}, "a statement (object, param, kernel, law, check or import)"),
    ({"FIN", "REAL", "LBRACE"}, "an object"),
    ({"LSQB", "ID", "COPY"}, "a literal list, an implementation or a diagram"),
    ({"ID", "COPY", "SWAP"}, "a diagram expression"),
    ({"NUMBER", "MINUS", "LPAR"}, "a number or an arithmetic expression"),
    ({"_EQ", "_NE"}, "'==' or '!='"),
)
FOUND = {"NAME": "name '{}'", "NUMBER": "number {}", "STRING": "string {}", "_NL": "end of line"}
STATEMENT_KEYWORDS = frozenset({"OBJECT", "PARAM", "KERNEL", "LAW", "CHECK", "IMPORT"})
CLOSERS = {"(": ")", "[": "]", "{": "}"}
MIXED = frozenset({"_THEN", "_COMPOSE"})


def from_lark(err: UnexpectedInput, file: str, layout) -> ParseError:
    """The ``ParseError`` for a Lark failure; ``layout`` is the post-lexer's state at that point."""
    for kind, handler in HANDLERS.items():
        if isinstance(err, kind):
            return handler(err, file, layout)
    raise TypeError(f"not a Lark parse failure: {err!r}")


def _unexpected_token(err: UnexpectedToken, file: str, layout) -> ParseError:
    token, expected = err.token, set(err.expected)
    for case in SPECIAL_CASES:
        error = case(token, expected, file, layout)
        if error is not None:
            return error
    message = f"unexpected {found(token, layout)}: expected {expected_phrase(expected)}"
    if layout.before is not None:
        message += f" after '{layout.before.value}'"
    return ParseError(message, span_of(token, file))


def _unclosed_bracket(token: Token, expected: set[str], file: str, layout) -> ParseError | None:
    """The text ran out, or a new statement began, while a bracket was open."""
    if layout.open and (layout.at_end(token) or token.type in STATEMENT_KEYWORDS):
        return unclosed(layout.open[-1], file)
    return None


def _dangling_operator(token: Token, expected: set[str], file: str, layout) -> ParseError | None:
    """A line ended in a binary operator, so the next statement's keyword was read as its operand."""
    before = layout.before
    if token.type in STATEMENT_KEYWORDS and before is not None and before.type in CONTINUATIONS \
            and before.end_line < token.line:
        return ParseError(f"unexpected end of line: expected {expected_phrase(expected)} after '{before.value}'",
                          span_of(before, file))
    return None


def _stray_almost_surely(token: Token, expected: set[str], file: str, layout) -> ParseError | None:
    if token.type == "_A_S" and "_A_S" not in expected:
        return ParseError("'a.s.' follows only an equation with '=='", span_of(token, file),
                          hint="write `law name : lhs == rhs a.s. state`; a law with '!=' takes no state")
    return None


def _mixed_compositions(token: Token, expected: set[str], file: str, layout) -> ParseError | None:
    if token.type in MIXED and MIXED - {token.type} <= expected:
        return ParseError("cannot mix '>>' and '∘' (or '.') without parentheses", span_of(token, file),
                          hint="write (f >> g) ∘ h or f >> (g ∘ h)")
    return None


SPECIAL_CASES = (_unclosed_bracket, _dangling_operator, _stray_almost_surely, _mixed_compositions)


def _unexpected_characters(err: UnexpectedCharacters, file: str, layout) -> ParseError:
    char = err.char
    span = Span(file, err.line, err.column, err.line, err.column)
    if char == '"':
        return ParseError("unterminated string", span, hint='close it with \'"\' on the same line')
    if char == "'":
        return ParseError("strings are written in double quotes", span, hint='write "text", not \'text\'')
    shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
    return ParseError(f"unexpected character {shown}", span,
                      hint="see docs/language.md for the characters a .cat file may use")


def _unexpected_eof(err: UnexpectedEOF, file: str, layout) -> ParseError:
    if layout.open:
        return unclosed(layout.open[-1], file)
    last = layout.last
    return ParseError("unexpected end of file", span_of(last, file) if last else Span(file, 1, 1, 1, 1))


HANDLERS = {
    UnexpectedToken: _unexpected_token,
    UnexpectedCharacters: _unexpected_characters,
    UnexpectedEOF: _unexpected_eof,
}


def unclosed(opener: Token, file: str) -> ParseError:
    return ParseError(f"unclosed '{opener.value}'", span_of(opener, file),
                      hint=f"close it with '{CLOSERS[opener.value]}'; a statement runs on until its brackets close")


def expected_phrase(expected: set[str]) -> str:
    """``{"FIN", "REAL", "LBRACE", ...}`` -> ``"an object"``; otherwise the tokens, joined by 'or'."""
    for needed, phrase in EXPECTATIONS:
        if needed <= expected:
            return phrase
    shown = sorted(TERMINALS.get(name, f"'{name.lower()}'") for name in expected if name != "$END")
    return " or ".join(shown) if len(shown) < 6 else ", ".join(shown[:5]) + " or another token"


def found(token: Token, layout) -> str:
    """How a message names the token it did not expect: ``name 'x'``, ``'>>'``, ``end of line``."""
    if layout.at_end(token):
        return "end of file"
    return FOUND.get(token.type, "'{}'").format(token.value)


def span_of(token: Token, file: str) -> Span:
    return lark_span(file, token, token)


# --- reading files -----------------------------------------------------------------------------

def too_large(file: str, size: int, limit: int) -> ParseError:
    return ParseError(f"the file is {format_bytes(size)}; catlm parses at most {format_bytes(limit)} per file",
                      Span(file, 1, 1, 1, 1),
                      hint='split it into several files and join them with `import "part.cat"`')


def not_utf8(file: str, data: bytes, err: UnicodeDecodeError) -> ParseError:
    line, column = position(data, err.start)
    return ParseError(f"the file is not UTF-8 text: byte 0x{data[err.start]:02x} at line {line}, column {column}",
                      Span(file, line, column, line, column), hint="save the file as UTF-8")


def binary(file: str, data: bytes, offset: int) -> ParseError:
    line, column = position(data, offset)
    return ParseError("the file contains a NUL byte; it looks like binary data, not a .cat file",
                      Span(file, line, column, line, column))


def position(data: bytes, offset: int) -> tuple[int, int]:
    """Line and column (in characters, from 1) of a byte offset whose prefix is valid UTF-8."""
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column
