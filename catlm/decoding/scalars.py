"""Scalars of FinStoch for the exact decoders: ``Fraction`` object arrays or float arrays.

Every function in ``catlm.decoding``'s exact part runs the same code on both: an array of dtype
``object`` holding ``fractions.Fraction`` entries is computed with exactly (equality is ``==``);
any other numeric array is converted to ``float64`` and compared with ``ATOL``. A row of a kernel
is a distribution along the **last** axis.

>>> from fractions import Fraction as F
>>> p = as_laws([F(1, 2), F(1, 2)], "p")
>>> is_exact(p), as_laws([[1, 0], [0.5, 0.5]], "P").dtype
(True, dtype('float64'))
"""
from __future__ import annotations

from fractions import Fraction
from typing import Union

import numpy as np

from catlm.errors import KernelError, WiringError

Scalar = Union[Fraction, float]

ATOL = 1e-9  # float rows must sum to 1 within this; exact rows must sum to exactly 1
RESIDUAL_TOL = 1e-12  # float residual mass at or below this counts as 0 (p = q up to rounding)


def is_exact(a: np.ndarray) -> bool:
    """Exact arithmetic is used for object arrays (Fractions, ints)."""
    return np.asarray(a).dtype == object


def as_array(x, name: str) -> np.ndarray:
    """An object array stays exact (ints become Fractions); anything else becomes float64."""
    a = np.asarray(x)
    if a.dtype == object:
        return np.vectorize(_exact_entry(name), otypes=[object])(a) if a.size else a
    if not np.issubdtype(a.dtype, np.number):
        raise KernelError(f"{name} has entries of type {a.dtype}; give numbers or Fractions")
    return a.astype(np.float64)


def _exact_entry(name: str):
    def convert(v):
        if isinstance(v, float):
            raise KernelError(f"{name} mixes floats into an exact (Fraction) array",
                              hint="use Fraction entries throughout, or a float array")
        return Fraction(v)
    return convert


def as_laws(x, name: str) -> np.ndarray:
    """Check that ``x`` holds distributions along its last axis; raise KernelError otherwise."""
    a = as_array(x, name)
    if a.ndim == 0 or a.shape[-1] == 0:
        raise KernelError(f"{name} must have a nonempty last (token) axis; got shape {a.shape}")
    if not is_exact(a) and not np.all(np.isfinite(a)):
        raise KernelError(f"{name} has a NaN or infinite entry")
    if np.any(a < 0):
        raise KernelError(f"{name} has a negative entry at {_first(a < 0)}")
    _check_sums(a, name)
    return a


def _check_sums(a: np.ndarray, name: str) -> None:
    sums = a.sum(axis=-1)
    bad = (sums != 1) if is_exact(a) else (np.abs(sums - 1) > ATOL * a.shape[-1])
    if np.any(bad):
        row = _first(bad)
        where = row[0] if len(row) == 1 else row
        raise KernelError(f"{name} row {where} sums to {np.asarray(sums)[row]}, not 1",
                          hint="normalise each row (last axis) to a probability distribution")


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(np.asarray(mask))[0])


def same_tokens(p: np.ndarray, q: np.ndarray, p_name: str = "p", q_name: str = "q") -> None:
    """Target and draft must live on the same vocabulary (and broadcast over rows)."""
    if p.shape[-1] != q.shape[-1]:
        raise WiringError(f"{p_name} has {p.shape[-1]} tokens but {q_name} has {q.shape[-1]}",
                          hint="target and draft must share one vocabulary")
    if is_exact(p) != is_exact(q):
        raise KernelError(f"{p_name} and {q_name} mix exact (Fraction) and float arrays",
                          hint="convert both to Fractions or both to floats")


def zeros(shape, like: np.ndarray) -> np.ndarray:
    """A zero array of the same arithmetic (exact or float) as ``like``."""
    if is_exact(like):
        return np.full(shape, Fraction(0), dtype=object)
    return np.zeros(shape, dtype=np.float64)


def one(like: np.ndarray) -> Scalar:
    return Fraction(1) if is_exact(like) else 1.0


def point_mass(token: int, size: int, like: np.ndarray) -> np.ndarray:
    """The Dirac distribution δ_token on ``size`` tokens."""
    delta = zeros(size, like)
    delta[token] = one(like)
    return delta


def argmax(p: np.ndarray) -> int:
    """The greedy token; ties go to the smallest token id (numpy's and torch's convention)."""
    return int(np.argmax(p))


def is_zero(mass: Scalar, exact: bool) -> bool:
    """Residual mass that counts as 0: exactly 0, or at most RESIDUAL_TOL for floats."""
    return mass == 0 if exact else mass <= RESIDUAL_TOL


def as_row(x, name: str) -> np.ndarray:
    """One distribution, shape ``(V,)``."""
    a = as_laws(x, name)
    if a.ndim != 1:
        raise WiringError(f"{name} must be one distribution of shape (V,); got shape {a.shape}")
    return a
