"""``catlm laws FILE``: decide every law and check of a spec in FinStoch; exit 1 if one fails.

Exact by default (Fractions; sympy when params have no ``--subs`` value); ``--float`` compares
within 1e-9. For a failure the table shows the first differing entry by domain and codomain
elements. ``copy naturality`` rows of ``check markov`` are expected to fail on the stochastic
kernels; they count as failures only when the equation and the determinism of the kernel
disagree.
"""
from __future__ import annotations

import argparse
import json

from catlm.commands import add_parameter_options

HELP = "decide the laws and checks of a .cat file (exactly by default)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the .cat file")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--exact", dest="exact", action="store_true", default=True, help="exact (default)")
    mode.add_argument("--float", dest="exact", action="store_false", help="float64 within atol 1e-9")
    add_parameter_options(parser)


def run(args: argparse.Namespace) -> int:
    from catlm.backends.params import load_npz
    from catlm.elaborate import load
    from catlm.elaborate.numbers import parse_subs
    from catlm.laws import decide

    spec = load(args.file)
    results = decide(spec, exact=args.exact, params=load_npz(args.params) if args.params else None,
                     seed=args.seed, subs=parse_subs(args.subs, spec.params), budget=args.budget)
    print(json.dumps([r.as_json() for r in results], indent=1) if args.json else table(results))
    return 0 if all(r.ok for r in results) else 1


def table(results) -> str:
    width = max((len(r.name) for r in results), default=4)
    kinds = max((len(r.kind) for r in results), default=4)
    lines = [f"{r.name:<{width}}  {r.kind:<{kinds}}  {_verdict(r)}" + (f"  {r.detail}" if r.detail else "")
             for r in results]
    failed = sum(not r.ok for r in results)
    return "\n".join(lines + [f"{len(results)} decided, {failed} failed"])


def _verdict(r) -> str:
    word = "holds" if r.holds else "fails"
    return word if r.ok else word.upper()
