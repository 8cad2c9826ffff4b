"""The subcommands of the ``catlm`` console script, one module each (see ``catlm.cli``)."""
from __future__ import annotations

import argparse


def add_parameter_options(parser: argparse.ArgumentParser) -> None:
    """The options every FinStoch command shares: where parameter kernels and params come from."""
    parser.add_argument("--params", metavar="P.npz", help="entries of the parameter kernels, by name")
    parser.add_argument("--subs", nargs="*", default=[], metavar="p=1/3", help="values of declared params")
    parser.add_argument("--seed", type=int, default=0, help="seed for parameter kernels not in --params")
    parser.add_argument("--budget", type=int, default=2 ** 31, metavar="BYTES", help="memory budget")
    parser.add_argument("--json", action="store_true", help="print JSON")
