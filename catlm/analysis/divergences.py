"""Statistical divergences on states of a finite set: the enrichment of FinStoch (§2.2 of Zhang,
arXiv 2507.19247, after Perrone 2023).

Each divergence D(p ‖ q) compares two states given as arrays of the same shape (a joint state on
a product is compared cell by cell). Conventions: natural logarithms (nats); 0·log 0 = 0; a
divergence that needs q > 0 wherever p > 0 returns ``inf`` when it is not. Squared Hellinger is
normalised as H²(p, q) = 1 − Σ √(p q) = ½ Σ (√p − √q)², which lies in [0, 1] and makes the
constant ½ of Thm 7.1 correct (the paper's Def. 7.3 uses twice this).
Total variation and χ² are exact on object arrays of ``fractions.Fraction``.

>>> import numpy as np
>>> p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
>>> round(divergence(p, q, "tv"), 6), round(divergence(p, q, "chi2"), 6)
(0.25, 0.333333)
>>> divergence(p, q, "bregman")
Traceback (most recent call last):
...
catlm.errors.SpecError: unknown divergence 'bregman'; choose from chi2, hellinger, js, kl, renyi, tv
"""
from __future__ import annotations

import math
from fractions import Fraction
from collections.abc import Callable

import numpy as np
from scipy.special import logsumexp

from catlm.errors import SpecError


def kl(p: np.ndarray, q: np.ndarray) -> float:
    """Kullback–Leibler Σ p log(p/q); ``inf`` if p charges a point q does not."""
    support = p > 0
    if np.any(q[support] == 0):
        return math.inf
    ps, qs = p[support].astype(float), q[support].astype(float)
    return float(np.sum(ps * (np.log(ps) - np.log(qs))))


def tv(p: np.ndarray, q: np.ndarray):
    """Total variation ½ Σ |p − q| (exact on Fractions)."""
    return _plain(np.sum(abs(p - q)) / 2)


def chi2(p: np.ndarray, q: np.ndarray):
    """Pearson χ² = Σ p²/q − 1 over supp q; ``inf`` if p charges a point q does not (exact on Fractions)."""
    if np.any(p[q == 0] > 0):
        return math.inf
    positive = q > 0
    return _plain(np.sum(p[positive] * p[positive] / q[positive]) - 1)


def _plain(value):
    """A Fraction stays exact; a numpy float becomes a Python float."""
    return value if isinstance(value, Fraction) else float(value)


def renyi(p: np.ndarray, q: np.ndarray, alpha: float) -> float:
    """Rényi divergence of order α ∈ [0, ∞]: 1/(α−1) log Σ p^α q^(1−α); α = 1 is KL and α = ∞
    the max-divergence log max_{p>0} p/q (both the limits of the formula)."""
    if alpha == 1:
        return kl(p, q)
    support = p > 0
    if alpha > 1 and np.any(q[support] == 0):
        return math.inf
    p = p.astype(float)
    weights = p / p.sum()
    both = support & (q > 0)
    outside = float(weights[support & ~both].sum())
    ratios = np.log(p[both]) - np.log(q[both].astype(float))
    return float(renyi_mean(weights[both], ratios, alpha, outside))


def renyi_mean(weights: np.ndarray, log_ratios: np.ndarray, alpha: float, outside=0.0):
    """1/(α−1) log Σ w e^{(α−1) r} along the last axis: the Rényi divergence written with the
    weights w = p on supp p ∩ supp q and the log-ratios r = log p/q there, ``outside`` the mass of
    p off supp q (α < 1 only). Evaluated so that it is continuous in α everywhere:

    * α = ∞: max r over w > 0 (the max-divergence);
    * |α − 1| · max |r| ≤ 1: log1p(Σ w expm1((α−1) r) − outside) / (α−1), which tends to the KL
      divergence Σ w r as α → 1 without the cancellation of log(1 + tiny) / tiny (each
      expm1 is exact to rounding relative to itself, so α = 1 ± 1e-12 keeps every digit);
    * otherwise (large α) a log-sum-exp, which cannot overflow.
    Entries with w = 0 take no part. Works row-wise on arrays (…, n).
    """
    weights, log_ratios = np.asarray(weights, dtype=float), np.asarray(log_ratios, dtype=float)
    present = weights > 0
    r = np.where(present, log_ratios, 0.0)
    if alpha == math.inf:
        return np.max(np.where(present, r, -math.inf), axis=-1)
    t = alpha - 1.0
    if t == 0:
        return np.sum(weights * r, axis=-1)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        near = np.log1p(np.sum(weights * np.expm1(t * r), axis=-1) - outside) / t
        far = logsumexp(np.where(present, t * r + np.log(np.where(present, weights, 1.0)), -math.inf),
                        axis=-1) / t
    spread = np.abs(t) * np.max(np.abs(r), axis=-1, initial=0.0)
    return np.where(spread <= 1.0, near, far)


