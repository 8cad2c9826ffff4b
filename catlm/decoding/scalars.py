"""Scalars of FinStoch for the exact decoders: ``Fraction`` object arrays or float arrays.

Every function in ``catlm.decoding``'s exact part runs the same code on both: an array of dtype
``object`` holding ``fractions.Fraction`` entries is computed with exactly (equality is ``==``);
any other numeric array is converted to ``float64`` and compared with ``ATOL`` per token. A row of
a kernel is a distribution along the **last** axis, checked by ``catlm.stochastic``.

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
from catlm.stochastic import ATOL, as_array, check_rows, is_exact

__all__ = ["Scalar", "ATOL", "RESIDUAL_TOL", "is_exact", "as_laws", "as_row", "same_tokens", "zeros",
           "one", "point_mass", "argmax", "is_zero"]

Scalar = Union[Fraction, float]

RESIDUAL_TOL = 1e-12  # float residual mass at or below this counts as 0 (p = q up to rounding)


def as_laws(x, name: str) -> np.ndarray:
    """Check that ``x`` holds distributions along its last axis; raise KernelError otherwise."""
    a = as_array(x, name)
    if a.ndim == 0 or a.shape[-1] == 0:
        raise KernelError(f"{name} must have a nonempty last (token) axis; got shape {a.shape}")
    check_rows(a.reshape(-1, a.shape[-1]), name, ATOL * a.shape[-1], _row_label(a.shape[:-1]))
    return a


def _row_label(lead: tuple[int, ...]):
    """``row 3`` for a matrix, ``row (1, 2)`` for more leading axes, ``the law`` for a vector."""
    if not lead:
        return lambda r: "the law"
    if len(lead) == 1:
        return "row {}".format
    return lambda r: f"row {tuple(int(i) for i in np.unravel_index(r, lead))}"


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
