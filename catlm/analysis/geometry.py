"""The pullback Fisher–Rao metric of a linear-softmax head, its spectrum and its bounds.

Source: Zhang, arXiv 2507.19247, §6 (Eqs. 6.1–6.5, Thm 6.1, Prop. 6.3) and §7 (Thm 7.1,
Cor. 7.2). For g_head(h) = softmax(W h + b)
with W of shape (V, d) and p = g_head(h),

    g*(h) = Wᵀ (diag p − p pᵀ) W = E_{w∼p}[ score scoreᵀ ],  score = W_w − Wᵀ p       (d, d)

The bias does not enter g*. ``metric_matvec`` applies g* without forming any V×V matrix (O(V d)
per product), and ``top_eigenpairs`` runs Lanczos (scipy ``eigsh``) on it. The anisotropy summaries
are [OPS] (the paper gives no formula): numerical rank, condition number on the nonzero part,
effective rank exp(entropy of λ/Σλ) and the top share λ_1 / tr g*.

>>> import numpy as np
>>> W = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
>>> G = pullback_metric(W, np.zeros(2))                 # p uniform on 3 tokens
>>> np.allclose(G, [[2/9, -1/9], [-1/9, 2/9]])
True
>>> metric_rank(W, np.full(3, 1/3)), predicted_rank(W)
(2, 2)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import scipy.sparse.linalg as spla
from scipy.special import log_softmax, softmax

from catlm.analysis.checks import as_kernel, as_law
from catlm.analysis.divergences import bhattacharyya, kl
from catlm.errors import KernelError, SpecError


def head_probs(W: np.ndarray, h: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """softmax(W h + b) for one h (d,) or a batch (N, d) → (V,) or (N, V)."""
    logits = np.asarray(h, dtype=float) @ np.asarray(W, dtype=float).T
    return softmax(logits if bias is None else logits + bias, axis=-1)


def pullback_metric(W: np.ndarray, h: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """g*(h) = Wᵀ(diag p − p pᵀ)W; h of shape (d,) gives (d, d), a batch (N, d) gives (N, d, d)."""
    W = np.asarray(W, dtype=float)
    p = head_probs(W, h, bias)
    mean = p @ W                                     # (N, d) or (d,): Wᵀ p
    second = np.einsum("...v,va,vb->...ab", p, W, W)  # Wᵀ diag(p) W
    return second - mean[..., :, None] * mean[..., None, :]


def metric_matvec(W: np.ndarray, p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """g* v = Wᵀ(p ⊙ (W v) − p (pᵀ W v)) for v of shape (d,) or (d, k), never forming V×V."""
    z = W @ v                                        # (V,) or (V, k)
    weights = p[:, None] if z.ndim == 2 else p
    return W.T @ (weights * (z - p @ z))             # p ⊙ (z − pᵀz): centred under p


def top_eigenpairs(W: np.ndarray, p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues (descending) of g* and eigenvectors (d, k), by Lanczos."""
    W, p = np.asarray(W, dtype=float), as_law(p, np.shape(W)[0], name="head state")
    d = W.shape[1]
    if not 1 <= k <= d:
        raise SpecError(f"k={k} eigenpairs requested of a {d}×{d} metric; choose 1 <= k <= {d}")
    if k >= d - 1:  # Lanczos needs k < d; a d×d matrix is cheap to form then
        values, vectors = np.linalg.eigh(_metric_from_probs(W, p))
    else:
        # ARPACK asks for one product g* v at a time: only matvec is ever called
        operator = spla.LinearOperator((d, d), matvec=lambda v: metric_matvec(W, p, v), dtype=float)
        values, vectors = spla.eigsh(operator, k=k, which="LA")
    order = np.argsort(values)[::-1][:k]
    return values[order], vectors[:, order]


def _metric_from_probs(W: np.ndarray, p: np.ndarray) -> np.ndarray:
    mean = W.T @ p
    return (W.T * p) @ W - np.outer(mean, mean)


