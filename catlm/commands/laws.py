"""``catlm laws FILE``: decide every law and check of a spec, each with its scope; exit 1 if one
does not come out as stated.

Each row decides one equation and says for which interpretations: ``proved`` (the free Markov
category: all of them), ``holds for all parameter values`` (literal kernels, params symbolic),
a counter-model (a small FinStoch interpretation separating the sides), or ``on this instance``
(the seed or params file named). A ``!=`` law, and copy naturality at a stochastic kernel, are
expected to fail: such rows read ``fails as stated``; a row that does not come out as stated is in
capitals (``FAILS``, ``HOLDS``), and the summary counts the three kinds of row.
"""
from __future__ import annotations

import argparse
import json

from catlm.commands import add_parameter_options

HELP = "decide the laws and checks of a .cat file: proved, for all parameter values, or on an instance"


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
                     seed=args.seed, subs=parse_subs(args.subs, spec.params), budget=args.budget, params_file=args.params)
    print(json.dumps([r.as_json() for r in results], indent=1) if args.json else table(results))
    return 0 if all(r.ok for r in results) else 1


def table(results) -> str:
    """One row per result, then ``N decided: a hold, b fail as stated, c not as stated``."""
    width = max((len(r.name) for r in results), default=4)
    kinds = max((len(r.kind) for r in results), default=4)
    lines = [f"{r.name:<{width}}  {r.kind:<{kinds}}  {r.verdict}" + (f"  {r.detail}" if r.detail else "")
             for r in results]
    held = sum(r.ok and r.holds for r in results)
    stated = sum(r.ok and not r.holds for r in results)
    wrong = sum(not r.ok for r in results)
    return "\n".join(lines + [f"{len(results)} decided: {held} hold, {stated} fail as stated, "
                              f"{wrong} not as stated"])
