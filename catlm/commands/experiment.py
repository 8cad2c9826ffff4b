"""``catlm experiment NAME``: one of the experiments behind the paper's claims 13–17.

Runs ``catlm.experiments.NAME`` and writes ``OUT/NAME/report.md`` with its PNGs and
``report.json``; ``--quick`` is a small run of seconds, ``--synthetic`` leaves the corpus out.
"""
from __future__ import annotations

import argparse

from catlm.experiments import EXPERIMENTS

HELP = "run an experiment of the paper's claims 13-17 and write its report folder"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sorted(EXPERIMENTS), metavar="NAME",
                        help=f"one of: {', '.join(sorted(EXPERIMENTS))}")
    parser.add_argument("--quick", action="store_true", help="a small run of a few seconds")
    parser.add_argument("--synthetic", action="store_true", help="synthetic sources only (no corpus)")
    parser.add_argument("--corpus", default="shakespeare", help='a UTF-8 text file, or "shakespeare"')
    parser.add_argument("--out", default="reports/experiments", help="the report goes to OUT/NAME")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument("--json", action="store_true", help="print report.json instead of its path")


def run(args: argparse.Namespace) -> int:
    from catlm.experiments import run_experiment
    from catlm.experiments.settings import Settings

    settings = Settings(args.quick, args.synthetic, args.corpus, args.out, args.seed)
    folder = run_experiment(args.name, settings)
    report = folder / "report.md"
    print((folder / "report.json").read_text(encoding="utf-8") if args.json
          else f"report written to {report}")
    return 0
