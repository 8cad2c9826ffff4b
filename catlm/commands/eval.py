"""``catlm eval FILE -k NAME``: the stochastic tensor of one kernel of a spec, in FinStoch.

Prints a table with one row per domain element and one column per codomain element (labelled by
the elements' names), or JSON ``{"kernel", "dom", "cod", "array"}`` where exact rationals are
strings such as ``"1/3"``.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from catlm.commands import add_parameter_options

HELP = "evaluate a kernel of a .cat file as an exact or float stochastic tensor"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the .cat file")
    parser.add_argument("-k", "--kernel", required=True, metavar="NAME", help="the kernel to evaluate")
    parser.add_argument("--exact", action="store_true", help="exact rationals (Fractions) or sympy when params remain")
    add_parameter_options(parser)


def run(args: argparse.Namespace) -> int:
    from catlm.backends.functor import compile
    from catlm.backends.params import load_npz
    from catlm.elaborate import load
    from catlm.elaborate.numbers import parse_subs
    from catlm.errors import SpecError

    spec = load(args.file)
    if args.kernel not in spec.kernels:
        raise SpecError(f"{args.file} has no kernel '{args.kernel}'",
                        hint=f"choose from {', '.join(spec.kernels)}")
    kernel = spec.kernels[args.kernel]
    subs = parse_subs(args.subs, spec.params)
    symbolic = args.exact and not set(spec.params) <= set(subs)
    array = compile(kernel, backend="sympy" if symbolic else "numpy", exact=args.exact, subs=subs,
                    params=load_npz(args.params) if args.params else None, seed=args.seed,
                    budget=args.budget)
    print(json.dumps(as_json(args.kernel, kernel, array)) if args.json else table(kernel, array))
    return 0


def show(x) -> str:
    return f"{x:.6g}" if isinstance(x, (float, np.floating)) else str(x)


def as_json(name: str, kernel, array: np.ndarray) -> dict:
    plain = np.vectorize(lambda x: float(x) if isinstance(x, (float, np.floating)) else show(x),
                         otypes=[object])(array) if array.dtype == object else array
    return {"kernel": name, "dom": list(kernel.dom.shape), "cod": list(kernel.cod.shape),
            "array": np.asarray(plain).tolist()}


def table(kernel, array: np.ndarray) -> str:
    """Rows: domain elements; columns: codomain elements; a state has the one row ``I``."""
    rows = _labels(kernel.dom) or ["I"]
    cols = _labels(kernel.cod) or ["I"]
    cells = [[show(x) for x in row] for row in array.reshape(len(rows), len(cols))]
    head = f"{kernel.name or kernel.diagram.expr} : {kernel.dom} -> {kernel.cod}"
    grid = [[""] + cols] + [[r] + c for r, c in zip(rows, cells)]
    widths = [max(len(line[j]) for line in grid) for j in range(len(cols) + 1)]
    return "\n".join([head] + ["  ".join(s.rjust(w) for s, w in zip(line, widths)) for line in grid])


def _labels(ty) -> list[str]:
    if len(ty) == 0:
        return []
    grids = np.indices(ty.shape).reshape(len(ty), -1).T
    return [",".join(ob.elements[i] for ob, i in zip(ty, index)) for index in grids]
