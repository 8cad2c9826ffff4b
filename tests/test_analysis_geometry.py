"""Pullback Fisher–Rao metric (§6), its spectrum, Thm 6.1, Prop 6.3, Thm 7.1 and Cor 7.2."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings, strategies as st
from scipy.special import softmax

from catlm.analysis import (anisotropy, approximation_bounds, averaged_spectrum, fisher_rao_distance,
                            local_kl_ratio, metric_matvec, metric_rank, path_bound, predicted_rank,
                            pullback_metric, top_eigenpairs)

SEEDS = st.integers(0, 2 ** 32 - 1)


def head(seed, V=7, d=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(V, d)), rng.normal(size=d), rng.normal(size=V)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_closed_form_equals_expected_score_outer_product(seed):
    """Remark 6.2: g*(h) = E_{w∼p}[∇ log p(w) ∇ log p(w)ᵀ]."""
    W, h, b = head(seed)
    p = softmax(W @ h + b)
    scores = W - p @ W                                   # row w: ∇_h log p_h(w)
    expected = sum(p[w] * np.outer(scores[w], scores[w]) for w in range(len(W)))
    np.testing.assert_allclose(pullback_metric(W, h, b), expected, atol=1e-12)


def test_closed_form_equals_finite_difference_pullback():
    """g* = Jᵀ diag(1/p) J with J = ∂p/∂h by central differences (simplex Fisher–Rao metric)."""
    W, h, b = head(1)
    eps = 1e-6
    J = np.column_stack([(softmax(W @ (h + eps * e) + b) - softmax(W @ (h - eps * e) + b)) / (2 * eps)
                         for e in np.eye(len(h))])
    p = softmax(W @ h + b)
    np.testing.assert_allclose(pullback_metric(W, h, b), J.T @ (J / p[:, None]), atol=1e-8)


def test_batches_bias_and_matvec():
    W, h, b = head(2)
    hs = np.random.default_rng(3).normal(size=(5, 4))
    batch = pullback_metric(W, hs)
    for G, hi in zip(batch, hs):
        np.testing.assert_allclose(G, pullback_metric(W, hi), atol=1e-14)
    p = softmax(W @ h + b)
    G = pullback_metric(W, h, b)
    vs = np.random.default_rng(4).normal(size=(4, 3))
    np.testing.assert_allclose(metric_matvec(W, p, vs), G @ vs, atol=1e-12)
    np.testing.assert_allclose(metric_matvec(W, p, vs[:, 0]), G @ vs[:, 0], atol=1e-12)


def test_bias_does_not_enter_except_through_p():
    W, h, _ = head(5)
    shift = np.full(len(W), 3.7)                        # a constant shift leaves p unchanged
    np.testing.assert_allclose(pullback_metric(W, h, shift), pullback_metric(W, h), atol=1e-13)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_local_kl_ratio_tends_to_one(direction):
    """Thm 6.1: KL(p_{h+εv} ‖ p_h) = ½ ε² vᵀ g* v + O(ε³)."""
    W, h, b = head(6, V=50, d=8)
    v = np.random.default_rng(7).normal(size=8)
    errors = [abs(local_kl_ratio(W, h, v, eps, b, direction) - 1) for eps in (1e-1, 1e-2, 1e-3)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-2
    assert abs(local_kl_ratio(W, h, v, 1e-4, b, direction) - 1) < 1e-3


def test_rank_bound_and_equality_pattern():
    rng = np.random.default_rng(8)
    W = rng.normal(size=(20, 5))
    p = softmax(W @ rng.normal(size=5))
    assert metric_rank(W, p) == predicted_rank(W) == 5           # 1 ∉ col W
    W_ones = np.column_stack([W[:, :4], np.ones(20)])
    assert metric_rank(W_ones, softmax(W_ones @ rng.normal(size=5))) == predicted_rank(W_ones) == 4
    wide = rng.normal(size=(4, 9))                              # V − 1 = 3 < d
    assert metric_rank(wide, softmax(wide @ rng.normal(size=9))) == 3 == min(9, 4 - 1)
    sparse_p = np.array([0.5, 0.5] + [0.0] * 18)                # rank also drops with the support
    assert metric_rank(W, sparse_p) == 1


def test_lanczos_matches_dense_eigh_at_small_v():
    rng = np.random.default_rng(9)
    W = rng.normal(size=(300, 32))
    p = softmax(W @ rng.normal(size=32))
    values, vectors = top_eigenpairs(W, p, 6)
    dense_values, dense_vectors = np.linalg.eigh(_dense(W, p))
    np.testing.assert_allclose(values, dense_values[::-1][:6], rtol=1e-9)
    overlaps = np.abs(np.sum(vectors * dense_vectors[:, ::-1][:, :6], axis=0))
    np.testing.assert_allclose(overlaps, 1.0, atol=1e-6)


def _dense(W, p):
    return W.T @ (np.diag(p) - np.outer(p, p)) @ W


def test_lanczos_at_gpt2_vocabulary_size():
    """V = 50,257 and d = 64 without forming V×V; top-5 checked against Wᵀ(diag p − ppᵀ)W."""
    rng = np.random.default_rng(10)
    W = rng.normal(size=(50_257, 64)) / 8
    p = softmax(W @ rng.normal(size=64))
    values, _ = top_eigenpairs(W, p, 5)
    mean = W.T @ p
    dense = (W.T * p) @ W - np.outer(mean, mean)
    np.testing.assert_allclose(values, np.linalg.eigvalsh(dense)[::-1][:5], rtol=1e-8)


def test_anisotropy_summaries():
    summary = anisotropy(np.diag([1.0, 4.0, 0.0]))
    assert summary.numerical_rank == 2 and summary.condition_number == pytest.approx(4.0)
    assert summary.top_share == pytest.approx(0.8)
    assert summary.effective_rank == pytest.approx(math.exp(-(0.8 * math.log(0.8) + 0.2 * math.log(0.2))))
    W, _, _ = head(11)
    hs = np.random.default_rng(12).normal(size=(6, 4))
    np.testing.assert_allclose(averaged_spectrum(W, hs),
                               np.linalg.eigvalsh(np.mean([_dense(W, softmax(W @ x)) for x in hs], 0))[::-1],
                               atol=1e-12)


def test_fisher_rao_distance():
    assert fisher_rao_distance([1, 0], [0, 1]) == pytest.approx(math.pi)
    assert fisher_rao_distance([0.3, 0.7], [0.3, 0.7]) == pytest.approx(0, abs=1e-7)
    p, q = [0.2, 0.8], [0.6, 0.4]
    # on two points the simplex is an arc: d = 2 |arcsin√p1 − arcsin√q1| (sphere of radius 2)
    assert fisher_rao_distance(p, q) == pytest.approx(2 * abs(math.asin(math.sqrt(0.2)) - math.asin(math.sqrt(0.6))))


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, scale=st.sampled_from([0.1, 1.0, 3.0]))
def test_path_bound(seed, scale):
    """Cor. 7.2: d_FR(p_x, p_x') ≤ ∫₀¹ √(Δᵀ g*(h_t) Δ) dt along the straight segment."""
    W, h, b = head(seed, V=9, d=3)
    other = h + scale * np.random.default_rng(seed + 1).normal(size=3)
    bound = path_bound(W, h, other, b)
    assert bound.distance <= bound.length + 1e-9


def test_path_length_is_the_distance_on_a_geodesic_free_direction():
    """With V = 2 the image of a line is the whole 1-D simplex, so the bound is an equality."""
    W = np.array([[1.0], [-1.0]])
    bound = path_bound(W, np.array([-1.0]), np.array([2.0]), points=128)
    assert bound.length == pytest.approx(bound.distance, rel=1e-10)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_thm_7_1_bounds(seed):
    rng = np.random.default_rng(seed)
    law = rng.dirichlet(np.ones(5))
    P, Q = rng.dirichlet(np.ones(6), size=5), rng.dirichlet(np.ones(6), size=5)
    bounds = approximation_bounds(law, P, Q)
    assert bounds.tv_squared == pytest.approx(law @ (0.5 * np.abs(P - Q).sum(1)) ** 2)
    assert bounds.tv_squared <= bounds.kl / 2 + 1e-12                      # Pinsker
    assert bounds.hellinger_squared <= bounds.kl / 2 + 1e-12               # H² = 1 − BC
    assert bounds.pairwise_excess_tv <= 1e-12 and bounds.pairwise_excess_hellinger <= 1e-12
    # the fields against loops over pairs (no catlm code)
    tv = lambda a, b: 0.5 * np.abs(a - b).sum()
    hel = lambda a, b: math.sqrt(max(1 - np.sqrt(a * b).sum(), 0.0))
    for distance, excess in ((tv, bounds.pairwise_excess_tv), (hel, bounds.pairwise_excess_hellinger)):
        gaps = [abs(distance(Q[i], Q[j]) - distance(P[i], P[j])) - distance(P[i], Q[i]) - distance(P[j], Q[j])
                for i in range(5) for j in range(5)]
        assert excess == pytest.approx(max(gaps), abs=1e-7)    # √ of a rounding error at i = j
    assert bounds.hellinger_squared == pytest.approx(law @ [hel(p, q) ** 2 for p, q in zip(P, Q)], abs=1e-12)
    assert bounds.kl == pytest.approx(law @ [np.sum(p * np.log(p / q)) for p, q in zip(P, Q)], rel=1e-12)


def test_thm_7_1_pairwise_bound_is_attained():
    """P_x = P_x', Q_x = P_x and Q_x' = P_x' moved by ε: |d(Q_x, Q_x') − d(P_x, P_x')| = ε_x' =
    ε_x + ε_x', so the excess is exactly 0 (a bound twice as loose would report −ε)."""
    P = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])
    Q = np.array([[0.5, 0.3, 0.2], [0.4, 0.3, 0.3]])
    bounds = approximation_bounds([0.5, 0.5], P, Q)
    assert bounds.pairwise_excess_tv == pytest.approx(0.0, abs=1e-15)
    assert bounds.pairwise_excess_hellinger == pytest.approx(0.0, abs=1e-15)
    assert bounds.tv_squared == pytest.approx(0.5 * 0.1 ** 2, abs=1e-15)      # ε = 0.1 on half the law


