"""Categorical entropy, categorical mutual information and the NLL identity, exact on FinStoch.

Sources: Zhang, arXiv 2507.19247, Def. 2.5 (after Perrone 2023), Prop. 4.2 [A18], Thm 5.1; the
formulas are in §2.2, §4 and §5 of the paper. For a kernel k : X -> Y and an input x,

    H_D(k)(x) = D_{Y⊗Y}( Δ_Y ∘ k(x) ‖ (k ⊗ k) ∘ Δ_X (x) ) = D( diag p ‖ p pᵀ ),  p = k(x, ·).

``method="definition"`` builds both |Y|×|Y| states and applies the divergence; ``"closed"`` uses
the closed forms (Shannon for KL, Gini–Simpson for TV, Rényi of order 2−α for Rényi-α,
|supp p| − 1 for χ², 1 − Σ p^{3/2} for squared Hellinger, and an O(|Y|) form for Jensen–Shannon).
All logarithms are natural unless ``base`` is given.

>>> import numpy as np
>>> from fractions import Fraction as F
>>> k = np.array([[F(1, 2), F(1, 2)], [F(1), F(0)]], dtype=object)
>>> categorical_entropy(k, "tv")                   # mean of Gini–Simpson 1/2 and 0
Fraction(1, 4)
>>> round(categorical_entropy(np.array([0.5, 0.5]), "kl", base=2), 12)
1.0
>>> nll = nll_decomposition([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], [[0.5, 0.5], [0.5, 0.5]])
>>> abs(nll.cross_entropy - nll.kl - nll.entropy) < 1e-15
True
"""
from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from catlm.analysis.checks import as_kernel, as_law, is_exact, uniform_law
from catlm.analysis.divergences import kl, lookup, renyi_mean
from catlm.errors import KernelError, SpecError


def shannon(p, base: float | None = None) -> float:
    """Shannon entropy −Σ p log p of a state (any shape), with 0·log 0 = 0."""
    p = np.asarray(p, dtype=float).ravel()
    p = p[p > 0]
    return float(-np.sum(p * np.log(p))) / _log(base)


def _log(base: float | None) -> float:
    return 1.0 if base is None else math.log(base)


def _floats(p: np.ndarray) -> np.ndarray:
    return np.asarray(p, dtype=float)


def _shannon_rows(p: np.ndarray, alpha) -> np.ndarray:
    p = _floats(p)
    return -np.sum(p * np.log(np.where(p > 0, p, 1.0)), axis=-1)


def _renyi_rows(p: np.ndarray, alpha: float) -> np.ndarray:
    # D_α(Δp ‖ p ⊗ p): weight p_y at the diagonal cell, log-ratio log(p_y / p_y²) = −log p_y;
    # = log Σ p^(2−α) / (α − 1), −log min p at α = ∞ and Shannon at α = 1
    p = _floats(p)
    return renyi_mean(p, -np.log(np.where(p > 0, p, 1.0)), alpha)


def _js_rows(p: np.ndarray, alpha) -> np.ndarray:
    p = _floats(p)
    positive = p > 0
    safe = np.where(positive, p, 1.0)
    collision = np.sum(p * p, axis=-1)
    diagonal_term = np.sum(np.where(positive, p * np.log(2 / (1 + safe)), 0.0), axis=-1)
    product_term = np.sum(np.where(positive, p * p * np.log(2 * safe / (1 + safe)), 0.0), axis=-1) \
        + (1 - collision) * math.log(2)      # cells off the diagonal: KL(p⊗p ‖ m) there is log 2
    return 0.5 * diagonal_term + 0.5 * product_term


# Ψ_D(p) = D(Δp ‖ p ⊗ p) in closed form: THE table of catlm's closed forms (the exact analyses and
# the torch estimators both read it). Each maps states (..., |Y|) and alpha to (...), before any
# change of base; TV and χ² stay exact on Fractions.
CLOSED_FORMS: dict[str, Callable] = {
    "kl": _shannon_rows,                                                   # Shannon entropy
    "tv": lambda p, alpha: 1 - np.sum(p * p, axis=-1),                      # Gini–Simpson
    "renyi": _renyi_rows,                                                  # Rényi of order 2 − α
    "chi2": lambda p, alpha: np.count_nonzero(p > 0, axis=-1) - 1,          # |supp p| − 1
    "hellinger": lambda p, alpha: 1 - np.sum(_floats(p) ** 1.5, axis=-1),   # 1 − Σ p^{3/2}
    "js": _js_rows,
}


