"""[OPS] The quadratic upper-bound surrogate of the NLL and its CCA solution.

Source: the v5 abstract of Zhang, arXiv 2507.19247 states the result for "a calibrated quadratic
upper-bound surrogate" after whitening; the paper's formulas are not available, so everything here
is catlm's own operationalization ([OPS]: marked so wherever it appears).
For a linear-softmax head with output features U (V, d) and bias b, A(z) = log Σ_w e^{z_w} obeys

    A(U h + b) ≤ A(U h₀ + b) + ⟨Uᵀ p_{h₀}, h − h₀⟩ + (β/2) ‖h − h₀‖²

whenever β ≥ sup_h λ_max(Cov_{p_h}[u_W]); β = B² = max_w ‖u_w‖² always works. With whitening, the
linear readout problem becomes CCA between context features φ(X) and token features ψ(W):
max tr(Aᵀ Σ_φψ B) with Aᵀ Σ_φφ A = I, Bᵀ Σ_ψψ B = I, solved as a generalized eigenproblem.

>>> import numpy as np
>>> U = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
>>> h = np.array([0.3, -0.2])
>>> bool(log_partition(U, h) <= quadratic_surrogate(U, h, np.zeros(2)))
True
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.special import logsumexp, softmax

from catlm.analysis.checks import as_kernel, as_law
from catlm.errors import SpecError


def log_partition(U, h, bias=None) -> float:
    """A(U h + b) = log Σ_w exp(⟨u_w, h⟩ + b_w)."""
    logits = np.asarray(U, dtype=float) @ np.asarray(h, dtype=float)
    return float(logsumexp(logits if bias is None else logits + bias))


BETAS = {
    "b2": lambda U: float(np.max(np.sum(U * U, axis=1))),
    "bohning": lambda U: 0.5 * float(np.linalg.eigvalsh(
        U.T @ (np.eye(len(U)) - np.full((len(U), len(U)), 1 / len(U))) @ U)[-1]),
}


def surrogate_beta(U, kind: str = "b2") -> float:
    """A curvature β valid for every h: "b2" = max ‖u_w‖², "bohning" = ½ λ_max(Uᵀ(I − 11ᵀ/V)U)."""
    if kind not in BETAS:
        raise SpecError(f"unknown beta {kind!r}; choose from {', '.join(sorted(BETAS))}")
    return BETAS[kind](np.asarray(U, dtype=float))


def quadratic_surrogate(U, h, h0, beta: float | None = None, bias=None) -> float:
    """The upper bound of A(U h + b) built at h₀ with curvature β (default "b2")."""
    U, h, h0 = (np.asarray(a, dtype=float) for a in (U, h, h0))
    beta = surrogate_beta(U) if beta is None else beta
    logits = U @ h0 if bias is None else U @ h0 + bias
    step = h - h0
    return float(logsumexp(logits) + (U.T @ softmax(logits)) @ step + 0.5 * beta * step @ step)


@dataclass(frozen=True)
class CCA:
    """Canonical correlations ρ (descending) and directions A (p, k), B (q, k)."""

    correlations: np.ndarray
    A: np.ndarray
    B: np.ndarray


def cca(cov_phi, cov_phi_psi, cov_psi, k: int) -> CCA:
    """The top-k solution of max tr(Aᵀ Σ_φψ B) s.t. Aᵀ Σ_φφ A = I, Bᵀ Σ_ψψ B = I, from the
    generalized eigenproblem [0 Σ_φψ; Σ_ψφ 0] v = ρ [Σ_φφ 0; 0 Σ_ψψ] v."""
    S_ff, S_fp, S_pp = (np.asarray(a, dtype=float) for a in (cov_phi, cov_phi_psi, cov_psi))
    p, q = S_fp.shape
    if not 1 <= k <= min(p, q):
        raise SpecError(f"k={k} canonical pairs requested; choose 1 <= k <= {min(p, q)}")
    left = np.block([[np.zeros((p, p)), S_fp], [S_fp.T, np.zeros((q, q))]])
    right = scipy.linalg.block_diag(S_ff, S_pp)
    values, vectors = scipy.linalg.eigh(left, right)
    top = np.argsort(values)[::-1][:k]
    # eigh normalises vᵀ right v = 1, so each half has norm ½: rescale by √2
    A, B = vectors[:p, top] * np.sqrt(2), vectors[p:, top] * np.sqrt(2)
    return CCA(values[top], A, B)


def cross_covariances(context_law, data_kernel, phi, psi, center: bool = True):
    """(Σ_φφ, Σ_φψ, Σ_ψψ) of (φ(X), ψ(W)) with X ∼ µ and W ∼ P(X, ·); φ (n, p), ψ (V, q)."""
    P = as_kernel(data_kernel, name="data kernel").astype(float)
    law = as_law(context_law, len(P), name="context law").astype(float)
    phi, psi = np.asarray(phi, dtype=float), np.asarray(psi, dtype=float)
    token_law = law @ P
    if center:
        phi, psi = phi - law @ phi, psi - token_law @ psi
    return ((law[:, None] * phi).T @ phi,
            (law[:, None] * phi).T @ P @ psi,
            (token_law[:, None] * psi).T @ psi)
