"""Spectral alignment scores and their baselines, against features whose angles to the eigenfunctions
of M_K are known and an independent computation (generalized eigenproblem, QR, weighted HSIC)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from catlm.analysis.alignment import (alignment_scores, alignment_with_baselines, normalised_energy,
                                      whiten)
from catlm.errors import KernelError, SpecError

UNIFORM = np.full(4, 0.25)
BLOCKS = np.kron(np.eye(2), np.ones((2, 2)))   # two blocks of predictively equal contexts
SIGN = np.array([1.0, 1.0, -1.0, -1.0])        # separates the blocks; mean 0, L²(µ)-norm 1
WITHIN = np.array([1.0, -1.0, 0.0, 0.0]) * math.sqrt(2)   # inside block 0; ⊥ 1 and SIGN, norm 1


def tilted(theta):
    """cos θ · SIGN + sin θ · WITHIN: at angle θ from the top eigenfunctions span{1, SIGN}."""
    return (math.cos(theta) * SIGN + math.sin(theta) * WITHIN)[:, None]


@pytest.mark.parametrize("degrees", [0.0, 30.0, 60.0, 90.0])
def test_scores_of_features_at_a_known_angle_from_the_block_eigenfunctions(degrees):
    """M_K of the blocks has eigenvalues ½, ½, 0, 0 with eigenfunctions span{1, SIGN}. For
    span{1, H(θ)}: angles (0, θ); Bᵀ D K D B has eigenvalues ½ (the constant) and ½ cos²θ, so the Ky Fan
    ratio is (1 + cos²θ)/2; the µ-centred H meets only SIGN, so the linear CKA is cos²θ."""
    theta = math.radians(degrees)
    scores = alignment_scores(tilted(theta), UNIFORM, BLOCKS, k=2)
    np.testing.assert_allclose(scores.angles_deg, [0.0, degrees], atol=1e-6)
    assert scores.mean_angle_deg == pytest.approx(degrees / 2, abs=1e-6)
    assert scores.ky_fan == pytest.approx((1 + math.cos(theta) ** 2) / 2, abs=1e-12)
    assert scores.cka == pytest.approx(math.cos(theta) ** 2, abs=1e-12)
    assert scores.to_dict() == {"angles_deg": scores.angles_deg.tolist(), "mean_angle_deg": scores.mean_angle_deg,
                                "ky_fan": scores.ky_fan, "cka": scores.cka}


def scores_by_hand(H, law, K, k):
    """Eigenfunctions of M_K from the generalized problem D K D ψ = λ D ψ; span{1, H} by a QR of
    D^½ [1, H]; angles from the singular values of the two orthonormal bases; the Ky Fan ratio from
    D^½ K D^½ compressed to the first span; CKA from the µ-weighted HSIC."""
    D, root = np.diag(law), np.sqrt(law)
    values, vectors = scipy.linalg.eigh(D @ K @ D, D)
    top = vectors[:, ::-1][:, :k]
    Q, _ = np.linalg.qr(root[:, None] * np.column_stack([np.ones(len(law)), H]))
    T, _ = np.linalg.qr(root[:, None] * top)
    cosines = np.clip(np.linalg.svd(Q.T @ T, compute_uv=False), 0.0, 1.0)
    angles = np.sort(np.degrees(np.arccos(cosines)))
    compressed = np.linalg.eigvalsh(Q.T @ (root[:, None] * K * root[None, :]) @ Q)[::-1]
    ky_fan = compressed[:k].sum() / values[::-1][:k].sum()
    centre = lambda X: X - law @ X                                   # noqa: E731
    hsic = lambda X, Y: np.sum((centre(X).T @ D @ centre(Y)) ** 2)   # noqa: E731
    cka = hsic(H, top) / math.sqrt(hsic(H, H) * hsic(top, top))
    return angles, ky_fan, cka


@pytest.mark.parametrize("seed, d, k", [(0, 2, 3), (1, 3, 2), (2, 1, 4)])
def test_scores_against_an_independent_computation(seed, d, k):
    rng = np.random.default_rng(seed)
    law, P = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(5), size=7)
    K = np.sqrt(P) @ np.sqrt(P).T
    H = rng.standard_normal((7, d))
    angles, ky_fan, cka = scores_by_hand(H, law, K, k)
    scores = alignment_scores(H, law, K, k)
    np.testing.assert_allclose(scores.angles_deg, angles, atol=1e-6)
    assert scores.ky_fan == pytest.approx(ky_fan, rel=1e-10)
    assert scores.cka == pytest.approx(cka, rel=1e-10)
    assert 0 < scores.ky_fan <= 1 + 1e-12


def test_alignment_scores_refuse_k_outside_one_to_the_contexts_and_name_the_law():
    for k in (0, 5):
        with pytest.raises(SpecError, match=rf"^k={k} eigenfunctions requested of 4 contexts$"):
            alignment_scores(SIGN, UNIFORM, BLOCKS, k)
    assert len(alignment_scores(SIGN, UNIFORM, BLOCKS, 4).angles_deg) == 2
    one = alignment_scores(SIGN, UNIFORM, BLOCKS, 1)                 # the top eigenfunction alone
    assert len(one.angles_deg) == 1 and one.ky_fan == pytest.approx(1.0)
    with pytest.raises(KernelError, match="^context law has 3 entries but 4"):
        alignment_scores(SIGN, [0.2, 0.3, 0.5], BLOCKS, 2)


def test_whiten_is_an_orthonormal_basis_of_the_span_of_one_and_h():
    """Bᵀ D B = I and B Bᵀ D is the D-orthogonal projector X (Xᵀ D X)⁻¹ Xᵀ D of X = [1, H]."""
    rng = np.random.default_rng(4)
    law, H = rng.dirichlet(np.ones(6)), rng.standard_normal((6, 2))
    D = np.diag(law)
    for constant, X in ((True, np.column_stack([np.ones(6), H])), (False, H - law @ H)):
        B = whiten(H, law, constant)
        assert B.shape == (6, X.shape[1])
        np.testing.assert_allclose(B.T @ D @ B, np.eye(X.shape[1]), atol=1e-12)
        np.testing.assert_allclose(B @ B.T @ D, X @ np.linalg.solve(X.T @ D @ X, X.T @ D), atol=1e-10)
    np.testing.assert_allclose(np.abs(whiten(H, law)), np.abs(whiten(H, law, True)), atol=0)


def test_whiten_drops_dependent_columns_keeps_tiny_ones_and_reads_a_vector_as_one_column():
    law = np.array([0.1, 0.2, 0.3, 0.4])
    h = np.array([1.0, 2.0, 0.0, -1.0])
    assert whiten(np.column_stack([h, 2 * h, h + 3]), law).shape == (4, 2)          # span{1, h}
    assert whiten(np.column_stack([h, 2 * h]), law, constant=False).shape == (4, 1)
    assert whiten(1e-12 * np.column_stack([h, h ** 2]), law, constant=False).shape == (4, 2)
    assert whiten(np.zeros((4, 2)), law, constant=False).shape == (4, 0)
    assert whiten(np.zeros((4, 0)), law, constant=False).shape == (4, 0)            # no feature at all
    np.testing.assert_allclose(np.abs(whiten(h, law)), np.abs(whiten(h[:, None], law)), atol=1e-12)


def test_whiten_reads_exact_fractions_and_names_a_law_of_the_wrong_size():
    from fractions import Fraction
    law = np.array([0.25, 0.25, 0.5])
    H = np.array([[Fraction(1)], [Fraction(1, 3)], [Fraction(-2)]], dtype=object)
    B = whiten(H, law)
    assert B.dtype == np.float64
    np.testing.assert_allclose(B, whiten(H.astype(float), law), atol=1e-15)
    with pytest.raises(KernelError, match="^context law has 2 entries but 4 are needed"):
        whiten(np.ones((4, 1)), [0.5, 0.5])


def test_whiten_is_zero_on_contexts_of_law_zero():
    law = np.array([0.5, 0.0, 0.5])
    B = whiten(np.array([[1.0], [5.0], [-1.0]]), law)
    assert np.isfinite(B).all()
    np.testing.assert_allclose(B[1], 0.0, atol=0)
    np.testing.assert_allclose(B.T @ np.diag(law) @ B, np.eye(2), atol=1e-12)


def test_baselines_are_gaussian_features_and_permuted_rows_drawn_from_the_seed():
    rng = np.random.default_rng(6)
    law, P = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(4), size=6)
    K = np.sqrt(P) @ np.sqrt(P).T
    H, twin = rng.standard_normal((6, 2)), rng.standard_normal((6, 3))
    draw = np.random.default_rng(11)                                  # the same draws, in order
    gaussian = draw.standard_normal((6, 2))
    permuted = H[draw.permutation(6)]
    found = alignment_with_baselines(H, law, K, 2, seed=11, untrained=twin)
    expected = {"model": H, "random": gaussian, "permuted": permuted, "untrained": twin}
    for who, features in expected.items():
        angles, ky_fan, cka = scores_by_hand(features, law, K, 2)
        scores = getattr(found, who)
        np.testing.assert_allclose(scores.angles_deg, angles, atol=1e-6)
        assert (scores.ky_fan, scores.cka) == pytest.approx((ky_fan, cka), rel=1e-9)
    assert found.k == 2 and found.baselines == ("random", "permuted", "untrained")
    np.testing.assert_allclose(found.eigenvalues, np.sort(np.linalg.eigvalsh(
        np.sqrt(law)[:, None] * K * np.sqrt(law)[None, :]))[::-1], atol=1e-12)
    data = found.to_dict()
    assert set(data) == {"k", "eigenvalues", "model", "random", "permuted", "untrained"}
    assert data["k"] == 2 and data["eigenvalues"] == found.eigenvalues.tolist()
    assert data["untrained"] == found.untrained.to_dict() and data["random"] == found.random.to_dict()
    assert data["model"] == found.model.to_dict() and data["permuted"] == found.permuted.to_dict()


def test_without_an_untrained_twin_there_are_two_baselines_and_the_default_seed_is_0():
    law, H = UNIFORM, np.array([[1.0], [0.5], [-1.0], [2.0]])
    found = alignment_with_baselines(H.ravel(), law, BLOCKS, 2)
    assert found.untrained is None and found.baselines == ("random", "permuted")
    assert "untrained" not in found.to_dict()
    draw = np.random.default_rng(0)
    gaussian = draw.standard_normal((4, 1))
    assert found.random.to_dict() == alignment_scores(gaussian, law, BLOCKS, 2).to_dict()
    assert found.permuted.to_dict() == alignment_scores(H[draw.permutation(4)], law, BLOCKS, 2).to_dict()
    assert found.model.to_dict() == alignment_scores(H, law, BLOCKS, 2).to_dict()


def test_normalised_energy_of_two_contexts_is_their_similarity():
    """With two contexts E_K(φ) = µ₀µ₁ c (φ₀ − φ₁)² and Var_µ φ = µ₀µ₁ (φ₀ − φ₁)²: the ratio is c."""
    K = np.array([[1.0, 0.3], [0.3, 1.0]])
    assert normalised_energy(K, [0.2, 0.8], [0.1, 0.4]) == pytest.approx(0.3, rel=1e-12)
    assert normalised_energy(np.ones((3, 3)), [0.2, 0.3, 0.5], [1.0, -2.0, 0.5]) == pytest.approx(1.0)


def test_normalised_energy_refuses_a_constant_function_and_names_the_law():
    with pytest.raises(SpecError, match="^φ is constant under µ; its normalised Dirichlet energy is undefined$"):
        normalised_energy(BLOCKS, UNIFORM, np.ones(4))
    with pytest.raises(SpecError, match="constant under µ"):
        normalised_energy(np.eye(2), [1.0, 0.0], [1.0, 7.0])          # varies only off the support
    with pytest.raises(KernelError, match="^context law has 2 entries but 4"):
        normalised_energy(BLOCKS, [0.5, 0.5], SIGN)
