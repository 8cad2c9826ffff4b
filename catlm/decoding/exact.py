"""One speculative draft-verify step as a Markov kernel in FinStoch (Leviathan et al. 2023, §2.3).

Draft ``x ~ q``, accept it with probability ``min(1, p(x)/q(x))``, otherwise sample from the
residual ``r = norm(max(0, p - q))``. The step's output kernel is exactly ``p``:

    P(out = x) = min(p, q)(x) + (1 - α) r(x) = p(x),   α = Σ_x min(p(x), q(x)) = 1 - TV(p, q)

Distributions lie along the last axis, so ``p`` may be one row or a whole kernel ``P[s, x]``.
Fraction object arrays are computed exactly; floats are clamped (see ``scalars``).

>>> from fractions import Fraction as F
>>> P = [[F(1, 2), F(1, 2), F(0)], [F(1, 3), F(1, 3), F(1, 3)]]
>>> Q = [[F(1), F(0), F(0)], [F(0), F(1, 2), F(1, 2)]]
>>> [str(a) for a in acceptance_rate(P, Q)]
['1/2', '2/3']
>>> bool((speculative_kernel(P, Q) == as_laws(P, "P")).all())
True
"""
from __future__ import annotations

import numpy as np

from catlm.decoding.scalars import as_laws, is_exact, is_zero, one, same_tokens, zeros

__all__ = ["overlap", "acceptance_rate", "total_variation", "accept_probability", "residual",
           "speculative_kernel", "as_laws"]


def _pair(p, q) -> tuple[np.ndarray, np.ndarray]:
    p, q = as_laws(p, "p"), as_laws(q, "q")
    same_tokens(p, q)
    return p, q


def overlap(p, q) -> np.ndarray:
    """``A = min(p, q)`` elementwise: the mass "q drafts x and x is accepted"."""
    p, q = _pair(p, q)
    return np.minimum(p, q)


def acceptance_rate(p, q):
    """``α = Σ_x min(p(x), q(x)) = 1 - TV(p, q)`` along the last axis (a scalar per row)."""
    return overlap(p, q).sum(axis=-1)


def total_variation(p, q):
    """``TV(p, q) = ½ Σ_x |p(x) - q(x)|`` along the last axis."""
    p, q = _pair(p, q)
    return abs(p - q).sum(axis=-1) / 2


def accept_probability(p, q) -> np.ndarray:
    """``a(x) = min(1, p(x)/q(x))`` where ``q(x) > 0``, and 0 where ``q(x) = 0`` (never drafted)."""
    p, q = _pair(p, q)
    ratio = zeros(np.broadcast_shapes(p.shape, q.shape), p)
    np.divide(p, q, out=ratio, where=(q != 0))
    return np.minimum(ratio, one(p))


def residual(p, q) -> np.ndarray:
    """``r = norm(max(0, p - q))`` along the last axis.

    A row whose residual mass is 0 (``α = 1``, i.e. ``p = q``; for floats, mass at most
    ``RESIDUAL_TOL``) has no residual; it is never sampled from, and ``p`` itself is returned
    for it so that the result is always a distribution.
    """
    p, q = _pair(p, q)
    surplus = np.maximum(p - q, 0 * p)  # clamped at 0: float rounding must not go negative
    mass = surplus.sum(axis=-1, keepdims=True)
    empty = np.vectorize(lambda m: is_zero(m, is_exact(p)), otypes=[bool])(mass)
    safe = np.where(empty, one(p), mass)
    return np.where(empty, np.broadcast_to(p, surplus.shape), surplus / safe)


def speculative_kernel(P, Q) -> np.ndarray:
    """The output kernel of one draft-verify step, by enumerating the procedure.

    For each context (row) and each draft token ``x`` with ``Q[x] > 0``: with probability
    ``Q[x]·a(x)`` emit ``x``; with probability ``Q[x]·(1 - a(x))`` emit a token from the residual.
    Equals ``P`` (exactly for Fractions). Shapes: ``P, Q (..., V) -> (..., V)``.
    """
    P, Q = _pair(P, Q)
    a, r = accept_probability(P, Q), residual(P, Q)
    out = zeros(np.broadcast_shapes(P.shape, Q.shape), P)
    for x in range(P.shape[-1]):
        drafted = Q[..., x:x + 1]  # (..., 1): probability that the draft is x
        accepted = a[..., x:x + 1]
        out[..., x:x + 1] += drafted * accepted
        out += drafted * (1 - accepted) * r
    return out
