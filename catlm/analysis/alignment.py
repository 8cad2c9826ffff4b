"""Spectral alignment of representations with M_K, against random and permuted baselines.

Source: Zhang, arXiv 2507.19247, Prop. 7.6 [v1] / Thm 7.6 [A18] and its Ky Fan form
(App. A.6). Contexts x carry a law µ (D = diag µ), representations H (n, d), a
predictive-similarity kernel K (n, n). The representation space is span{1, H} ⊂ L²(µ) (the head
is affine, so the constant function is free); whitening gives an L²(µ)-orthonormal basis B of it
(Bᵀ D B = I). Three [OPS] scores compare it with the top-k eigenfunctions Ψ_k of M_K:

    angles      principal angles between span B and span Ψ_k (0 = aligned, 90° = orthogonal)
    ky_fan      Σ top-k λ(Bᵀ D K D B) / Σ top-k λ(M_K) ∈ [0, 1]  (≤ 1 by Cauchy interlacing)
    cka         linear CKA between the µ-centred H and Ψ_k

Baselines: the same scores for Gaussian features of the same width, for H with its rows
permuted among the contexts (same geometry, wrong contexts) and, for a trained model, for the
same architecture at random initialisation (what the architecture gives before any training).

>>> import numpy as np
>>> law = np.full(4, 0.25)
>>> K = np.kron(np.eye(2), np.ones((2, 2)))         # two blocks of predictively equal contexts
>>> H = np.array([[1.0], [1.0], [-1.0], [-1.0]])    # one feature separating the blocks
>>> scores = alignment_scores(H, law, K, k=2)
>>> np.round(scores.angles_deg, 6), round(scores.ky_fan, 6)
(array([0., 0.]), 1.0)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from catlm.analysis.checks import as_law
from catlm.analysis.spectral import dirichlet_energy, linear_cka, operator_spectrum
from catlm.errors import SpecError

RANK_RTOL = 1e-9  # singular values below this fraction of the largest span nothing


def whiten(H, law, constant: bool = True) -> np.ndarray:
    """An L²(µ)-orthonormal basis (n, r) of span{1, H} (or of the µ-centred H if not ``constant``)."""
    law = as_law(law, len(H), name="context law").astype(float)
    H = np.asarray(H, dtype=float).reshape(len(law), -1)
    features = np.column_stack([np.ones(len(law)), H]) if constant else H - law @ H
    root = np.sqrt(law)[:, None]
    U, s, _ = np.linalg.svd(root * features, full_matrices=False)
    kept = U[:, s > RANK_RTOL * max(s.max(initial=0.0), 1e-300)]
    return kept / np.where(root > 0, root, 1.0)   # back from D^½-coordinates: Bᵀ D B = I


@dataclass(frozen=True)
class AlignmentScores:
    """The three [OPS] alignment scores of one representation (see the module text)."""

    angles_deg: np.ndarray
    ky_fan: float
    cka: float

    @property
    def mean_angle_deg(self) -> float:
        return float(np.mean(self.angles_deg))

    def to_dict(self) -> dict:
        return {"angles_deg": self.angles_deg.tolist(), "mean_angle_deg": self.mean_angle_deg,
                "ky_fan": self.ky_fan, "cka": self.cka}


def alignment_scores(H, law, K, k: int) -> AlignmentScores:
    """Angles, Ky Fan ratio and CKA between span{1, H} and the top-k eigenfunctions of M_K."""
    law = as_law(law, len(K), name="context law").astype(float)
    spectrum = operator_spectrum(K, law)
    if not 1 <= k <= len(law):
        raise SpecError(f"k={k} eigenfunctions requested of {len(law)} contexts")
    top = spectrum.eigenfunctions[:, :k]
    basis = whiten(H, law)
    root = np.sqrt(law)[:, None]
    angles = np.degrees(np.sort(scipy.linalg.subspace_angles(root * basis, root * top)))
    restricted = (law[:, None] * basis).T @ K @ (law[:, None] * basis)    # Bᵀ D K D B (r, r)
    achieved = np.sort(np.linalg.eigvalsh(restricted))[::-1][:k].sum()
    optimum = spectrum.eigenvalues[:k].sum()
    H = np.asarray(H, dtype=float).reshape(len(law), -1)
    return AlignmentScores(angles, float(achieved / optimum), linear_cka(H, top, law))


@dataclass(frozen=True)
class Alignment:
    """Scores of a representation and of its baselines, with the spectrum of M_K. ``untrained``
    is the same architecture at its random initialisation, read on the same contexts (None when
    not measured): the gap between it and ``model`` is what training adds."""

    eigenvalues: np.ndarray
    model: AlignmentScores
    random: AlignmentScores
    permuted: AlignmentScores
    k: int
    untrained: AlignmentScores | None = None

    @property
    def baselines(self) -> tuple[str, ...]:
        return ("random", "permuted") + (("untrained",) if self.untrained is not None else ())

    def to_dict(self) -> dict:
        found = {"k": self.k, "eigenvalues": self.eigenvalues.tolist(), "model": self.model.to_dict()}
        return found | {who: getattr(self, who).to_dict() for who in self.baselines}


def alignment_with_baselines(H, law, K, k: int, seed: int = 0, untrained=None) -> Alignment:
    """``alignment_scores`` of H, of Gaussian features of H's width, of H with rows permuted and,
    when given, of the representations ``untrained`` (n, d') of a randomly initialised model."""
    H = np.asarray(H, dtype=float).reshape(len(K), -1)
    rng = np.random.default_rng(seed)
    gaussian = rng.standard_normal(H.shape)
    permuted = H[rng.permutation(len(H))]
    eigenvalues = operator_spectrum(K, law).eigenvalues
    fresh = None if untrained is None else alignment_scores(np.asarray(untrained, dtype=float), law, K, k)
    return Alignment(eigenvalues, alignment_scores(H, law, K, k), alignment_scores(gaussian, law, K, k),
                     alignment_scores(permuted, law, K, k), k, fresh)


def normalised_energy(K, law, phi) -> float:
    """E_K(φ) / Var_µ(φ): the Dirichlet energy of φ per unit of variance (1 when K ≡ 1)."""
    law = as_law(law, len(K), name="context law").astype(float)
    phi = np.asarray(phi, dtype=float)
    variance = float(law @ (phi - law @ phi) ** 2)
    if variance <= 0:
        raise SpecError("φ is constant under µ; its normalised Dirichlet energy is undefined")
    return dirichlet_energy(K, law, phi) / variance
