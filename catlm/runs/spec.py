"""The spec of a run: which kernel is the language model, and the ``.cat`` files a checkpoint keeps.

``language_model`` picks the kernel a command trains or reads when ``-k`` is not given: the one
named ``gen``, else the only kernel of type ``Tok* -> Tok``, else an error listing the candidates.
A checkpoint keeps its spec as ``spec.cat`` beside the weights, with the files it imports at the
same relative paths, so it rebuilds its model from itself alone; ``read_stored_spec`` parses it
and refuses any import that leaves the checkpoint folder before reading that file, so a
checkpoint can neither read nor echo a file of the machine that loads it.

>>> import catlm
>>> spec = catlm.parse('''object Tok = fin 3
... object E = real 4
... kernel emb : Tok* -> E* = embedding(dim=4)
... kernel bb : E* -> E = transformer(layers=1, heads=1, context=4)
... kernel head : E -> Tok = linear_softmax()
... kernel lm = emb >> bb >> head''')
>>> language_model(spec, None, "x.cat")[0]
'lm'
"""
from __future__ import annotations

import os
from pathlib import Path

from catlm.core.types import Finite, Seq
from catlm.errors import SpecError, UsageError

SPEC = "spec.cat"      # the spec's file name inside a checkpoint folder
DEFAULT = "gen"        # the kernel chosen first when -k is not given


def is_language_model(kernel) -> bool:
    """Whether ``kernel : Tok* -> Tok`` reads token sequences and gives the next token."""
    dom, cod = kernel.dom, kernel.cod
    return (len(dom) == 1 and len(cod) == 1 and isinstance(dom[0], Seq)
            and isinstance(dom[0].base, Finite) and isinstance(cod[0], Finite))


def language_model(spec, name: str | None, file: str):
    """``(name, kernel)``: ``name`` if given (it must be a language model), else the default."""
    candidates = [k for k, d in spec.kernels.items() if is_language_model(d)]
    if name is None:
        name = DEFAULT if DEFAULT in candidates else candidates[0] if len(candidates) == 1 else None
    if name is None:
        raise UsageError(f"{file} defines {len(candidates)} language models (Tok* -> Tok): "
                         f"{', '.join(candidates) or 'none'}",
                         hint=f"choose one with -k: {', '.join(candidates)}" if candidates else
                         "define one, e.g. `kernel gen = emb >> bb >> head`")
    if name not in spec.kernels:
        raise UsageError(f"{file} has no kernel '{name}'", hint=f"choose from {', '.join(spec.kernels)}")
    kernel = spec.kernels[name]
    if not is_language_model(kernel):
        raise SpecError(f"kernel '{name}' : {kernel.dom} -> {kernel.cod} is not a language model "
                        "Tok* -> ... -> Tok", kernel.span,
                        hint=f"choose one with -k: {', '.join(candidates)}" if candidates else
                        "define one, e.g. `kernel gen = emb >> bb >> head`")
    return name, kernel


def spec_files(path: str | os.PathLike) -> dict[str, str]:
    """The spec as ``spec.cat`` and each file it imports at its path relative to the spec."""
    from catlm.syntax import load_files
    path = Path(path)
    base = path.parent.resolve()
    files = {SPEC: path.read_text(encoding="utf-8")}
    for spec in load_files(path)[:-1]:  # the imports, before the spec itself
        where = Path(spec.file).resolve()
        if not where.is_relative_to(base):
            raise UsageError(f"{path} imports {spec.file}, outside its folder {base}",
                             hint="a trained spec keeps its imports with it: move them beside the spec")
        name = where.relative_to(base).as_posix()
        if name == SPEC:
            raise UsageError(f"{path} imports a file named {SPEC}, the name the checkpoint gives the spec",
                             hint="rename the imported file")
        files[name] = where.read_text(encoding="utf-8")
    return files


def read_stored_spec(folder: Path | None, text: str):
    """The presentation of a checkpoint's spec ``text``, its imports read from ``folder`` only
    (with no folder, a spec that imports anything is refused)."""
    from catlm.elaborate import parse
    file = folder / SPEC if folder is not None else Path(f"<checkpoint {SPEC}>")
    root = folder.resolve() if folder is not None else None
    _check_imports(text, file, root, set())
    return parse(text, file=str(file))


def _check_imports(text: str, file: Path, root: Path | None, seen: set[Path]) -> None:
    """Every file ``text`` imports, transitively, lies inside ``root``; checked before it is read."""
    from catlm.syntax import ast, parse
    for statement in parse(text, str(file)).statements:
        if not isinstance(statement, ast.Import):
            continue
        target = Path(os.path.normpath(file.parent / statement.path))
        if root is None or not target.resolve().is_relative_to(root):
            raise SpecError(f"the checkpoint's spec imports \"{statement.path}\", outside the checkpoint "
                            f"folder {root or ''}".rstrip(), statement.span,
                            hint="a checkpoint's spec may import only files stored in the checkpoint")
        if target.resolve() not in seen and target.is_file():
            seen.add(target.resolve())
            _check_imports(target.read_text(encoding="utf-8", errors="replace"), target, root, seen)