def metric_rank(W: np.ndarray, p: np.ndarray, tol: float | None = None) -> int:
    """The numerical rank of g* at the head state p (Prop. 6.3: at most min(d, V − 1))."""
    return int(np.linalg.matrix_rank(_metric_from_probs(np.asarray(W, float), np.asarray(p)), tol))


def predicted_rank(W: np.ndarray) -> int:
    """rank W − [1 ∈ col W]: the rank of g* at any p of full support (Prop. 6.3, in
    simplex coordinates)."""
    W = np.asarray(W, dtype=float)
    rank = int(np.linalg.matrix_rank(W))
    with_ones = int(np.linalg.matrix_rank(np.column_stack([W, np.ones(len(W))])))
    return rank - 1 if with_ones == rank else rank


@dataclass(frozen=True, slots=True)
class Anisotropy:
    """[OPS] scalar summaries of one spectrum λ_1 ≥ … ≥ λ_d ≥ 0 of a metric."""

    numerical_rank: int
    condition_number: float
    effective_rank: float
    top_share: float


def anisotropy(metric_or_eigenvalues: np.ndarray, rtol: float = 1e-10) -> Anisotropy:
    """Summaries of a PSD matrix (d, d) or of its eigenvalues (d,); λ ≤ rtol·λ_1 counts as 0."""
    values = np.asarray(metric_or_eigenvalues, dtype=float)
    values = np.linalg.eigvalsh(values) if values.ndim == 2 else values
    values = np.sort(np.clip(values, 0.0, None))[::-1]
    if values[0] <= 0:
        return Anisotropy(0, math.nan, 0.0, math.nan)
    nonzero = values[values > rtol * values[0]]
    share = nonzero / nonzero.sum()
    effective = math.exp(-float(np.sum(share * np.log(share))))
    return Anisotropy(len(nonzero), float(nonzero[0] / nonzero[-1]), effective, float(share[0]))


def mean_anisotropy(metrics: np.ndarray, law=None) -> dict[str, float]:
    """µ-averages of the summaries over a batch of metrics (N, d, d) (uniform if no law)."""
    summaries = [anisotropy(G) for G in metrics]
    law = np.full(len(summaries), 1 / len(summaries)) if law is None else \
        as_law(law, len(summaries), name="context law")
    return {f.name: float(law @ [getattr(s, f.name) for s in summaries]) for f in fields(Anisotropy)}


def averaged_metric(W: np.ndarray, hs: np.ndarray, law=None, bias=None) -> np.ndarray:
    """Ḡ = E_x[g*(h_x)] over representations hs (N, d) with weights ``law`` (uniform if None)."""
    metrics = pullback_metric(W, np.atleast_2d(hs), bias)
    law = np.full(len(metrics), 1 / len(metrics)) if law is None else \
        as_law(law, len(metrics), name="context law")
    return np.einsum("n,nab->ab", law, metrics)


def averaged_spectrum(W: np.ndarray, hs: np.ndarray, law=None, bias=None) -> np.ndarray:
    """The eigenvalues of Ḡ, descending."""
    return np.linalg.eigvalsh(averaged_metric(W, hs, law, bias))[::-1]


def local_kl_ratio(W, h, v, eps: float, bias=None, direction: str = "forward") -> float:
    """Thm 6.1: KL(p_{h+εv} ‖ p_h) / (½ ε² vᵀ g*(h) v) ("reverse": KL(p_h ‖ p_{h+εv})); → 1."""
    W, h, v = (np.asarray(a, dtype=float) for a in (W, h, v))
    bias = np.zeros(len(W)) if bias is None else np.asarray(bias, dtype=float)
    moved, here = log_softmax(W @ (h + eps * v) + bias), log_softmax(W @ h + bias)
    pair = {"forward": (moved, here), "reverse": (here, moved)}
    if direction not in pair:
        raise SpecError(f"unknown direction {direction!r}; choose from forward, reverse")
    a, b = pair[direction]
    divergence = float(np.sum(np.exp(a) * (a - b)))
    quadratic = float(v @ metric_matvec(W, np.exp(here), v))
    return divergence / (0.5 * eps ** 2 * quadratic)