def closed_form(divergence: str, p, alpha: float | None = None):
    """Ψ_D of every row of ``p`` (..., |Y|) from ``CLOSED_FORMS``; a plain number for one state."""
    value = CLOSED_FORMS[divergence](p, alpha)
    if np.ndim(value) == 0:
        return value if isinstance(value, Fraction) else (int(value) if divergence == "chi2" else float(value))
    return value


def pointwise_entropy(p, divergence: str = "kl", *, alpha: float | None = None,
                      base: float | None = None, method: str = "closed"):
    """Ψ_D(p) = D(Σ_y p(y) δ_(y,y) ‖ p ⊗ p) for one state p on Y."""
    p = as_law(p, name="state")
    return _pointwise(divergence, alpha, base, method)(p)


def _pointwise(divergence: str, alpha, base, method: str) -> Callable:
    compare = lookup(divergence, alpha, base)  # validates the name and the options
    if method == "definition":
        return lambda p: compare(np.diag(p), np.outer(p, p))
    if method != "closed":
        raise SpecError(f"unknown method {method!r}; choose from closed, definition")
    scale = _log(base)
    if scale == 1.0:
        return lambda p: closed_form(divergence, p, alpha)
    return lambda p: closed_form(divergence, p, alpha) / scale


def _reduce_mean(values: np.ndarray, law: np.ndarray):
    return np.sum(law * values)


def _reduce_sup(values: np.ndarray, law: np.ndarray):
    return max(values[law > 0])


REDUCTIONS: dict[str, Callable] = {"mean": _reduce_mean, "sup": _reduce_sup}


def categorical_entropy(kernel, divergence: str = "kl", input_law=None, reduce: str = "mean", *,
                        alpha: float | None = None, base: float | None = None,
                        method: str = "closed", n_inputs: int | None = None):
    """H_D(k): pointwise (an array over the inputs), averaged over ``input_law`` (H̄_D, Eq. 5.3;
    uniform if None) or the supremum over inputs of positive law.

    ``kernel`` is laid out as (inputs..., outputs...); ``n_inputs`` leading axes are the domain
    (default ``ndim - 1``; a 1-D array is a state). A product codomain is flattened.
    """
    array = np.asarray(kernel)
    n_inputs = max(array.ndim - 1, 0) if n_inputs is None else n_inputs
    rows = as_kernel(array, n_inputs, name="kernel")
    psi = _pointwise(divergence, alpha, base, method)
    values = np.array([psi(row) for row in rows], dtype=object if is_exact(rows) else float)
    if reduce == "pointwise":
        return values.reshape(array.shape[:n_inputs])
    if reduce not in REDUCTIONS:
        raise SpecError(f"unknown reduce {reduce!r}; choose from mean, pointwise, sup")
    law = uniform_law(len(rows), is_exact(rows)) if input_law is None else \
        as_law(input_law, len(rows), name="input law")
    value = REDUCTIONS[reduce](values, law)
    return value if is_exact(np.asarray([value])) else float(value)


def _as_joint(joint, n_left: int) -> np.ndarray:
    array = np.asarray(joint)
    if not 1 <= n_left < array.ndim:
        raise SpecError(f"a joint state with {array.ndim} axes cannot split after axis {n_left}",
                        hint="pass an array with one axis per factor and 1 <= n_left < ndim")
    law = as_law(array, name="joint state").reshape(array.shape)
    return law.reshape(int(np.prod(array.shape[:n_left])), -1)


def mutual_information(joint, divergence: str = "kl", n_left: int = 1, *,
                       alpha: float | None = None, base: float | None = None):
    """I_D(p) = D(p ‖ p_X ⊗ p_Y) for a joint state p on X ⊗ Y (Def. 2.5.2); X is the first
    ``n_left`` axes, Y the rest."""
    p = _as_joint(joint, n_left)
    product = np.outer(p.sum(axis=1), p.sum(axis=0))
    return lookup(divergence, alpha, base)(p.ravel(), product.ravel())


def conditional_entropy(joint, n_given: int = 1, *, base: float | None = None) -> float:
    """H(Y | X) for a joint state on X ⊗ Y, X being the first ``n_given`` axes."""
    p = _as_joint(joint, n_given)
    return shannon(p, base) - shannon(p.sum(axis=1), base)


class NLL(NamedTuple):
    """Thm 5.1: cross_entropy = kl + entropy, each averaged over the context law."""

    cross_entropy: float
    kl: float
    entropy: float


