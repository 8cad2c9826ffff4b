"""Predictive-similarity kernels, the operator M_K on L²(µ) and spectral alignment, on FinStoch.

Source: Zhang, arXiv 2507.19247, §7 (Def. 7.3, Eqs. 7.5–7.7, Prop. 7.4, Thm 7.6 [A18], App. A.3,
A.8). Contexts x carry a law µ, D = diag µ; a kernel K is
an (n, n) array. M_K acts on ψ ∈ R^n as ψ ↦ K D ψ; with S = D^½ K D^½ = Q Λ Qᵀ its eigenvalues
are Λ and its eigenfunctions ψ_i = D^{-½} q_i, orthonormal in L²(µ). The Ky Fan fact

    max { tr(Hᵀ D K D H) : Hᵀ D H = I_k } = λ_1 + … + λ_k,  attained at H = D^{-½} Q_k,

is the exact content of the spectral-alignment claim (Thm 7.6 [A18], App. A.6).

>>> import numpy as np
>>> P = np.array([[1.0, 0.0], [0.0, 1.0]])
>>> similarity_kernel(P, "bhattacharyya")
array([[1., 0.],
       [0., 1.]])
>>> spectrum = operator_spectrum(np.ones((2, 2)), [0.25, 0.75])
>>> np.round(spectrum.eigenvalues, 12)
array([1., 0.])
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.linalg
from scipy.special import logsumexp

from catlm.analysis.checks import as_kernel, as_law
from catlm.analysis.divergences import js
from catlm.errors import KernelError, SpecError


def _bhattacharyya(P, beta, prototypes):
    return np.sqrt(P) @ np.sqrt(P).T


def _hellinger_gaussian(P, beta, prototypes):
    # d_H² = Σ (√p − √q)² = 2 (1 − BC), the Def. 7.3 normalisation
    return np.exp(-2.0 * beta * (1.0 - np.clip(_bhattacharyya(P, beta, prototypes), None, 1.0)))


def _linear(P, beta, prototypes):
    return P @ P.T


def _jensen_shannon(P, beta, prototypes):
    n = len(P)
    distances = np.array([[js(P[i], P[j]) for j in range(n)] for i in range(n)])
    return np.exp(-beta * distances)


def _prototype(P, beta, prototypes):
    if prototypes is None:
        raise SpecError("the prototype kernel needs prototypes=W, the (V, d) output vectors g(w)")
    means = P @ np.asarray(prototypes, dtype=float)   # (n, d): ḡ_x = E_{w∼p_x} g(w)
    return means @ means.T


SIMILARITY_KERNELS: dict[str, Callable] = {
    "bhattacharyya": _bhattacharyya,
    "hellinger": _hellinger_gaussian,
    "linear": _linear,
    "js": _jensen_shannon,
    "prototype": _prototype,
}


def similarity_kernel(data_kernel, kind: str = "bhattacharyya", *, beta: float = 1.0,
                      prototypes=None) -> np.ndarray:
    """The (n, n) predictive-similarity kernel K(x, x') of the rows of P (Def. 7.3)."""
    if kind not in SIMILARITY_KERNELS:
        raise SpecError(f"unknown similarity kernel {kind!r}; choose from "
                        f"{', '.join(sorted(SIMILARITY_KERNELS))}")
    P = as_kernel(data_kernel, name="data kernel").astype(float)
    return SIMILARITY_KERNELS[kind](P, beta, prototypes)


def _positive_law(law, n: int) -> np.ndarray:
    law = as_law(law, n, name="context law").astype(float)
    if (law <= 0).any():
        raise KernelError(f"context {int(np.argmin(law))} has zero mass; L²(µ) does not see it",
                          hint="restrict K and µ to the support of µ first")
    return law


def _symmetric(K, n: int | None = None) -> np.ndarray:
    K = np.asarray(K, dtype=float)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or not np.allclose(K, K.T, atol=1e-10):
        raise KernelError(f"a similarity kernel must be a symmetric square array, got {K.shape}")
    return K


@dataclass(frozen=True)
class Spectrum:
    """Eigenvalues of M_K (descending) and eigenfunctions (n, n) as columns, orthonormal in L²(µ)."""

    eigenvalues: np.ndarray
    eigenfunctions: np.ndarray


def operator_spectrum(K, law) -> Spectrum:
    """The spectrum of M_K : ψ ↦ K D ψ through S = D^½ K D^½ (App. A.8)."""
    K = _symmetric(K)
    root = np.sqrt(_positive_law(law, len(K)))
    values, Q = np.linalg.eigh(root[:, None] * K * root[None, :])
    order = np.argsort(values)[::-1]
    return Spectrum(values[order], Q[:, order] / root[:, None])


def disintegrate(K, law, encoder) -> tuple[np.ndarray, np.ndarray]:
    """(K̃, µ_H): K̃ = M⁻¹ Eᵀ D K D E M⁻¹ with M = Eᵀ D E = diag µ_H (A18 Eq. 7.5)."""
    K = _symmetric(K)
    law = as_law(law, len(K), name="context law").astype(float)
    E = np.eye(int(np.max(encoder)) + 1)[encoder] if np.ndim(encoder) == 1 else \
        as_kernel(encoder, 1, name="encoder").astype(float)
    hidden_law = E.T @ law
    if (hidden_law <= 0).any():
        raise KernelError(f"hidden state {int(np.argmin(hidden_law))} receives no mass",
                          hint="drop hidden states that no context of positive law reaches")
    weighted = E.T @ (law[:, None] * K * law[None, :]) @ E
    return weighted / np.outer(hidden_law, hidden_law), hidden_law


def laplacian(K, law) -> np.ndarray:
    """L = diag(D K D 1) − D K D, the Laplacian of the weights µ(x) K(x, x') µ(x')."""
    law = as_law(law, len(K), name="context law").astype(float)
    weights = law[:, None] * _symmetric(K) * law[None, :]
    return np.diag(weights.sum(axis=1)) - weights


def dirichlet_energy(K, law, phi) -> float | np.ndarray:
    """E_K(φ) = φᵀ L φ for φ (n,); for representations H (n, d) the (d, d) matrix Hᵀ L H."""
    phi = np.asarray(phi, dtype=float)
    energy = phi.T @ laplacian(K, law) @ phi
    return float(energy) if phi.ndim == 1 else energy


def alignment_objective(K, law, H) -> float:
    """J(H) = tr(Hᵀ D K D H) = E_{x,x'}[⟨h_x, h_x'⟩ K(x, x')]."""
    law = as_law(law, len(K), name="context law").astype(float)
    weighted = law[:, None] * np.asarray(H, dtype=float)
    return float(np.trace(weighted.T @ _symmetric(K) @ weighted))


def ky_fan_optimum(K, law, k: int) -> tuple[float, np.ndarray]:
    """(Σ top-k λ, H* = top-k eigenfunctions (n, k)): the max of J over Hᵀ D H = I_k."""
    spectrum = operator_spectrum(K, law)
    if not 1 <= k <= len(spectrum.eigenvalues):
        raise SpecError(f"k={k} must lie between 1 and the number of contexts")
    return float(spectrum.eigenvalues[:k].sum()), spectrum.eigenfunctions[:, :k]


def principal_angles(A, B, law=None) -> np.ndarray:
    """Principal angles (radians, ascending) between span(D^½ A) and span(D^½ B) in L²(µ)."""
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    root = np.ones(len(A)) if law is None else np.sqrt(as_law(law, len(A), name="law").astype(float))
    return np.sort(scipy.linalg.subspace_angles(root[:, None] * A, root[:, None] * B))


def linear_cka(X, Y, law=None) -> float:
    """Linear CKA ‖X_cᵀ D Y_c‖²_F / (‖X_cᵀ D X_c‖_F ‖Y_cᵀ D Y_c‖_F), centred under µ."""
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    law = np.full(len(X), 1 / len(X)) if law is None else \
        as_law(law, len(X), name="law").astype(float)
    root = np.sqrt(law)[:, None]
    Xc, Yc = root * (X - law @ X), root * (Y - law @ Y)
    cross = np.linalg.norm(Xc.T @ Yc) ** 2
    return float(cross / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)))


class AlignmentUniformity(NamedTuple):
    """App. A.3: NLL = align + uniformity for a log-linear head p(w|x) ∝ exp⟨g(w), h_x⟩."""

    align: float
    uniformity: float


def alignment_uniformity(context_law, data_kernel, H, prototypes) -> AlignmentUniformity:
    """(L_align, L_unif) = (−E_x⟨ḡ_x, h_x⟩, E_x log Σ_w exp⟨g(w), h_x⟩) with ḡ_x = (P G)_x."""
    P = as_kernel(data_kernel, name="data kernel").astype(float)
    law = as_law(context_law, len(P), name="context law").astype(float)
    H, G = np.asarray(H, dtype=float), np.asarray(prototypes, dtype=float)
    align = -float(law @ np.sum((P @ G) * H, axis=1))
    uniformity = float(law @ logsumexp(H @ G.T, axis=1))
    return AlignmentUniformity(align, uniformity)