# f''(1) of each smooth divergence as catlm normalises it: D(p_{h+εv} ‖ p_h) = ½ f''(1) ε² vᵀg*v + O(ε³)
# (KL: f = t log t; χ²: (t−1)²; squared Hellinger ½(√t − 1)²; JS; Rényi-α: α, as the KL of order α)
CURVATURES = {"kl": lambda alpha: 1.0, "chi2": lambda alpha: 2.0, "hellinger": lambda alpha: 0.25,
              "js": lambda alpha: 0.25, "renyi": lambda alpha: float(alpha)}


def local_divergence_ratio(W, h, v, eps: float, divergence: str = "kl", *, alpha: float | None = None,
                           bias=None) -> float:
    """Thm 6.1 for f-divergences: D(p_{h+εv} ‖ p_h) / (½ f''(1) ε² vᵀ g*(h) v) → 1 as ε → 0 (the
    paper says "a similar relationship holds" for f smooth near 1 with f''(1) > 0; TV is not smooth
    and has no such expansion)."""
    from catlm.analysis.divergences import divergence as compare
    if divergence not in CURVATURES:
        raise SpecError(f"divergence {divergence!r} has no local quadratic form; choose from "
                        f"{', '.join(sorted(CURVATURES))}")
    W, h, v = (np.asarray(a, dtype=float) for a in (W, h, v))
    here, moved = head_probs(W, h, bias), head_probs(W, h + eps * v, bias)
    value = compare(moved, here, divergence, alpha=alpha)
    quadratic = float(v @ metric_matvec(W, here, v))
    return value / (0.5 * CURVATURES[divergence](alpha) * eps ** 2 * quadratic)


