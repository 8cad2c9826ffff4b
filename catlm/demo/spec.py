"""The demo's language model as ``.cat`` text: a bundled spec, its token object resized to a corpus.

``examples/char.cat`` declares ``object Tok = fin 65``, the characters of tinyshakespeare; another
corpus has another alphabet. ``resized`` rewrites the syntax tree (``catlm.syntax``: parse, replace
frozen nodes, format; never text surgery) so that ``Tok`` has the corpus's size, and, for quick
runs, shrinks the real spaces and the implementations' ``dim``, ``layers`` and ``heads``. The
result is ordinary ``.cat`` text: the demo writes it into its report and compiles it.

>>> text = "object Tok = fin 65\\nobject H = real 128\\nkernel bb : Tok* -> H = transformer(layers=4, dim=128)\\n"
>>> print(resized(text, 84, (("dim", 64), ("layers", 2))), end="")
object Tok = fin 84
object H = real 64
kernel bb : Tok* -> H = transformer(layers=2, dim=64)
"""
from __future__ import annotations

import importlib.resources
from dataclasses import replace
from pathlib import Path

from catlm.syntax import ast, format, parse

TOKEN_OBJECT = "Tok"   # the finite object of tokens, as every bundled LM spec names it


def bundled_text(name: str) -> str:
    """The text of a bundled example spec (package data ``catlm.examples``)."""
    return (importlib.resources.files("catlm.examples") / name).read_text(encoding="utf-8")


def bundled_path(name: str) -> Path:
    """The file of a bundled example (a real path in an installed or editable package)."""
    return Path(str(importlib.resources.files("catlm.examples") / name))


def resized(text: str, vocab: int, shrink: tuple[tuple[str, int], ...] = ()) -> str:
    """``text`` with ``Tok = fin vocab`` and each ``(arg, value)`` of ``shrink`` applied."""
    sizes = dict(shrink)
    spec = parse(text)
    statements = tuple(_statement(s, vocab, sizes) for s in spec.statements)
    return format(replace(spec, statements=statements))


def _statement(statement, vocab: int, sizes: dict):
    if isinstance(statement, ast.ObjectDecl):
        return replace(statement, value=_object(statement, vocab, sizes))
    if isinstance(statement, ast.KernelDecl) and isinstance(statement.body, ast.Implementation):
        body = statement.body
        args = tuple(_arg(a, sizes) for a in body.args)
        return replace(statement, body=replace(body, args=args))
    return statement


def _object(statement: ast.ObjectDecl, vocab: int, sizes: dict):
    value = statement.value
    if statement.name == TOKEN_OBJECT and isinstance(value, ast.FinRange):
        return replace(value, size=vocab)
    if isinstance(value, ast.RealSpace) and "dim" in sizes:
        return replace(value, dim=sizes["dim"])
    return value


def _arg(arg: ast.Arg, sizes: dict) -> ast.Arg:
    if arg.name in sizes:
        return replace(arg, value=ast.Number(str(sizes[arg.name])))
    return arg