@pytest.mark.parametrize("name, curvature", [("kl", 1.0), ("chi2", 2.0), ("hellinger", 0.25), ("js", 0.25),
                                             ("renyi", 3.0)])
def test_thm_6_1_for_f_divergences(name, curvature):
    """D(p_{h+εv} ‖ p_h) / (½ f''(1) ε² vᵀg*v) → 1 with error O(ε); vᵀg*v = Var_p(⟨W_w, v⟩) by hand
    and D by the textbook formula, so both sides are independent of catlm."""
    from catlm.analysis.geometry import local_divergence_ratio
    rng = np.random.default_rng(11)
    W, h, v = rng.normal(size=(7, 3)), rng.normal(size=3), rng.normal(size=3)
    soft = lambda x: np.exp(W @ x - (W @ x).max()) / np.exp(W @ x - (W @ x).max()).sum()
    formulas = {"kl": lambda p, q: np.sum(p * np.log(p / q)), "chi2": lambda p, q: np.sum((p - q) ** 2 / q),
                "hellinger": lambda p, q: 0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2),
                "js": lambda p, q: 0.5 * np.sum(p * np.log(2 * p / (p + q))) + 0.5 * np.sum(q * np.log(2 * q / (p + q))),
                "renyi": lambda p, q: np.log(np.sum(p ** 3 * q ** -2)) / 2}
    p = soft(h)
    score = W @ v
    variance = p @ score ** 2 - (p @ score) ** 2
    for eps in (1e-2, 1e-3):
        oracle = formulas[name](soft(h + eps * v), p) / (0.5 * curvature * eps ** 2 * variance)
        ratio = local_divergence_ratio(W, h, v, eps, name, alpha=3.0 if name == "renyi" else None)
        assert ratio == pytest.approx(oracle, rel=1e-6)
        assert abs(ratio - 1) < 50 * eps
    from catlm.errors import SpecError
    with pytest.raises(SpecError, match="no local quadratic form"):
        local_divergence_ratio(W, h, v, 1e-3, "tv")


