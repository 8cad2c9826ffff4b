"""``catlm eval FILE -k NAME``: the stochastic tensor of one kernel of a spec, in FinStoch.

Prints a table with one row per domain element and one column per codomain element (labelled by
the elements' names), or JSON ``{"kernel", "dom", "cod", "dom_elements", "cod_elements",
"array"}``: ``dom`` and ``cod`` are the axis sizes, ``*_elements`` the element names along each
axis, and exact rationals are strings such as ``"1/3"``. Printing is held to ``--budget`` as the
contraction is: an output whose text would not fit is refused before anything is computed.
"""
from __future__ import annotations

import argparse
import json
from math import prod

import numpy as np

from catlm.backends.labelled import exact_text
from catlm.commands import add_parameter_options

HELP = "evaluate a kernel of a .cat file as an exact or float stochastic tensor"

# peak bytes per entry of printing, measured with tracemalloc on json.dumps of the nested lists:
# ~73 for floats (a Python float, its list slot, ~20 characters), ~103 for Fractions (their text
# as an object array first); exact allows for longer sympy text. Text tables are no larger.
OUTPUT_BYTES_PER_ENTRY = {False: 96, True: 160}  # keyed by --exact


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
    from catlm.errors import UsageError

    spec = load(args.file)
    if args.kernel not in spec.kernels:
        raise UsageError(f"{args.file} has no kernel '{args.kernel}'",
                        hint=f"choose from {', '.join(spec.kernels)}")
    kernel = spec.kernels[args.kernel]
    check_output(kernel, args.budget, OUTPUT_BYTES_PER_ENTRY[args.exact])
    subs = parse_subs(args.subs, spec.params)
    symbolic = args.exact and not set(spec.params) <= set(subs)
    labelled = compile(kernel, backend="sympy" if symbolic else "numpy", exact=args.exact, subs=subs,
                       params=load_npz(args.params) if args.params else None, seed=args.seed,
                       budget=args.budget)
    print(json.dumps(as_json(labelled)) if args.json else labelled.text())
    return 0


def check_output(kernel, budget: int, per_entry: int) -> None:
    """Refuse, before computing anything, an output whose printing would exceed ``budget``."""
    from catlm.errors import BudgetError, format_bytes
    if not (kernel.dom.is_finite and kernel.cod.is_finite):
        return  # the backend refuses it with its own message
    entries = prod(kernel.dom.shape + kernel.cod.shape)
    need = entries * per_entry
    if need > budget:
        raise BudgetError(f"printing `{kernel.name}` : {kernel.dom} -> {kernel.cod} ({entries:,} "
                          f"entries) would need about {format_bytes(need)}, over the budget of "
                          f"{format_bytes(budget)}", kernel.span,
                          hint=f"raise it with --budget {need}, or evaluate a smaller kernel "
                               "(a marginal: compose with del on the objects you do not need)")


def as_json(labelled) -> dict:
    array = np.asarray(labelled)
    plain = np.vectorize(_plain, otypes=[object])(array) if array.dtype == object else array
    return {"kernel": labelled.name, "dom": list(labelled.dom.shape), "cod": list(labelled.cod.shape),
            "dom_elements": [list(e) for e in labelled.dom_elements],
            "cod_elements": [list(e) for e in labelled.cod_elements],
            "array": np.asarray(plain).tolist()}


def _plain(x):
    """A JSON value: floats stay numbers, exact values become their text (``"1/3"``)."""
    return float(x) if isinstance(x, (float, np.floating)) else exact_text(x)
