"""States and kernels of FinStoch in the shapes the analysis reads them, checked by ``catlm.stochastic``.

A state on a finite set is a vector of nonnegative entries summing to 1; a kernel X -> Y is an
array whose trailing axes are the codomain and whose every row is a state (the paper's Def. 2.2). Float
arrays are checked to ``atol``; object arrays of ``fractions.Fraction`` are checked exactly, so
that exact quantities stay exact.

>>> import numpy as np
>>> as_kernel(np.array([[0.5, 0.5], [1.0, 0.0]])).shape
(2, 2)
>>> as_kernel(np.array([[0.5, 0.6]]), name="kernel 'k'")
Traceback (most recent call last):
...
catlm.errors.KernelError: kernel 'k' is not a Markov kernel: row 0 sums to 1.1, not 1 (each row is a distribution over the codomain; fix or normalise the entries)
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from catlm.errors import KernelError
from catlm.stochastic import ATOL, as_array, check_rows, is_exact

__all__ = ["ATOL", "is_exact", "as_kernel", "as_law", "uniform_law"]


def as_kernel(values, n_inputs: int | None = None, *, name: str = "kernel",
              atol: float = ATOL) -> np.ndarray:
    """The kernel as a 2-D (inputs, outputs) array, every row checked to be a state.

    ``n_inputs`` is how many leading axes are the domain (default ``ndim - 1``); a 1-D array is a
    state, i.e. a kernel out of the unit I, and becomes one row.
    """
    array = as_array(values, name)
    n_inputs = max(array.ndim - 1, 0) if n_inputs is None else n_inputs
    if not 0 <= n_inputs < max(array.ndim, 1):
        raise KernelError(f"{name} has {array.ndim} axes but n_inputs={n_inputs}; "
                          "the codomain needs at least one trailing axis")
    rows = array.reshape(int(np.prod(array.shape[:n_inputs], dtype=np.int64)), -1)
    return check_rows(rows, name, atol)


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