def test_head_weighted_covariance_in_its_three_readings():
    from catlm.analysis.geometry import head_weighted_covariance
    rng = np.random.default_rng(12)
    W, hs, law = rng.normal(size=(6, 3)), rng.normal(size=(5, 3)), rng.dirichlet(np.ones(5))

    def metric(h):                       # g*(h) = Cov_{w∼p_h}[W_w] by the definition
        p = np.exp(W @ h) / np.exp(W @ h).sum()
        mean = p @ W
        return sum(p[w] * np.outer(W[w] - mean, W[w] - mean) for w in range(6))

    metrics = [metric(h) for h in hs]
    kron = sum(law[i] * np.kron(np.outer(hs[i], hs[i]), metrics[i]) for i in range(5))
    np.testing.assert_allclose(head_weighted_covariance(W, hs, law, form="kronecker"), kron, atol=1e-12)
    mean = law @ hs
    roots = [scipy.linalg.sqrtm(G).real for G in metrics]
    sandwich = sum(law[i] * roots[i] @ np.outer(hs[i] - mean, hs[i] - mean) @ roots[i] for i in range(5))
    np.testing.assert_allclose(head_weighted_covariance(W, hs, law, form="sandwich"), sandwich, atol=1e-8)
    G_bar = scipy.linalg.sqrtm(sum(law[i] * metrics[i] for i in range(5))).real
    cov = sum(law[i] * np.outer(hs[i] - mean, hs[i] - mean) for i in range(5))
    np.testing.assert_allclose(head_weighted_covariance(W, hs, law, form="averaged"), G_bar @ cov @ G_bar, atol=1e-8)