def nll_decomposition(context_law, data_kernel, model_kernel, *, base: float | None = None) -> NLL:
    """(L_CE, L_KL, H(W | C)_data) of a model kernel Q against a data kernel P (Eqs. 5.1–5.2)."""
    data = as_kernel(data_kernel, name="data kernel")
    model = as_kernel(model_kernel, name="model kernel")
    if data.shape != model.shape:
        raise KernelError(f"data kernel {data.shape} and model kernel {model.shape} differ in shape")
    law = as_law(context_law, len(data), name="context law").astype(float)
    rows = np.flatnonzero(law > 0)
    data, model = data[rows].astype(float), model[rows].astype(float)
    entropy = float(law[rows] @ [shannon(row) for row in data])
    divergence = float(law[rows] @ [kl(p, q) for p, q in zip(data, model)])
    cross = entropy + divergence if math.isinf(divergence) else _cross_entropy(law[rows], data, model)
    return NLL(cross / _log(base), divergence / _log(base), entropy / _log(base))


def _cross_entropy(law: np.ndarray, data: np.ndarray, model: np.ndarray) -> float:
    support = data > 0
    log_model = np.log(np.where(support, model, 1.0))
    return float(-law @ np.sum(np.where(support, data * log_model, 0.0), axis=1))


class EntropyGap(NamedTuple):
    """Thm 5.2 as a function: H̄_KL of the model and of the data kernel under µ, their gap, and
    ``bound`` ≥ |gap|, which tends to 0 with ``kl`` = L_KL (see ``entropy_gap``)."""

    model_entropy: float
    data_entropy: float
    gap: float
    bound: float
    kl: float


def entropy_gap(context_law, data_kernel, model_kernel) -> EntropyGap:
    """How far the model's average KL categorical entropy (Shannon, Prop. 4.2) is from the data's,
    with a bound in terms of L_KL alone. Per context, Pinsker gives TV ≤ √(KL/2), and the
    Fannes–Audenaert inequality |H(p) − H(q)| ≤ T log(|V| − 1) + h_2(T) for T = TV ≤ 1 − 1/|V|;
    averaging over µ, the gap vanishes as L_KL → 0: the conclusion of Thm 5.2 (5.5) for a model
    that reaches the data kernel, quantified along the way."""
    data = as_kernel(data_kernel, name="data kernel").astype(float)
    model = as_kernel(model_kernel, name="model kernel").astype(float)
    if data.shape != model.shape:
        raise KernelError(f"data kernel {data.shape} and model kernel {model.shape} differ in shape")
    law = as_law(context_law, len(data), name="context law").astype(float)
    V = data.shape[1]
    kls = _kl_rows(data, model)
    tv = np.minimum(np.sqrt(kls / 2), 1 - 1 / V)                      # Pinsker, capped where FA holds
    binary = -(tv * np.log(np.where(tv > 0, tv, 1)) + (1 - tv) * np.log(np.where(tv < 1, 1 - tv, 1)))
    per_context = tv * math.log(max(V - 1, 1)) + binary
    H_model, H_data = _shannon_rows(model, None), _shannon_rows(data, None)
    return EntropyGap(float(law @ H_model), float(law @ H_data), float(law @ (H_model - H_data)),
                      float(law @ per_context), float(law @ kls))


def _kl_rows(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """KL(P_x ‖ Q_x) per row as Σ q φ(p/q − 1) with φ(r) = (1 + r) log(1 + r) − r ≥ 0, each term
    accurate (a series for |r| < 1e-4) so that nearly equal rows give a tiny nonnegative KL rather
    than the rounding noise of Σ p log p/q; ``inf`` where p charges a point q does not."""
    if np.any((P > 0) & (Q == 0)):
        return np.array([kl(p, q) for p, q in zip(P, Q)])
    r = np.where(Q > 0, P / np.where(Q > 0, Q, 1.0) - 1, 0.0)
    series = r * r / 2 - r ** 3 / 6 + r ** 4 / 12
    # (1 + r) log(1 + r) → 0 at r = −1 (p = 0 < q); −1 + 1e-300 rounds to −1, so mask it instead
    xlogx = np.where(r > -1, (1 + r) * np.log1p(np.where(r > -1, r, 0.0)), 0.0)
    phi = np.where(np.abs(r) < 1e-4, series, xlogx - r)
    return np.sum(Q * phi, axis=1)
