"""Validation of states and kernels of FinStoch before any quantity is computed on them.

A state on a finite set is a vector of nonnegative entries summing to 1; a kernel X -> Y is an
array whose trailing axes are the codomain and whose every row is a state (PAPER §1.2). Float
arrays are checked to ``atol``; object arrays of ``fractions.Fraction`` are checked exactly, so
that exact quantities stay exact.

>>> import numpy as np
>>> as_kernel(np.array([[0.5, 0.5], [1.0, 0.0]])).shape
(2, 2)
>>> as_kernel(np.array([[0.5, 0.6]]), name="kernel 'k'")
Traceback (most recent call last):
...
catlm.errors.KernelError: row 0 of kernel 'k' sums to 1.1, not 1 (normalise each row over the codomain axes)
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from catlm.errors import KernelError

ATOL = 1e-9


def is_exact(array: np.ndarray) -> bool:
    """Whether ``array`` holds exact numbers (an object array of Fractions or ints)."""
    return np.asarray(array).dtype == object


def as_array(values) -> np.ndarray:
    """A float64 array, or an object array kept as is when its entries are exact."""
    array = np.asarray(values)
    if array.dtype == object:
        return np.vectorize(Fraction, otypes=[object])(array) if array.size else array
    return array.astype(np.float64)


def as_kernel(values, n_inputs: int | None = None, *, name: str = "kernel",
              atol: float = ATOL) -> np.ndarray:
    """The kernel as a 2-D (inputs, outputs) array, every row checked to be a state.

    ``n_inputs`` is how many leading axes are the domain (default ``ndim - 1``); a 1-D array is a
    state, i.e. a kernel out of the unit I, and becomes one row.
    """
    array = as_array(values)
    n_inputs = max(array.ndim - 1, 0) if n_inputs is None else n_inputs
    if not 0 <= n_inputs < max(array.ndim, 1):
        raise KernelError(f"{name} has {array.ndim} axes but n_inputs={n_inputs}; "
                          "the codomain needs at least one trailing axis")
    rows = array.reshape(int(np.prod(array.shape[:n_inputs], dtype=np.int64)), -1)
    _check_rows(rows, name, atol)
    return rows


def as_law(values, size: int | None = None, *, name: str = "law", atol: float = ATOL) -> np.ndarray:
    """A state on a finite set as a flat vector, checked; ``size`` is its expected length."""
    law = as_kernel(np.asarray(values).reshape(1, -1), 1, name=name, atol=atol)[0]
    if size is not None and law.shape[0] != size:
        raise KernelError(f"{name} has {law.shape[0]} entries but {size} are needed "
                          "(one per input of the kernel)")
    return law


def uniform_law(size: int, exact: bool = False) -> np.ndarray:
    """The uniform state on ``size`` points (Fractions when ``exact``)."""
    if exact:
        return np.array([Fraction(1, size)] * size, dtype=object)
    return np.full(size, 1.0 / size)


def _check_rows(rows: np.ndarray, name: str, atol: float) -> None:
    if rows.dtype != object and np.isnan(rows).any():
        row = int(np.argwhere(np.isnan(rows))[0, 0])
        raise KernelError(f"row {row} of {name} contains NaN",
                          hint="check the computation that produced it")
    negative = np.argwhere(rows < 0)
    if negative.size:
        row, col = (int(i) for i in negative[0])
        raise KernelError(f"row {row} of {name} has a negative entry {rows[row, col]} at column {col}",
                          hint="kernel and law entries are probabilities")
    sums = rows.sum(axis=1)
    bad = np.flatnonzero(sums != 1) if rows.dtype == object else np.flatnonzero(abs(sums - 1) > atol)
    if bad.size:
        row = int(bad[0])
        raise KernelError(f"row {row} of {name} sums to {_show(sums[row])}, not 1",
                          hint="normalise each row over the codomain axes")


def _show(value) -> str:
    return str(value) if isinstance(value, Fraction) else f"{float(value):.6g}"