def _psd_root(M: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(M)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _kronecker(hs, metrics, law, mean):
    return np.einsum("n,na,nb,ncd->acbd", law, hs, hs, metrics).reshape(hs.shape[1] ** 2, -1)


def _sandwich(hs, metrics, law, mean):
    roots = np.array([_psd_root(G) for G in metrics])
    centred = np.einsum("nab,nb->na", roots, hs - mean)
    return np.einsum("n,na,nb->ab", law, centred, centred)


def _averaged(hs, metrics, law, mean):
    root = _psd_root(np.einsum("n,nab->ab", law, metrics))
    centred = hs - mean
    return root @ np.einsum("n,na,nb->ab", law, centred, centred) @ root


# Prop. 7.6 [v1] writes Σ_{H,g*} = E[h hᵀ ⊗ g*(h)] without defining ⊗: the literal
# Kronecker reading (d² × d²) and the two [OPS] d × d readings
HEAD_WEIGHTED = {"kronecker": _kronecker, "sandwich": _sandwich, "averaged": _averaged}


def head_weighted_covariance(W, hs, law=None, bias=None, form: str = "sandwich") -> np.ndarray:
    """The head-weighted covariance of Prop. 7.6 [v1] over representations hs (N, d) with weights
    ``law`` (uniform if None):

    * "kronecker": E[h hᵀ ⊗ g*(h)], the notation read literally as a Kronecker product (d², d²);
    * "sandwich":  E[g*(h)^½ (h − h̄)(h − h̄)ᵀ g*(h)^½]  [OPS];
    * "averaged":  Ḡ^½ Σ_H Ḡ^½ with Ḡ = E g*(h) and Σ_H = Cov h  [OPS].
    """
    if form not in HEAD_WEIGHTED:
        raise SpecError(f"unknown form {form!r}; choose from {', '.join(sorted(HEAD_WEIGHTED))}")
    hs = np.atleast_2d(np.asarray(hs, dtype=float))
    law = np.full(len(hs), 1 / len(hs)) if law is None else as_law(law, len(hs), name="context law").astype(float)
    metrics = pullback_metric(W, hs, bias)
    return HEAD_WEIGHTED[form](hs, metrics, law, law @ hs)


def fisher_rao_distance(p, q) -> float:
    """d_FR(p, q) = 2 arccos Σ √(p q), the geodesic distance on the simplex (metric Σ dp²/p)."""
    p, q = as_law(p, name="first state"), as_law(q, np.size(p), name="second state")
    return 2.0 * math.acos(min(1.0, bhattacharyya(p, q)))


@dataclass(frozen=True, slots=True)
class PathBound:
    """Cor. 7.2: ``distance`` = d_FR(p_x, p_x') ≤ ``length`` = ∫₀¹ √(Δᵀ g*(h_t) Δ) dt."""

    distance: float
    length: float


def path_bound(W, h_from, h_to, bias=None, points: int = 64) -> PathBound:
    """Both sides of the Cor. 7.2 path bound on the segment h_t = (1−t) h_from + t h_to,
    the integral by Gauss–Legendre quadrature with ``points`` nodes."""
    W, h_from, h_to = (np.asarray(a, dtype=float) for a in (W, h_from, h_to))
    nodes, weights = np.polynomial.legendre.leggauss(points)
    ts = (nodes + 1) / 2
    delta = h_to - h_from
    probs = head_probs(W, h_from + ts[:, None] * delta, bias)        # (T, V)
    speeds = [math.sqrt(max(delta @ metric_matvec(W, p, delta), 0.0)) for p in probs]
    length = float(np.dot(weights, speeds) / 2)
    distance = fisher_rao_distance(head_probs(W, h_from, bias), head_probs(W, h_to, bias))
    return PathBound(distance, length)


@dataclass(frozen=True, slots=True)
class ApproximationBounds:
    """Thm 7.1, three sides: E[TV²] ≤ ½ L_KL (Pinsker), E[H²] ≤ ½ L_KL with H² = 1 − BC, and
    ``pairwise_excess`` = max over pairs of |d(Q_x,Q_x') − d(P_x,P_x')| − (ε_x + ε_x') ≤ 0 for
    d = TV and d = Hellinger (√(1 − BC))."""

    kl: float
    tv_squared: float
    hellinger_squared: float
    pairwise_excess_tv: float
    pairwise_excess_hellinger: float


def approximation_bounds(context_law, data_kernel, model_kernel) -> ApproximationBounds:
    """The quantities of Thm 7.1 for data kernel P and model kernel Q under the context law µ."""
    P = as_kernel(data_kernel, name="data kernel").astype(float)
    Q = as_kernel(model_kernel, name="model kernel").astype(float)
    if P.shape != Q.shape:
        raise KernelError(f"data kernel {P.shape} and model kernel {Q.shape} differ in shape")
    law = as_law(context_law, len(P), name="context law").astype(float)
    tv_distance = lambda A, B: 0.5 * np.abs(A[:, None, :] - B[None, :, :]).sum(-1)   # (n, n)
    hellinger_distance = lambda A, B: np.sqrt(np.clip(1 - np.sqrt(A) @ np.sqrt(B).T, 0, None))
    tv_eps, hel_eps = np.diag(tv_distance(P, Q)), np.diag(hellinger_distance(P, Q))
    return ApproximationBounds(
        kl=float(law @ [kl(p, q) for p, q in zip(P, Q)]),
        tv_squared=float(law @ tv_eps ** 2),
        hellinger_squared=float(law @ hel_eps ** 2),
        pairwise_excess_tv=_excess(tv_distance, P, Q, tv_eps, law),
        pairwise_excess_hellinger=_excess(hellinger_distance, P, Q, hel_eps, law))


def _excess(distance, P, Q, eps, law) -> float:
    support = law > 0
    gap = np.abs(distance(Q, Q) - distance(P, P)) - (eps[:, None] + eps[None, :])
    return float(gap[np.ix_(support, support)].max())