def hellinger(p: np.ndarray, q: np.ndarray) -> float:
    """Squared Hellinger distance 1 − Σ √(p q) = ½ Σ (√p − √q)² (the 1 − BC normalisation)."""
    return float(max(1.0 - bhattacharyya(p, q), 0.0))


def js(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon ½ KL(p ‖ m) + ½ KL(q ‖ m) with m = (p + q)/2; at most log 2."""
    p, q = p.astype(float), q.astype(float)
    m = (p + q) / 2
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def bhattacharyya(p: np.ndarray, q: np.ndarray) -> float:
    """The Bhattacharyya coefficient BC(p, q) = Σ √(p q) ∈ [0, 1]."""
    return float(np.sum(np.sqrt(p.astype(float) * q.astype(float))))


# name -> (function of (p, q, alpha), whether it is logarithmic, whether it needs alpha)
DIVERGENCES: dict[str, tuple[Callable, bool, bool]] = {
    "kl": (lambda p, q, alpha: kl(p, q), True, False),
    "tv": (lambda p, q, alpha: tv(p, q), False, False),
    "renyi": (renyi, True, True),
    "chi2": (lambda p, q, alpha: chi2(p, q), False, False),
    "hellinger": (lambda p, q, alpha: hellinger(p, q), False, False),
    "js": (lambda p, q, alpha: js(p, q), True, False),
}


def lookup(name: str, alpha: float | None = None, base: float | None = None) -> Callable:
    """The divergence ``name`` as a function of (p, q), with ``alpha`` and ``base`` bound."""
    if name not in DIVERGENCES:
        raise SpecError(f"unknown divergence {name!r}; choose from {', '.join(sorted(DIVERGENCES))}")
    function, logarithmic, needs_alpha = DIVERGENCES[name]
    _check_options(name, alpha, base, logarithmic, needs_alpha)
    scale = 1.0 if base is None else math.log(base)
    if scale == 1.0:
        return lambda p, q: function(p, q, alpha)
    return lambda p, q: function(p, q, alpha) / scale


def _check_options(name, alpha, base, logarithmic, needs_alpha) -> None:
    if needs_alpha and (alpha is None or not alpha >= 0):
        raise SpecError(f"divergence {name!r} needs an order alpha in [0, inf], e.g. alpha=2, got {alpha}")
    if not needs_alpha and alpha is not None:
        raise SpecError(f"divergence {name!r} takes no alpha; alpha is the order of 'renyi'")
    if base is not None and not logarithmic:
        raise SpecError(f"divergence {name!r} is not logarithmic, so base={base} has no meaning",
                        hint="base applies to kl, renyi and js")
    if base is not None and (base <= 0 or base == 1):
        raise SpecError(f"base must be positive and not 1, got {base}")


def divergence(p, q, name: str = "kl", *, alpha: float | None = None,
               base: float | None = None):
    """D_name(p ‖ q) for two states of the same shape (flattened: a joint is compared cell-wise)."""
    p, q = np.asarray(p).ravel(), np.asarray(q).ravel()
    if p.shape != q.shape:
        raise SpecError(f"states of different sizes {p.size} and {q.size} cannot be compared")
    return lookup(name, alpha, base)(p, q)
