"""The one check that an array is a Markov kernel of FinStoch (the paper's Def. 2.2).

A kernel X -> Y is an array whose rows, one per element of X, are states of Y: nonnegative
entries summing to 1. A state is a kernel out of the unit I, one row. Float rows are checked to an
absolute tolerance; exact rows (object arrays of ``Fraction``, ints or sympy numbers) exactly, so
exact quantities stay exact. Every stage that takes a kernel from outside (the FinStoch backend's
generators, the exact decoders, the analysis) asks ``defect`` or ``check_rows``; only the framing
of the message (which kernel, which row) is theirs.

>>> from fractions import Fraction as F
>>> defect(np.array([[0.5, 0.5], [0.7, 0.2]]))
(1, 'sums to 0.9, not 1')
>>> defect(np.array([[F(1, 2), F(1, 2)]], dtype=object)) is None
True
>>> check_rows(np.array([[1.5, -0.5]]), "kernel 'k'")
Traceback (most recent call last):
...
catlm.errors.KernelError: kernel 'k' is not a Markov kernel: row 0 has the negative entry -0.5 at column 1 (each row is a distribution over the codomain; fix or normalise the entries)
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable

import numpy as np

from catlm.errors import KernelError

ATOL = 1e-9  # float rows must sum to 1 within this; exact rows sum to exactly 1
HINT = "each row is a distribution over the codomain; fix or normalise the entries"


def is_exact(array) -> bool:
    """Whether ``array`` holds exact numbers (an object array of Fractions, ints or sympy)."""
    return np.asarray(array).dtype == object


def as_array(values, name: str) -> np.ndarray:
    """An object array stays exact (ints become Fractions); any other numbers become float64."""
    array = np.asarray(values)
    if array.dtype == object:
        return np.vectorize(_exact_entry(name), otypes=[object])(array) if array.size else array
    if array.dtype.kind not in "biuf":
        raise KernelError(f"{name} has entries of type {array.dtype}; a kernel needs real numbers",
                          hint="give a float, int or Fraction array")
    return array.astype(np.float64)


def _exact_entry(name: str) -> Callable[[object], Fraction]:
    def convert(value):
        if isinstance(value, float):
            raise KernelError(f"{name} mixes floats into an exact (Fraction) array",
                              hint="use Fraction entries throughout, or a float array")
        return Fraction(value)
    return convert


def defect(rows: np.ndarray, atol: float = ATOL,
           is_zero: Callable[[object], bool] | None = None) -> tuple[int, str] | None:
    """The first row of a 2-D array that is not a state, and what is wrong with it; or None.

    ``is_zero`` decides an exact sum's distance to 1 (sympy's ring cancels first); floats compare
    to ``atol``. A symbolic entry whose sign cannot be decided passes the sign check.
    """
    return (_exact_defect if rows.dtype == object else _float_defect)(rows, atol, is_zero)


def _float_defect(rows: np.ndarray, atol: float, is_zero) -> tuple[int, str] | None:
    # two reductions over the array, no full-size temporaries: a NaN or infinite entry makes its
    # row's sum non-finite (or its minimum -inf), so the row-wise checks below find every bad row
    with np.errstate(invalid="ignore", over="ignore"):
        sums, lowest = rows.sum(axis=1), rows.min(axis=1, initial=0.0)
        bad = np.flatnonzero(~np.isfinite(sums) | (lowest < 0) | (np.abs(sums - 1) > atol))
    if not bad.size:
        return None
    r = int(bad[0])
    row = rows[r]
    if not np.isfinite(row).all():
        return r, f"has the entry {row[~np.isfinite(row)][0]}"
    if (row < 0).any():
        c = int(np.flatnonzero(row < 0)[0])
        return r, f"has the negative entry {row[c]:.6g} at column {c}"
    with np.errstate(over="ignore"):
        return r, f"sums to {row.sum():.6g}, not 1"


def _exact_defect(rows: np.ndarray, atol: float, is_zero) -> tuple[int, str] | None:
    is_zero = is_zero or (lambda x: x == 0)
    for r, row in enumerate(rows):
        negative = [(c, x) for c, x in enumerate(row) if _negative(x)]
        if negative:
            return r, f"has the negative entry {negative[0][1]} at column {negative[0][0]}"
        total = sum(row, Fraction(0))
        if not is_zero(total - 1):
            return r, f"sums to {total}, not 1"
    return None


def _negative(x) -> bool:
    return bool(x.is_negative) if hasattr(x, "is_negative") else x < 0


def check_rows(rows: np.ndarray, name: str, atol: float = ATOL,
               row_label: Callable[[int], str] = "row {}".format) -> np.ndarray:
    """``rows`` (2-D) unchanged if every row is a state; else ``KernelError`` naming the row."""
    bad = defect(rows, atol)
    if bad is not None:
        raise KernelError(f"{name} is not a Markov kernel: {row_label(bad[0])} {bad[1]}", hint=HINT)
    return rows
