"""``catlm fmt FILE... [--check | --in-place]``: write .cat files in their canonical form.

The canonical text is ``catlm.syntax.format``'s (one statement per line, ASCII operators, the
fewest parentheses). The grammar ignores comments, so they are read from the same grammar's
lexer and put back: a comment on its own line stays above the statement that follows it, a
comment on a statement's last line follows it on its line, and a run of blank lines between
statements becomes one. Nothing is written unless the new text parses to the same statements
and keeps every comment. Without options the text goes to standard output; ``--check`` says
which files would change (exit status 1 if any); ``--in-place`` rewrites them.

>>> print(canonical("object A = fin 2   # two\\n\\n\\nkernel f : A → A  =  [[1,0],\\n  [0,1]]\\n"), end="")
object A = fin 2  # two
<BLANKLINE>
kernel f : A -> A = [[1, 0], [0, 1]]
"""
from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

HELP = "format .cat files canonically (to stdout, or --check, or --in-place)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="the .cat files")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if a file is not in canonical form")
    mode.add_argument("--in-place", action="store_true", help="rewrite the files")


def run(args: argparse.Namespace) -> int:
    from catlm.syntax import parse_file
    changed = []
    for name in args.files:
        parse_file(name)  # a file that is not UTF-8 .cat text fails here, with its place
        text = Path(name).read_text(encoding="utf-8")
        new = canonical(text, name)
        if args.check or args.in_place:
            changed += [name] if new != text else []
            if args.in_place and new != text:
                Path(name).write_text(new, encoding="utf-8")
        else:
            sys.stdout.write(new)
    for name in changed:
        print(f"{'reformatted' if args.in_place else 'would reformat'} {name}")
    return 1 if args.check and changed else 0


@dataclass(frozen=True, slots=True)
class Comment:
    line: int
    text: str


def canonical(text: str, file: str = "<string>") -> str:
    """The canonical text of a whole file, its comments kept."""
    from catlm.syntax import parse
    from catlm.syntax.format import format_statement
    spec = parse(text, file)
    comments = _comments(text)
    out: list[str] = []
    last = 0  # the last source line written so far
    for statement in spec.statements:
        span = statement.span
        above = [c for c in comments if last < c.line < span.line or span.line <= c.line < span.end_line]
        trailing = [c for c in comments if c.line == span.end_line]
        for c in sorted(above, key=lambda c: c.line):
            last = _write(out, last, c.line, c.text)
        line = format_statement(statement) + "".join(f"  {c.text}" for c in trailing)
        last = _write(out, last, span.line, line, span.end_line)
    for c in comments:
        if c.line > last:
            last = _write(out, last, c.line, c.text)
    new = "\n".join(out) + ("\n" if out else "")
    _verify(spec, comments, new, file)
    return new


def _write(out: list[str], last: int, line: int, text: str, end: int | None = None) -> int:
    """Append ``text`` (source lines ``line..end``), after one blank line if the source had any."""
    if out and line > last + 1 and out[-1] != "":
        out.append("")
    out.append(text)
    return max(last, end or line)


def _verify(spec, comments: list[Comment], new: str, file: str) -> None:
    """Refuse to give text that means something else or has lost a comment."""
    from catlm.errors import SpecError
    from catlm.syntax import parse
    if parse(new, file).statements != spec.statements or len(_comments(new)) != len(comments):
        raise SpecError(f"cannot format {file}: the canonical text would change its meaning",
                        hint="please report this file; it is left as it was")


def _comments(text: str) -> list[Comment]:
    """Every ``# ...`` comment with its line, as the grammar's own lexer finds them."""
    tokens = _lexer().lex(text.removeprefix("\ufeff"), dont_ignore=True)
    return [Comment(t.line, t.value.rstrip()) for t in tokens if t.type == "COMMENT"]


@functools.cache
def _lexer():
    from lark import Lark
    grammar = resources.files("catlm.grammar").joinpath("catlm.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="basic")
