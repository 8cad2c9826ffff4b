"""Pullback Fisher–Rao metric (§6), its spectrum, Thm 6.1, Prop 6.3, Thm 7.1 and Cor 7.2."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings, strategies as st
from scipy.special import softmax

from catlm.analysis import (Anisotropy, anisotropy, approximation_bounds, averaged_metric,
                            averaged_spectrum, fisher_rao_distance, head_weighted_covariance,
                            local_divergence_ratio, local_kl_ratio, mean_anisotropy, metric_matvec,
                            metric_rank, path_bound, predicted_rank, pullback_metric, top_eigenpairs)
from catlm.errors import KernelError, SpecError

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
    with pytest.raises(SpecError, match="no local quadratic form"):
        local_divergence_ratio(W, h, v, 1e-3, "tv")


def test_head_weighted_covariance_in_its_three_readings():
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


def _metric_by_hand(W, h, bias=None):
    """g*(h) = Σ_w p(w) (W_w − W̄)(W_w − W̄)ᵀ with p = softmax(W h + b), by a loop over tokens."""
    logits = W @ h + (0.0 if bias is None else bias)
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    mean = p @ W
    return sum(p[w] * np.outer(W[w] - mean, W[w] - mean) for w in range(len(W)))


def test_top_eigenpairs_for_every_k_on_the_lanczos_and_the_dense_path():
    """k = 1 … d against the dense eigh: Lanczos for k < d − 1 (k = 7 asks for more than ARPACK's
    default of 6), the dense d × d metric for k ≥ d − 1."""
    rng = np.random.default_rng(20)
    W = rng.normal(size=(12, 9))
    p = softmax(W @ rng.normal(size=9))
    dense_values, dense_vectors = np.linalg.eigh(_dense(W, p))
    for k in range(1, 10):
        values, vectors = top_eigenpairs(W, p, k)
        np.testing.assert_allclose(values, dense_values[::-1][:k], rtol=1e-9)
        overlaps = np.abs(np.sum(vectors * dense_vectors[:, ::-1][:, :k], axis=0))
        np.testing.assert_allclose(overlaps, 1.0, atol=1e-6)
    for k in (0, 10):
        with pytest.raises(SpecError) as err:
            top_eigenpairs(W, p, k)
        assert err.value.message == f"k={k} eigenpairs requested of a 9×9 metric; choose 1 <= k <= 9"
    with pytest.raises(KernelError, match="^head state has 11 entries but 12 are needed"):
        top_eigenpairs(W, p[:11] / p[:11].sum(), 2)


def test_metric_rank_with_an_explicit_tolerance():
    rng = np.random.default_rng(21)
    W = rng.normal(size=(10, 5))
    p = softmax(W @ rng.normal(size=5))
    singular = np.linalg.svd(_dense(W, p), compute_uv=False)
    tol = (singular[2] + singular[3]) / 2                 # between the 3rd and 4th singular value
    assert metric_rank(W, p, tol) == 3
    assert metric_rank(W, p) == 5


def test_anisotropy_at_its_edges():
    """Summaries written out by hand: eigenvalues given as a vector (unsorted), rank one, the zero
    metric, a spectrum below 1, the cut λ ≤ rtol·λ₁ and a rounding-negative eigenvalue."""
    three = anisotropy(np.array([2.0, 8.0, 1.0]))
    share = np.array([8.0, 2.0, 1.0]) / 11
    assert (three.numerical_rank, three.condition_number) == (3, 8.0)
    assert three.top_share == pytest.approx(8 / 11)
    assert three.effective_rank == pytest.approx(math.exp(-sum(s * math.log(s) for s in share)))
    assert anisotropy(np.array([3.0, 0.0, 0.0])) == Anisotropy(1, 1.0, 1.0, 1.0)
    zero = anisotropy(np.zeros((3, 3)))
    assert zero.numerical_rank == 0 and zero.effective_rank == 0.0
    assert math.isnan(zero.condition_number) and math.isnan(zero.top_share)
    small = anisotropy(np.diag([0.5, 0.25]))
    assert (small.numerical_rank, small.condition_number) == (2, pytest.approx(2.0))
    assert anisotropy(np.array([1.0, 1e-10])).numerical_rank == 1          # λ ≤ rtol·λ₁ counts as 0
    assert anisotropy(np.array([4.0, 2e-10])).numerical_rank == 1
    assert anisotropy(np.array([4.0, 5e-10])).numerical_rank == 2
    assert anisotropy(np.array([1.0, 1e-3]), rtol=1e-2).numerical_rank == 1
    rounded = anisotropy(np.array([4.0, 1.0, -1e-17]))
    assert (rounded.numerical_rank, rounded.condition_number) == (2, 4.0)


def test_mean_anisotropy_weighs_each_summary_by_the_law():
    # summaries by hand: (2, 4, e^H(0.8, 0.2), 0.8) and (3, 1, 3, 1/3)
    metrics = np.array([np.diag([4.0, 1.0, 0.0]), 2 * np.eye(3)])
    entropy = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))
    expected = lambda a, b: {"numerical_rank": 2 * a + 3 * b, "condition_number": 4 * a + 1 * b,
                             "effective_rank": math.exp(entropy) * a + 3 * b, "top_share": 0.8 * a + b / 3}
    for law, (a, b) in ((None, (0.5, 0.5)), ([0.25, 0.75], (0.25, 0.75))):
        means = mean_anisotropy(metrics, law)
        assert means.keys() == expected(a, b).keys()
        for name, value in expected(a, b).items():
            assert means[name] == pytest.approx(value, rel=1e-12), name
    with pytest.raises(KernelError, match="^context law has 3 entries but 2 are needed"):
        mean_anisotropy(metrics, [0.2, 0.3, 0.5])


def test_averaged_metric_and_spectrum_with_a_law_and_a_bias():
    W, _, b = head(22)
    rng = np.random.default_rng(23)
    hs, law = rng.normal(size=(4, 4)), rng.dirichlet(np.ones(4))
    expected = sum(law[i] * _metric_by_hand(W, hs[i], b) for i in range(4))
    np.testing.assert_allclose(averaged_metric(W, hs, law, b), expected, atol=1e-13)
    np.testing.assert_allclose(averaged_spectrum(W, hs, law, b), np.sort(np.linalg.eigvalsh(expected))[::-1],
                               atol=1e-13)
    np.testing.assert_allclose(averaged_metric(W, hs[0], bias=b), _metric_by_hand(W, hs[0], b), atol=1e-13)
    with pytest.raises(KernelError, match="^context law has 3 entries but 4 are needed"):
        averaged_metric(W, hs, [0.2, 0.3, 0.5])


def test_local_kl_ratio_against_the_exact_kl_with_and_without_a_bias():
    """At ε = 0.3 the ratio is far from 1 and depends on the sign of the step, so the exact
    KL(p_{h+εv} ‖ p_h) / (½ ε² Var_p⟨W_w, v⟩) written out here pins it; forward is the default."""
    W, h, b = head(24)
    v = np.random.default_rng(25).normal(size=4)
    eps = 0.3

    def oracle(bias, reverse):
        soft = lambda x: np.exp(W @ x + bias) / np.exp(W @ x + bias).sum()
        p, moved = soft(h), soft(h + eps * v)
        a, c = (p, moved) if reverse else (moved, p)
        variance = p @ (W @ v) ** 2 - (p @ (W @ v)) ** 2
        return np.sum(a * np.log(a / c)) / (0.5 * eps ** 2 * variance)

    for bias in (b, None):
        zero = np.zeros(7) if bias is None else bias
        assert local_kl_ratio(W, h, v, eps, bias) == pytest.approx(oracle(zero, False), rel=1e-10)
        assert local_kl_ratio(W, h, v, eps, bias, "reverse") == pytest.approx(oracle(zero, True), rel=1e-10)
    assert abs(oracle(b, False) - 1) > 1e-2                       # far enough from the limit to tell
    with pytest.raises(SpecError) as err:
        local_kl_ratio(W, h, v, eps, b, "sideways")
    assert err.value.message == "unknown direction 'sideways'; choose from forward, reverse"


def test_local_divergence_ratio_defaults_to_kl_and_moves_both_states_by_the_bias():
    W, h, b = head(26)
    v = np.random.default_rng(27).normal(size=4)
    eps = 0.3
    soft = lambda x: np.exp(W @ x + b) / np.exp(W @ x + b).sum()
    p, moved = soft(h), soft(h + eps * v)
    variance = p @ (W @ v) ** 2 - (p @ (W @ v)) ** 2
    expected = np.sum(moved * np.log(moved / p)) / (0.5 * eps ** 2 * variance)
    assert local_divergence_ratio(W, h, v, eps, bias=b) == pytest.approx(expected, rel=1e-10)
    with pytest.raises(SpecError) as err:
        local_divergence_ratio(W, h, v, eps, "tv")
    assert err.value.message == ("divergence 'tv' has no local quadratic form; "
                                 "choose from chi2, hellinger, js, kl, renyi")


def test_head_weighted_covariance_defaults_bias_and_refusals():
    """The default is the sandwich reading under the uniform law; the bias moves every g*(h)."""
    W, _, b = head(28, V=6, d=3)
    hs = np.random.default_rng(29).normal(size=(5, 3))
    mean = hs.mean(axis=0)
    roots = [scipy.linalg.sqrtm(_metric_by_hand(W, x, b)).real for x in hs]
    sandwich = sum(r @ np.outer(x - mean, x - mean) @ r for r, x in zip(roots, hs)) / 5
    np.testing.assert_allclose(head_weighted_covariance(W, hs, bias=b), sandwich, atol=1e-8)
    with pytest.raises(KernelError, match="^context law has 3 entries but 5 are needed"):
        head_weighted_covariance(W, hs, [0.2, 0.3, 0.5])
    with pytest.raises(SpecError) as err:
        head_weighted_covariance(W, hs, form="tensor")
    assert err.value.message == "unknown form 'tensor'; choose from averaged, kronecker, sandwich"


def test_head_weighted_covariance_of_a_rank_one_metric():
    """V = 2 tokens: g*(h) = a aᵀ with a = √(p₀ p₁)(W₀ − W₁), so g*^½ = a aᵀ / ‖a‖ in closed form;
    the eigenvalues that are 0 in exact arithmetic come out of eigh slightly negative and must not
    turn into NaN."""
    W = np.array([[1.0, -2.0, 0.5], [0.3, 0.4, -1.0]])
    hs = np.random.default_rng(30).normal(size=(6, 3))
    law = np.random.default_rng(31).dirichlet(np.ones(6))

    def root(x):
        p0 = 1 / (1 + np.exp((W[1] - W[0]) @ x))
        a = math.sqrt(p0 * (1 - p0)) * (W[0] - W[1])
        return np.outer(a, a) / np.linalg.norm(a)

    mean = law @ hs
    sandwich = sum(law[i] * root(hs[i]) @ np.outer(hs[i] - mean, hs[i] - mean) @ root(hs[i])
                   for i in range(6))
    np.testing.assert_allclose(head_weighted_covariance(W, hs, law), sandwich, atol=1e-12)
    a_bar = sum(law[i] * root(hs[i]) @ root(hs[i]) for i in range(6))      # Ḡ, rank one as well
    u = W[0] - W[1]
    G_root = np.outer(u, u) * math.sqrt(u @ a_bar @ u) / (u @ u) ** 1.5
    cov = sum(law[i] * np.outer(hs[i] - mean, hs[i] - mean) for i in range(6))
    np.testing.assert_allclose(head_weighted_covariance(W, hs, law, form="averaged"), G_root @ cov @ G_root,
                               atol=1e-12)


def test_fisher_rao_distance_edges_and_refusals():
    P = np.random.default_rng(0).dirichlet(np.ones(4), size=200)
    above = [p for p in P if np.sum(np.sqrt(p * p)) > 1]            # BC(p, p) rounds to 1 + 2⁻⁵²
    assert above
    assert all(fisher_rao_distance(p, p) == 0.0 for p in above)
    with pytest.raises(KernelError, match="^second state has 2 entries but 3 are needed"):
        fisher_rao_distance([0.2, 0.3, 0.5], [0.5, 0.5])
    with pytest.raises(KernelError, match="^first state is not a Markov kernel: row 0 sums to 1.1"):
        fisher_rao_distance([0.6, 0.5], [0.5, 0.5])
    with pytest.raises(KernelError, match="^second state is not a Markov kernel: row 0 sums to 0.9"):
        fisher_rao_distance([0.5, 0.5], [0.5, 0.4])


def test_path_length_is_64_node_gauss_legendre_by_default():
    """The documented default: the length equals the 64-node Gauss–Legendre sum written out here,
    on a steep path where 64 and 65 nodes differ."""
    rng = np.random.default_rng(32)
    W, h0, h1 = 20 * rng.normal(size=(5, 2)), rng.normal(size=2), rng.normal(size=2)

    def speed(t):                                  # √Var_{w∼p_t}⟨W_w, Δ⟩ along h_t
        logits = W @ (h0 + t * (h1 - h0))
        p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        scores = W @ (h1 - h0)
        return math.sqrt(p @ (scores - p @ scores) ** 2)

    def length(points):
        nodes, weights = np.polynomial.legendre.leggauss(points)
        return sum(w * speed((x + 1) / 2) for x, w in zip(nodes, weights)) / 2

    assert abs(length(64) - length(65)) > 1e-6
    assert path_bound(W, h0, h1).length == pytest.approx(length(64), rel=1e-13)


def test_approximation_bounds_refusals_and_the_support_of_the_law():
    """The pairwise excess is a max over pairs of contexts of positive law only: a context of law 0
    where Q = P would contribute a gap of exactly 0."""
    rng = np.random.default_rng(33)
    P, Q = rng.dirichlet(np.ones(4), size=3), rng.dirichlet(np.ones(4), size=3)
    Q[2] = P[2]
    law = np.array([0.5, 0.5, 0.0])
    bounds = approximation_bounds(law, P, Q)
    tv = lambda a, c: 0.5 * np.abs(a - c).sum()
    hel = lambda a, c: math.sqrt(max(1 - np.sqrt(a * c).sum(), 0.0))
    for distance, excess in ((tv, bounds.pairwise_excess_tv), (hel, bounds.pairwise_excess_hellinger)):
        gaps = [abs(distance(Q[i], Q[j]) - distance(P[i], P[j])) - distance(P[i], Q[i]) - distance(P[j], Q[j])
                for i in range(2) for j in range(2)]
        assert excess == pytest.approx(max(gaps), abs=1e-7)
        assert excess < -1e-3                                    # the context of law 0 would give 0
    with pytest.raises(KernelError, match="^data kernel is not a Markov kernel: row 1 sums to 1.1"):
        approximation_bounds([0.5, 0.5], [[0.5, 0.5], [0.6, 0.5]], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(KernelError, match="^model kernel is not a Markov kernel: row 0 sums to 0.9"):
        approximation_bounds([0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]], [[0.5, 0.4], [0.5, 0.5]])
    with pytest.raises(KernelError) as err:
        approximation_bounds([0.5, 0.5], [[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], [[0.5, 0.5], [0.5, 0.5]])
    assert err.value.message == "data kernel (2, 3) and model kernel (2, 2) differ in shape"
    with pytest.raises(KernelError, match="^context law has 3 entries but 2 are needed"):
        approximation_bounds([0.2, 0.3, 0.5], [[0.5, 0.5], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]])
