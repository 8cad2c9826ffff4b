"""Predictive similarity, M_K and its spectrum, Dirichlet energy, Ky Fan, CKA, A.3 and [OPS] CCA."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings, strategies as st
from scipy.special import softmax

from catlm.analysis import (alignment_objective, alignment_uniformity, cca, cross_covariances,
                            dirichlet_energy, disintegrate, ky_fan_optimum, laplacian, linear_cka,
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


def test_defaults_are_the_bhattacharyya_kernel_and_beta_one():
    _, _, P = setting(9)
    bc = np.array([[np.sum(np.sqrt(p * q)) for q in P] for p in P])
    np.testing.assert_allclose(similarity_kernel(P), bc, atol=1e-14)
    d_h2 = np.array([[np.sum((np.sqrt(p) - np.sqrt(q)) ** 2) for q in P] for p in P])
    np.testing.assert_allclose(similarity_kernel(P, "hellinger"), np.exp(-d_h2), atol=1e-14)


def test_hellinger_kernel_stays_at_most_one_when_bc_rounds_above_one():
    """K_H = exp(−β d_H²) ≤ 1; a row's BC with itself may round to 1 + 2⁻⁵², which must not
    turn into a similarity above 1."""
    P = np.random.default_rng(0).dirichlet(np.ones(4), size=50)
    roots = np.sqrt(P)
    assert (np.diag(roots @ roots.T) > 1).any()        # the rounding the kernel must absorb
    K = similarity_kernel(P, "hellinger", beta=3.0)
    assert K.max() <= 1.0
    assert (np.diag(K)[np.diag(roots @ roots.T) >= 1] == 1.0).all()


def test_ky_fan_accepts_every_k_from_one_to_n_and_names_a_bad_k():
    _, law, P = setting(10, n=5)
    K = similarity_kernel(P, "bhattacharyya")
    S = np.sqrt(law)[:, None] * K * np.sqrt(law)[None, :]
    top = np.sort(np.linalg.eigvalsh(S))[::-1]
    for k in range(1, 6):
        value, H = ky_fan_optimum(K, law, k)
        assert value == pytest.approx(top[:k].sum(), rel=1e-12) and H.shape == (5, k)
    for k in (0, 6):
        with pytest.raises(SpecError, match=f"^k={k} must lie between 1 and the number of contexts$"):
            ky_fan_optimum(K, law, k)


def test_disintegrate_with_a_stochastic_encoder_matrix():
    """A soft encoder E (n, m), rows states: K̃ = M⁻¹ Eᵀ D K D E M⁻¹ with M = diag(Eᵀ µ), here by a
    quadruple loop over contexts and hidden states."""
    rng, law, P = setting(11, n=6)
    K = similarity_kernel(P, "linear")
    E = rng.dirichlet(np.ones(3), size=6)
    tilde, hidden = disintegrate(K, law, E)
    mass = [sum(law[x] * E[x, a] for x in range(6)) for a in range(3)]
    expected = [[sum(law[x] * E[x, a] * K[x, y] * law[y] * E[y, b] for x in range(6) for y in range(6))
                 / (mass[a] * mass[b]) for b in range(3)] for a in range(3)]
    np.testing.assert_allclose(tilde, expected, atol=1e-14)
    np.testing.assert_allclose(hidden, mass, atol=1e-15)
    hard = np.eye(3)[[0, 2, 1, 1, 0, 2]]                 # a 0/1 matrix agrees with its labels
    np.testing.assert_allclose(disintegrate(K, law, hard)[0], disintegrate(K, law, [0, 2, 1, 1, 0, 2])[0],
                               atol=1e-14)


def test_every_refusal_names_its_argument_and_says_what_to_do():
    rng, law, P = setting(12, n=4, V=3)
    K, A = similarity_kernel(P), rng.normal(size=(4, 2))
    short = [0.5, 0.25, 0.25]                            # 3 entries for 4 contexts
    for call in (lambda: operator_spectrum(K, short), lambda: disintegrate(K, short, [0, 1, 1, 0]),
                 lambda: laplacian(K, short), lambda: dirichlet_energy(K, short, A[:, 0]),
                 lambda: alignment_objective(K, short, A), lambda: ky_fan_optimum(K, short, 1),
                 lambda: alignment_uniformity(short, P, A, rng.normal(size=(3, 2)))):
        with pytest.raises(KernelError, match="^context law has 3 entries but 4 are needed"):
            call()
    for call in (lambda: principal_angles(A, A, short), lambda: linear_cka(A, A, short)):
        with pytest.raises(KernelError, match="^law has 3 entries but 4 are needed"):
            call()
    bad_P = np.array([[0.5, 0.6], [0.5, 0.5]])
    for call in (lambda: similarity_kernel(bad_P),
                 lambda: alignment_uniformity([0.5, 0.5], bad_P, A[:2], A[:2])):
        with pytest.raises(KernelError, match="^data kernel is not a Markov kernel: row 0 sums to 1.1"):
            call()
    with pytest.raises(KernelError, match="^context 2 has zero mass; L²") as err:
        operator_spectrum(K, [0.5, 0.25, 0.0, 0.25])
    assert err.value.hint == "restrict K and µ to the support of µ first"
    with pytest.raises(KernelError) as err:
        disintegrate(K, law, [0, 2, 2, 0])
    assert err.value.message == "hidden state 1 receives no mass"
    assert err.value.hint == "drop hidden states that no context of positive law reaches"
    with pytest.raises(KernelError, match="^encoder is not a Markov kernel: row 1 sums to 0.9"):
        disintegrate(K, law, [[1.0, 0.0], [0.5, 0.4], [0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(SpecError, match=r"^the prototype kernel needs prototypes=W, the \(V, d\) output "
                                        r"vectors g\(w\)$"):
        similarity_kernel(P, "prototype")
    for shape in ((4, 3), (4,)):                          # not square: refused, not a numpy error
        with pytest.raises(KernelError, match="^a similarity kernel must be a symmetric square array"):
            operator_spectrum(np.ones(shape), law)


def test_symmetry_is_checked_to_1e_10_also_where_an_entry_is_zero():
    K = np.eye(3)
    K[0, 1] = 5e-9                                        # K[1, 0] = 0: asymmetric by 5e-9
    with pytest.raises(KernelError, match="symmetric"):
        operator_spectrum(K, [1 / 3] * 3)
    K[0, 1] = 1e-12
    np.testing.assert_allclose(operator_spectrum(K, [1 / 3] * 3).eigenvalues, [1 / 3] * 3, atol=1e-12)


def test_principal_angles_without_a_law_are_the_euclidean_ones():
    rng = np.random.default_rng(13)
    A, B = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    np.testing.assert_allclose(principal_angles(A, B), weighted_angles(A, B, np.ones(7)), atol=1e-10)


def test_exact_fraction_inputs_give_the_float_results():
    """Kernels of catlm's exact backend are object arrays of Fractions: each function reads them
    as floats and returns float64, equal to what the float copies give."""
    rng = np.random.default_rng(14)
    exact = lambda M: np.vectorize(lambda x: Fraction(x).limit_denominator(1000), otypes=[object])(M)
    law = exact(rng.dirichlet(np.ones(5)))
    law[-1] = 1 - law[:-1].sum()
    P = exact(rng.dirichlet(np.ones(3), size=5))
    P[:, -1] = 1 - P[:, :-1].sum(axis=1)
    A, B, G = exact(rng.normal(size=(5, 2))), exact(rng.normal(size=(5, 2))), exact(rng.normal(size=(3, 2)))
    flt = lambda M: np.asarray(M, dtype=float)
    K = similarity_kernel(P, "prototype", prototypes=G)
    assert K.dtype == np.float64
    np.testing.assert_allclose(K, similarity_kernel(flt(P), "prototype", prototypes=flt(G)), atol=1e-14)
    Kx = exact(K)
    np.testing.assert_allclose(operator_spectrum(Kx, law).eigenvalues,
                               operator_spectrum(flt(Kx), flt(law)).eigenvalues, atol=1e-12)
    energy = dirichlet_energy(K, law, A)
    assert energy.dtype == np.float64
    np.testing.assert_allclose(energy, dirichlet_energy(K, flt(law), flt(A)), atol=1e-14)
    np.testing.assert_allclose(principal_angles(A, B, law), principal_angles(flt(A), flt(B), flt(law)),
                               atol=1e-12)
    assert linear_cka(A, B, law) == pytest.approx(linear_cka(flt(A), flt(B), flt(law)), rel=1e-12)


def test_dirichlet_energy_of_one_function_is_a_python_float():
    rng, law, P = setting(15)
    value = dirichlet_energy(similarity_kernel(P), law, rng.normal(size=8))
    assert type(value) is float


def test_an_encoder_into_a_product_of_hidden_sets_reads_its_trailing_axes_as_one_codomain():
    """An encoder kernel X → A ⊗ B of shape (n, 2, 2) is the (n, 4) kernel onto the pairs (a, b),
    as every catlm kernel reads its trailing axes (here, two hidden bits per context)."""
    rng, law, P = setting(16, n=6)
    K = similarity_kernel(P, "bhattacharyya")
    E = rng.dirichlet(np.ones(4), size=6)
    tilde, hidden = disintegrate(K, law, E.reshape(6, 2, 2))
    flat_tilde, _ = disintegrate(K, law, E)
    np.testing.assert_allclose(tilde, flat_tilde, atol=1e-15)
    np.testing.assert_allclose(hidden, law @ E, atol=1e-15)
    assert tilde.shape == (4, 4)
