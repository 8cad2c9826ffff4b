"""Layout of .cat text: the Lark post-lexer that turns newlines into statement separators.

Like Python's implicit line joining: a newline ends a statement, except inside ``( ) [ ] { }``
and right after a binary operator (``>>``, ``@``, ``=``, ``,``, ``->``, ...). Blank lines and
comment lines collapse into one separator, and the text always ends with one, so the grammar
(``grammar/catlm.lark``) can say ``start: (statement _NL)*``. The state it keeps (open brackets,
the last two tokens) is what the parse stage's error messages are made from.

>>> from lark import Token
>>> kinds = [("NAME", "f"), ("_THEN", ">>"), ("_NL", ""), ("_NL", ""), ("NAME", "g")]
>>> tokens = [Token(kind, text, 0, 1, 1, 1, 2, 1) for kind, text in kinds]
>>> [t.type for t in Separators().process(iter(tokens))]
['NAME', '_THEN', 'NAME', '_NL']
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from lark import Token

CONTINUATIONS = frozenset({  # a newline right after one of these does not end the statement
    "EQUAL", "COLON", "COMMA", "_ARROW", "_TENSOR", "_THEN", "_COMPOSE", "_EQ", "_NE", "_A_S",
    "PLUS", "MINUS", "SLASH", "CIRCUMFLEX",
})
OPENERS, CLOSERS = frozenset({"LPAR", "LSQB", "LBRACE"}), frozenset({"RPAR", "RSQB", "RBRACE"})


@dataclass
class Layout:
    """What the post-lexer has passed on so far in one parse; error messages read it."""

    open: list[Token] = field(default_factory=list)  # brackets not yet closed, innermost last
    before: Token | None = None  # the token before ``last``
    last: Token | None = None
    end: Token | None = None  # the separator made up at the end of the text

    def at_end(self, token: Token) -> bool:
        return token is self.end

    def skips_newline(self) -> bool:
        return bool(self.open) or self.last is None or self.last.type == "_NL" or self.last.type in CONTINUATIONS

    def push(self, token: Token) -> Token:
        if token.type in OPENERS:
            self.open.append(token)
        elif token.type in CLOSERS and self.open:
            self.open.pop()
        self.before, self.last = self.last, token
        return token

    def finish(self) -> Token:
        last = self.last
        self.end = Token("_NL", "", start_pos=last.end_pos, line=last.end_line, column=last.end_column,
                         end_line=last.end_line, end_column=last.end_column + 1, end_pos=last.end_pos)
        return self.push(self.end)


class Separators:
    """Lark post-lexer: keeps a newline only where it ends a statement, and ends the text with one."""

    always_accept = ("_NL",)

    def __init__(self):
        self._local = threading.local()  # one shared parser, one layout per thread

    @property
    def layout(self) -> Layout:
        return getattr(self._local, "layout", None) or Layout()

    def process(self, stream):
        layout = self._local.layout = Layout()
        for token in stream:
            if token.type != "_NL" or not layout.skips_newline():
                yield layout.push(token)
        if layout.last is not None and layout.last.type != "_NL":
            yield layout.finish()
