"""The first stage of the front end: ``.cat`` text -> ``ast.Spec``, and files with their imports.

The syntax is ``grammar/catlm.lark`` (shipped as package data ``catlm.grammar``), parsed by Lark's
LALR(1) parser with source positions; ``to_ast`` turns the tree into frozen records. Every
failure is a ``ParseError`` with a span (``SpecError`` for files that are missing or import each
other in a cycle); Lark's own exceptions never escape. Layout follows Python: a newline ends a
statement, except inside brackets or after a binary operator.

>>> spec = parse("object Coin = {heads, tails}\\nkernel flip : I -> Coin = [1/2,\\n  1/2]\\n")
>>> [type(s).__name__ for s in spec.statements]
['ObjectDecl', 'KernelDecl']
>>> spec.statements[1].span.line, spec.statements[1].span.end_line
(2, 3)
"""
from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path

from lark import Lark
from lark.exceptions import UnexpectedInput

from catlm.errors import SpecError
from catlm.syntax import ast
from catlm.syntax.layout import Separators
from catlm.syntax.messages import binary, from_lark, not_utf8, too_large
from catlm.syntax.to_ast import to_ast

MAX_BYTES = 2**19  # 512 KiB; larger specs are refused before parsing (parse times: docs/language.md)


def parse(text: str, file: str = "<string>") -> ast.Spec:
    """Parse the text of one ``.cat`` file (imports are not followed; see ``load_files``)."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BYTES:
        raise too_large(file, size, MAX_BYTES)
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark is not part of the program
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as err:
        raise from_lark(err, file, _SEPARATORS.layout) from None
    return to_ast(tree, file)


def parse_file(path: str | os.PathLike) -> ast.Spec:
    """Parse one file, read as bytes: anything but UTF-8 text is a ``ParseError`` with its position."""
    name = os.fspath(path)
    return parse(_decode(_read(Path(path), name), name), name)


def load_files(path: str | os.PathLike) -> list[ast.Spec]:
    """A file and everything it imports, each once, imported files before their importers."""
    root = Path(path)
    loaded: dict[Path, ast.Spec] = {}
    _load(root, (), loaded, None, root.parent)
    return list(loaded.values())


# --- files and imports ------------------------------------------------------------------------

def _read(path: Path, name: str) -> bytes:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)  # never more than the limit, however large the file
    except OSError as err:
        raise SpecError(f"cannot read {name}: {err.strerror or err}") from None
    if len(data) > MAX_BYTES:
        raise too_large(name, path.stat().st_size, MAX_BYTES)
    return data


def _decode(data: bytes, name: str) -> str:
    nul = data.find(b"\0")
    try:
        text = (data if nul < 0 else data[:nul]).decode("utf-8")
    except UnicodeDecodeError as err:
        raise not_utf8(name, data, err) from None
    if nul >= 0:
        raise binary(name, data, nul)
    return text


def _load(path: Path, chain: tuple[Path, ...], loaded: dict, via: ast.Import | None, base: Path) -> None:
    """Depth-first: load what ``path`` imports, then record ``path`` itself (post-order)."""
    key = path.resolve()
    keys = tuple(p.resolve() for p in chain)
    if key in keys:
        cycle = chain[keys.index(key):] + (path,)
        raise SpecError("import cycle: " + " -> ".join(os.path.relpath(p, base) for p in cycle),
                        via.span, hint="remove one of these imports")
    if key in loaded:
        return
    if via is not None and not path.is_file():
        raise SpecError(f"cannot find the imported file \"{via.path}\" (looked for {path})", via.span,
                        hint="import paths are relative to the importing file")
    spec = parse_file(path)
    for statement in spec.statements:
        if isinstance(statement, ast.Import):
            target = Path(os.path.normpath(path.parent / statement.path))
            _load(target, chain + (path,), loaded, statement, base)
    loaded[key] = spec


_SEPARATORS = Separators()


@functools.cache
def _lark() -> Lark:
    return Lark(_grammar_text(), parser="lalr", lexer="basic", propagate_positions=True,
                maybe_placeholders=True, postlex=_SEPARATORS)


def _grammar_text() -> str:
    return resources.files("catlm.grammar").joinpath("catlm.lark").read_text(encoding="utf-8")
