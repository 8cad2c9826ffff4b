"""``catlm check FILE``: parse, elaborate and type-check a spec; one line per kernel."""
from __future__ import annotations

import argparse

from catlm.core.signatures import Call, bind, signature

HELP = "check a .cat file: parse it, infer and type-check every diagram"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the .cat file")


def run(args: argparse.Namespace) -> int:
    from catlm.elaborate import load

    spec = load(args.file)
    width = max((len(name) for name in spec.kernels), default=0)
    for name, kernel in spec.kernels.items():
        print(f"{name:<{width}} : {kernel.dom} -> {kernel.cod}{_kind(kernel)}")
    print(f"{args.file}: ok: {len(spec.kernels)} kernels, {len(spec.laws)} laws, "
          f"{len(spec.checks)} checks")
    return 0


def _kind(kernel) -> str:
    """How a kernel is given: a literal, an implementation (with every argument, defaults
    included, as the registry will build it), a parameter, or a composite."""
    gens = kernel.diagram.generators
    if len(gens) == 1 and getattr(gens[0], "name", None) == kernel.name:
        box = gens[0]
        body = type(box.body).__name__.lower() if box.body is not None else "parameter"
        if body == "implementation":
            return f"   = {_call(box)}   ({signature(box.body.name).kind})"
        return f"   ({'deterministic ' if box.deterministic else ''}{body})"
    return f"   = {kernel.diagram.expr}"


def _call(box) -> str:
    """``embedding(dim=256, positions=learned, context=1024, dropout=0.0)``."""
    bound = bind(Call(box.name, box.body.name, box.body.args, box.dom, box.cod))
    shown = ", ".join(f"{name}={'none' if value is None else _word(value)}" for name, value in bound.items())
    return f"{box.body.name}({shown})"


def _word(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
