"""The subcommands of the ``catlm`` console script, one module each (see ``catlm.cli``).

The argument types below refuse nonsense where it is typed, so ``--max-new -3`` or
``--temperature nan`` is a usage error (exit 1) before any model is loaded.

>>> natural("3"), temperature("0.8"), probability("1")
(3, 0.8, 1.0)
>>> temperature("nan")
Traceback (most recent call last):
  ...
argparse.ArgumentTypeError: nan is not a finite number >= 0 (0 is greedy)
"""
from __future__ import annotations

import argparse
import math


def natural(text: str) -> int:
    """An integer >= 0 (a count that may be zero)."""
    n = _integer(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give an integer >= 0")
    return n


def positive(text: str) -> int:
    """An integer >= 1 (a size or a number of steps)."""
    n = _integer(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text} must be positive: give an integer >= 1")
    return n


def temperature(text: str) -> float:
    """A finite real >= 0; 0 means greedy decoding."""
    x = _real(text)
    if not (math.isfinite(x) and x >= 0):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0 (0 is greedy)")
    return x


def probability(text: str) -> float:
    """A mass in (0, 1] (top-p)."""
    x = _real(text)
    if not 0 < x <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return x


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _real(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def add_parameter_options(parser: argparse.ArgumentParser) -> None:
    """The options every FinStoch command shares: where parameter kernels and params come from."""
    parser.add_argument("--params", metavar="P.npz", help="entries of the parameter kernels, by name")
    parser.add_argument("--subs", nargs="*", default=[], metavar="p=1/3", help="values of declared params")
    parser.add_argument("--seed", type=int, default=0, help="seed for parameter kernels not in --params")
    parser.add_argument("--budget", type=positive, default=2 ** 31, metavar="BYTES", help="memory budget")
    parser.add_argument("--json", action="store_true", help="print JSON")
