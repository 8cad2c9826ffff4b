"""[OPS] The quadratic surrogate of the log-partition, its curvatures β, CCA and the cross-covariances,
against hand computations, closed forms on 2 x 2 cases and CCA by whitening + SVD written here."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from catlm.analysis.surrogate import (cca, cross_covariances, log_partition, quadratic_surrogate,
                                      surrogate_beta)
from catlm.errors import KernelError, SpecError

U3 = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])


def test_log_partition_is_the_log_of_the_sum_of_exponentials():
    h, bias = np.array([0.3, -0.2]), np.array([0.5, 0.0, -1.0])
    assert log_partition(U3, h) == pytest.approx(math.log(math.exp(0.3) + math.exp(-0.2) + math.exp(-0.1)))
    assert log_partition(U3, h, bias) == pytest.approx(
        math.log(math.exp(0.8) + math.exp(-0.2) + math.exp(-1.1)))
    assert log_partition([[1, 2]], [3, 4]) == pytest.approx(11.0)       # integer inputs


def test_beta_b2_is_the_largest_squared_norm_of_a_row():
    U = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, -2.0]])
    assert surrogate_beta(U, "b2") == 25.0
    assert surrogate_beta(U) == 25.0                                    # the default
    assert surrogate_beta([[0, 1], [2, 0]]) == 4.0


def test_beta_bohning_is_half_the_top_eigenvalue_of_the_centred_gram_matrix():
    """½ λ_max(U_cᵀ U_c) with U_c the rows minus their mean: U3 is centred, U3ᵀU3 = [[2, 1], [1, 2]]
    has λ_max = 3; for rows (4, 0), (0, 0), (0, 2), (0, 1) the centred Gram is [[12, −3], [−3, 2.75]]."""
    assert surrogate_beta(U3, "bohning") == pytest.approx(1.5)
    U = np.array([[4.0, 0.0], [0.0, 0.0], [0.0, 2.0], [0.0, 1.0]])
    G = np.array([[12.0, -3.0], [-3.0, 2.75]])
    top = (G[0, 0] + G[1, 1]) / 2 + math.sqrt(((G[0, 0] - G[1, 1]) / 2) ** 2 + G[0, 1] ** 2)
    assert surrogate_beta(U, "bohning") == pytest.approx(top / 2, rel=1e-12)


def test_an_unknown_beta_is_refused_with_the_choices():
    with pytest.raises(SpecError, match=r"^unknown beta 'b3'; choose from b2, bohning$"):
        surrogate_beta(U3, "b3")


def test_the_surrogate_at_h0_zero_of_the_identity_head():
    """U = I₂, h₀ = 0: A(0) = log 2, ∇A(0) = (½, ½), β = 1 (b2), so the bound is
    log 2 + (h₁ + h₂)/2 + ‖h‖²/2."""
    h = np.array([1.0, -2.0])
    expected = math.log(2) + (1 - 2) / 2 + (1 + 4) / 2
    assert quadratic_surrogate(np.eye(2), h, np.zeros(2)) == pytest.approx(expected, rel=1e-14)
    assert quadratic_surrogate(np.eye(2), h, np.zeros(2), beta=3.0) == pytest.approx(
        expected + (3.0 - 1.0) * 5 / 2, rel=1e-14)


def test_the_surrogate_with_a_bias_and_h0_written_out():
    h0, h, bias, beta = np.array([0.5, -1.0]), np.array([1.5, 0.0]), np.array([0.2, -0.3, 0.1]), 0.7
    logits = [0.5 + 0.2, -1.0 - 0.3, 0.5 + 0.1]                        # U3 h₀ + b
    weights = [math.exp(z) for z in logits]
    p = [w / sum(weights) for w in weights]
    gradient = [p[0] - p[2], p[1] - p[2]]                               # U3ᵀ p
    step = [1.0, 1.0]
    expected = math.log(sum(weights)) + gradient[0] * step[0] + gradient[1] * step[1] + 0.5 * beta * 2
    assert quadratic_surrogate(U3, h, h0, beta, bias) == pytest.approx(expected, rel=1e-14)
    assert quadratic_surrogate(U3, h0, h0, beta, bias) == pytest.approx(log_partition(U3, h0, bias))
    assert log_partition(U3, h, bias) <= quadratic_surrogate(U3, h, h0, surrogate_beta(U3), bias)


def whitened_svd_cca(S_ff, S_fp, S_pp):
    """CCA the textbook way: Σ_φφ^{-½} Σ_φψ Σ_ψψ^{-½} = Q diag ρ Rᵀ, A = Σ_φφ^{-½} Q, B = Σ_ψψ^{-½} R."""
    def inv_root(S):
        values, vectors = scipy.linalg.eigh(S)
        return vectors @ np.diag(values ** -0.5) @ vectors.T
    Q, rho, Rt = scipy.linalg.svd(inv_root(S_ff) @ S_fp @ inv_root(S_pp))
    return rho, inv_root(S_ff) @ Q, inv_root(S_pp) @ Rt.T


def same_up_to_sign(X, Y):
    signs = np.sign(np.sum(X * Y, axis=0))
    np.testing.assert_allclose(X * signs, Y, atol=1e-9)
    return signs


def test_cca_of_a_diagonal_2x2_case():
    """Σ_φφ = diag(4, 1), Σ_ψψ = I, Σ_φψ = diag(1.6, 0.3): ρ = (0.8, 0.3), A = diag(½, 1), B = I
    up to the signs of the pairs."""
    result = cca(np.diag([4.0, 1.0]), np.diag([1.6, 0.3]), np.eye(2), 2)
    np.testing.assert_allclose(result.correlations, [0.8, 0.3], atol=1e-12)
    signs = same_up_to_sign(result.A, np.diag([0.5, 1.0]))
    np.testing.assert_allclose(result.B * signs, np.eye(2), atol=1e-9)
    one = cca(np.diag([4.0, 1.0]), np.diag([1.6, 0.3]), np.eye(2), 1)
    assert one.correlations.shape == (1,) and one.A.shape == (2, 1) and one.B.shape == (2, 1)
    assert one.correlations[0] == pytest.approx(0.8)


@pytest.mark.parametrize("p, q, k", [(4, 3, 3), (3, 5, 2), (2, 2, 1)])
def test_cca_equals_whitening_and_svd(p, q, k):
    rng = np.random.default_rng(p * 10 + q)
    Z = rng.standard_normal((200, p + q)) @ rng.standard_normal((p + q, p + q))
    S = Z.T @ Z / 200
    S_ff, S_fp, S_pp = S[:p, :p], S[:p, p:], S[p:, p:]
    rho, A, B = whitened_svd_cca(S_ff, S_fp, S_pp)
    result = cca(S_ff, S_fp, S_pp, k)
    np.testing.assert_allclose(result.correlations, rho[:k], rtol=1e-9)
    signs = same_up_to_sign(result.A, A[:, :k])
    np.testing.assert_allclose(result.B * signs, B[:, :k], atol=1e-9)     # pairs keep their sign


def test_cca_refuses_k_outside_one_to_the_smaller_side():
    S = np.eye(3)
    for k in (0, 3):
        with pytest.raises(SpecError, match=rf"^k={k} canonical pairs requested; choose 1 <= k <= 2$"):
            cca(S, np.ones((3, 2)) * 0.1, np.eye(2), k)
    assert len(cca(S, np.ones((3, 2)) * 0.1, np.eye(2), 2).correlations) == 2


def test_exact_fractions_are_read_as_floats():
    """Every function reads Fraction (object) arrays as floats, as it reads float arrays."""
    from fractions import Fraction
    exact = lambda a: np.array(a, dtype=object) * Fraction(1)          # noqa: E731
    U, h, h0 = np.array([[1.0, 0.5], [0.0, 1.0], [-1.0, -1.0]]), np.array([0.25, -0.5]), np.array([0.5, 0.0])
    assert log_partition(exact(U), exact(h)) == pytest.approx(log_partition(U, h), rel=1e-15)
    assert log_partition(U, exact(h)) == pytest.approx(log_partition(U, h), rel=1e-15)
    for kind in ("b2", "bohning"):
        assert surrogate_beta(exact(U), kind) == pytest.approx(surrogate_beta(U, kind), rel=1e-15)
    assert quadratic_surrogate(exact(U), exact(h), exact(h0)) == pytest.approx(quadratic_surrogate(U, h, h0))
    S_ff, S_fp, S_pp = np.diag([4.0, 1.0]), np.array([[1.0, 0.5], [0.25, 0.25]]), np.eye(2)
    found = cca(exact(S_ff), exact(S_fp), exact(S_pp), 2)
    np.testing.assert_allclose(found.correlations, cca(S_ff, S_fp, S_pp, 2).correlations, rtol=1e-12)
    law, P = np.array([0.5, 0.5]), np.array([[0.5, 0.5], [0.25, 0.75]])
    phi, psi = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([[1.0], [3.0]])
    for found, expected in zip(cross_covariances(law, P, exact(phi), exact(psi)),
                               cross_covariances(law, P, phi, psi)):
        assert found.dtype == np.float64
        np.testing.assert_allclose(found, expected, rtol=1e-15)


def covariances_by_loops(law, P, phi, psi, center):
    """Σ_φφ, Σ_φψ, Σ_ψψ as sums over contexts x and tokens w of products of (centred) features."""
    token_law = [sum(law[x] * P[x, w] for x in range(len(law))) for w in range(P.shape[1])]
    if center:
        phi = phi - sum(law[x] * phi[x] for x in range(len(law)))
        psi = psi - sum(token_law[w] * psi[w] for w in range(len(psi)))
    S_ff = sum(law[x] * np.outer(phi[x], phi[x]) for x in range(len(law)))
    S_fp = sum(law[x] * P[x, w] * np.outer(phi[x], psi[w]) for x in range(len(law)) for w in range(len(psi)))
    S_pp = sum(token_law[w] * np.outer(psi[w], psi[w]) for w in range(len(psi)))
    return S_ff, S_fp, S_pp


@pytest.mark.parametrize("center", [True, False])
def test_cross_covariances_against_sums_over_contexts_and_tokens(center):
    rng = np.random.default_rng(5)
    law, P = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(3), size=4)
    phi, psi = rng.standard_normal((4, 2)), rng.standard_normal((3, 2)) + 1.0
    for found, expected in zip(cross_covariances(law, P, phi, psi, center),
                               covariances_by_loops(law, P, phi, psi, center)):
        np.testing.assert_allclose(found, expected, atol=1e-13)
    if center:
        for found, expected in zip(cross_covariances(law, P, phi, psi), covariances_by_loops(law, P, phi, psi, True)):
            np.testing.assert_allclose(found, expected, atol=1e-13)


def test_cross_covariances_name_the_bad_argument():
    P = np.array([[0.5, 0.5], [1.0, 0.0]])
    with pytest.raises(KernelError, match="^data kernel is not a Markov kernel"):
        cross_covariances([0.5, 0.5], [[0.5, 0.6], [1.0, 0.0]], np.eye(2), np.eye(2))
    with pytest.raises(KernelError, match="^context law is not a Markov kernel"):
        cross_covariances([0.5, 0.6], P, np.eye(2), np.eye(2))
    with pytest.raises(KernelError, match="^context law has 3 entries but 2"):
        cross_covariances([0.2, 0.3, 0.5], P, np.eye(2), np.eye(2))
