"""Predictive similarity, M_K and its spectrum, Dirichlet energy, Ky Fan, CKA, A.3 and [OPS] CCA."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings, strategies as st
from scipy.special import softmax

from catlm.analysis import (alignment_objective, alignment_uniformity, cca, cross_covariances,
                            dirichlet_energy, disintegrate, ky_fan_optimum, linear_cka,
                            log_partition, nll_decomposition, operator_spectrum, principal_angles,
                            quadratic_surrogate, similarity_kernel, surrogate_beta)
from catlm.analysis.divergences import divergence
from catlm.errors import KernelError, SpecError

SEEDS = st.integers(0, 2 ** 32 - 1)


def setting(seed, n=8, V=6):
    rng = np.random.default_rng(seed)
    return rng, rng.dirichlet(np.ones(n)), rng.dirichlet(np.full(V, 0.5), size=n)


def test_similarity_kernels_against_their_definitions():
    rng, _, P = setting(0)
    G = rng.normal(size=(6, 3))
    n = len(P)
    bc = lambda i, j: np.sum(np.sqrt(P[i] * P[j]))
    definitions = {
        "bhattacharyya": bc,
        "hellinger": lambda i, j: math.exp(-0.7 * np.sum((np.sqrt(P[i]) - np.sqrt(P[j])) ** 2)),
        "linear": lambda i, j: P[i] @ P[j],
        "js": lambda i, j: math.exp(-0.7 * divergence(P[i], P[j], "js")),
        "prototype": lambda i, j: (P[i] @ G) @ (P[j] @ G),
    }
    for kind, entry in definitions.items():
        K = similarity_kernel(P, kind, beta=0.7, prototypes=G)
        np.testing.assert_allclose(K, [[entry(i, j) for j in range(n)] for i in range(n)], atol=1e-12)
    with pytest.raises(SpecError, match="choose from bhattacharyya, hellinger, js, linear, prototype"):
        similarity_kernel(P, "cosine")


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, kind=st.sampled_from(["bhattacharyya", "hellinger", "linear", "prototype"]))
def test_psd_kernels_give_nonnegative_spectra_and_eig_kd_equals_eig_s(seed, kind):
    rng, law, P = setting(seed)
    K = similarity_kernel(P, kind, beta=2.0, prototypes=rng.normal(size=(6, 3)))
    spectrum = operator_spectrum(K, law)
    assert spectrum.eigenvalues.min() >= -1e-12
    kd = np.sort(np.linalg.eigvals(K @ np.diag(law)).real)[::-1]
    np.testing.assert_allclose(spectrum.eigenvalues, kd, atol=1e-10)


def test_eigenfunctions_are_orthonormal_in_l2_mu_and_solve_m_k():
    _, law, P = setting(1)
    K = similarity_kernel(P, "js", beta=3.0)       # not PSD in general: still self-adjoint
    spectrum = operator_spectrum(K, law)
    Psi = spectrum.eigenfunctions
    np.testing.assert_allclose(Psi.T @ (law[:, None] * Psi), np.eye(len(law)), atol=1e-10)
    np.testing.assert_allclose(K @ (law[:, None] * Psi), Psi * spectrum.eigenvalues, atol=1e-10)


def test_disintegrated_kernel():
    rng, law, P = setting(2)
    K = similarity_kernel(P, "linear")
    same, hidden = disintegrate(K, law, np.arange(8))
    np.testing.assert_allclose(same, K, atol=1e-14)
    encoder = np.array([0, 1, 1, 2, 0, 2, 2, 1])
    tilde, hidden = disintegrate(K, law, encoder)
    for a in range(3):
        for b in range(3):
            A, B = encoder == a, encoder == b     # E[K(X, X') | f(X) = a, f(X') = b]
            expected = law[A] @ K[np.ix_(A, B)] @ law[B] / (law[A].sum() * law[B].sum())
            assert tilde[a, b] == pytest.approx(expected)
    np.testing.assert_allclose(hidden, [law[encoder == a].sum() for a in range(3)])


def test_dirichlet_energy_against_the_double_sum():
    rng, law, P = setting(3)
    K = similarity_kernel(P, "bhattacharyya")
    phi = rng.normal(size=8)
    double_sum = 0.5 * sum(law[i] * law[j] * K[i, j] * (phi[i] - phi[j]) ** 2
                           for i in range(8) for j in range(8))
    assert dirichlet_energy(K, law, phi) == pytest.approx(double_sum, rel=1e-12)
    H, v = rng.normal(size=(8, 3)), rng.normal(size=3)
    assert v @ dirichlet_energy(K, law, H) @ v == pytest.approx(dirichlet_energy(K, law, H @ v))


def test_ky_fan_optimum_is_attained_and_beats_random_feasible_h():
    rng, law, P = setting(4, n=10)
    K = similarity_kernel(P, "bhattacharyya")
    k = 3
    optimum, H_star = ky_fan_optimum(K, law, k)
    assert optimum == pytest.approx(np.sort(np.linalg.eigvalsh(
        np.sqrt(law)[:, None] * K * np.sqrt(law)[None, :]))[::-1][:k].sum())
    np.testing.assert_allclose(H_star.T @ (law[:, None] * H_star), np.eye(k), atol=1e-10)
    assert alignment_objective(K, law, H_star) == pytest.approx(optimum, rel=1e-10)
    best = 0.0
    for _ in range(500):                            # H = D^{-1/2} O with Oᵀ O = I is feasible
        O = np.linalg.qr(rng.normal(size=(10, k)))[0]
        best = max(best, alignment_objective(K, law, O / np.sqrt(law)[:, None]))
    assert best < optimum


def test_principal_angles_and_cka():
    rng, law, P = setting(5, n=10)
    K = similarity_kernel(P, "linear")
    _, H_star = ky_fan_optimum(K, law, 3)
    rotated = H_star @ np.linalg.qr(rng.normal(size=(3, 3)))[0] * 2.5
    np.testing.assert_allclose(principal_angles(rotated, H_star, law), 0, atol=1e-7)
    assert principal_angles(rng.normal(size=(10, 3)), H_star, law).max() > 1e-3
    assert linear_cka(rotated, H_star, law) == pytest.approx(1.0)
    X, Y = rng.normal(size=(10, 4)), rng.normal(size=(10, 3))
    C = np.eye(10) - 1 / 10                         # Kornblith et al.: HSIC with the centring matrix
    hsic = lambda A, B: np.trace(A @ A.T @ C @ B @ B.T @ C)
    assert linear_cka(X, Y) == pytest.approx(hsic(X, Y) / math.sqrt(hsic(X, X) * hsic(Y, Y)))


def weighted_angles(A, B, law):
    """Principal angles in L²(µ) from the µ-Gram matrices: cos θ are the singular values of
    (Aᵀ D A)^{-1/2} Aᵀ D B (Bᵀ D B)^{-1/2} (Björck and Golub 1973), no catlm code."""
    D = np.diag(law)
    inv_root = lambda G: scipy.linalg.inv(scipy.linalg.sqrtm(G).real)
    cosines = np.linalg.svd(inv_root(A.T @ D @ A) @ A.T @ D @ B @ inv_root(B.T @ D @ B), compute_uv=False)
    return np.sort(np.arccos(np.clip(cosines, -1, 1)))


def weighted_cka(X, Y, law):
    """Σ_ab cov_µ(X_a, Y_b)² / √(Σ cov_µ(X_a, X_b)² Σ cov_µ(Y_a, Y_b)²), covariances by loops."""
    def cov(U, W):
        return np.array([[sum(law[i] * (U[i, a] - law @ U[:, a]) * (W[i, b] - law @ W[:, b])
                              for i in range(len(law))) for b in range(W.shape[1])]
                         for a in range(U.shape[1])])
    return float(np.sum(cov(X, Y) ** 2) / math.sqrt(np.sum(cov(X, X) ** 2) * np.sum(cov(Y, Y) ** 2)))


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS)
def test_principal_angles_and_cka_weigh_the_contexts_by_mu(seed):
    """A non-uniform µ changes both scores; each must equal its µ-weighted oracle, and a law that
    vanishes off some rows must equal the unweighted scores of the remaining rows."""
    rng = np.random.default_rng(seed)
    law = rng.dirichlet(np.full(9, 0.5))
    A, B = rng.normal(size=(9, 3)), rng.normal(size=(9, 2))
    np.testing.assert_allclose(principal_angles(A, B, law), weighted_angles(A, B, law), atol=1e-8)
    assert linear_cka(A, B, law) == pytest.approx(weighted_cka(A, B, law), rel=1e-9)
    rows = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0], dtype=bool)
    half = np.where(rows, 1 / rows.sum(), 0.0)
    np.testing.assert_allclose(principal_angles(A, B, half),
                               np.sort(scipy.linalg.subspace_angles(A[rows], B[rows])), atol=1e-8)
    C = np.eye(6) - 1 / 6                            # Kornblith et al. on the 6 rows that count
    hsic = lambda X, Y: np.trace(X @ X.T @ C @ Y @ Y.T @ C)
    X, Y = A[rows], B[rows]
    assert linear_cka(A, B, half) == pytest.approx(hsic(X, Y) / math.sqrt(hsic(X, X) * hsic(Y, Y)), rel=1e-9)


def test_alignment_plus_uniformity_is_the_nll():
    rng, law, P = setting(6)
    H, G = rng.normal(size=(8, 3)), rng.normal(size=(6, 3))
    parts = alignment_uniformity(law, P, H, G)
    nll = nll_decomposition(law, P, softmax(H @ G.T, axis=1))
    assert parts.align + parts.uniformity == pytest.approx(nll.cross_entropy, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, kind=st.sampled_from(["b2", "bohning"]), scale=st.sampled_from([0.1, 1.0, 5.0]))
def test_quadratic_surrogate_is_an_upper_bound_tight_at_h0(seed, kind, scale):
    """[OPS, v5] A(Uh + b) ≤ A(Uh₀ + b) + ⟨Uᵀp_{h₀}, h − h₀⟩ + (β/2)‖h − h₀‖²."""
    rng = np.random.default_rng(seed)
    U, b, h0 = rng.normal(size=(7, 3)), rng.normal(size=7), rng.normal(size=3)
    h = h0 + scale * rng.normal(size=3)
    beta = surrogate_beta(U, kind)
    assert log_partition(U, h, b) <= quadratic_surrogate(U, h, h0, beta, b) + 1e-12
    assert quadratic_surrogate(U, h0, h0, beta, b) == pytest.approx(log_partition(U, h0, b))


def test_cca_solves_the_whitened_problem():
    """[OPS, v5] CCA by the generalized eigenproblem equals the SVD of the whitened cross-covariance."""
    rng, law, P = setting(7, n=12, V=8)
    phi, psi = rng.normal(size=(12, 4)), rng.normal(size=(8, 3))
    S_ff, S_fp, S_pp = cross_covariances(law, P, phi, psi)
    result = cca(S_ff, S_fp, S_pp, 2)
    inv_root = lambda S: scipy.linalg.fractional_matrix_power(S, -0.5).real
    singular = np.linalg.svd(inv_root(S_ff) @ S_fp @ inv_root(S_pp), compute_uv=False)
    np.testing.assert_allclose(result.correlations, singular[:2], rtol=1e-9)
    np.testing.assert_allclose(result.A.T @ S_ff @ result.A, np.eye(2), atol=1e-9)
    np.testing.assert_allclose(result.B.T @ S_pp @ result.B, np.eye(2), atol=1e-9)
    assert np.trace(result.A.T @ S_fp @ result.B) == pytest.approx(singular[:2].sum())


def test_bad_inputs():
    _, law, P = setting(8)
    with pytest.raises(KernelError, match="zero mass"):
        operator_spectrum(np.eye(3), [0.5, 0.5, 0.0])
    with pytest.raises(KernelError, match="symmetric"):
        operator_spectrum(np.triu(np.ones((3, 3))), [1 / 3] * 3)
    with pytest.raises(SpecError, match="prototypes"):
        similarity_kernel(P, "prototype")
