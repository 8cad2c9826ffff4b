"""Rényi of every order α ∈ [0, ∞], checked against 50-digit mpmath evaluations of the definition:
α = ∞ is the max-divergence, large α must not overflow, α → 1 must reach KL without cancellation,
and the value is continuous and nondecreasing in α (for the divergence, the categorical entropy,
the mutual information and the difference surplus)."""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from catlm.analysis import (categorical_entropy, divergence, information_surplus, k_step_kernel,
                            mutual_information)
from catlm.errors import SpecError

mp.mp.dps = 50
SEEDS = st.integers(0, 2 ** 32 - 1)
ORDERS = [0.0, 0.3, 1 - 1e-12, 1 - 1e-7, 1 + 1e-12, 1 + 1e-9, 1 + 1e-5, 1.5, 2.0, 7.0, 60.0, 1e3, 1e6]


def oracle(p, q, alpha) -> float:
    """1/(α−1) log Σ p^α q^(1−α) in 50-digit arithmetic over supp p ∩ supp q (α ≠ 1, finite)."""
    a, p_total, q_total = mp.mpf(alpha), mp.fsum(map(mp.mpf, p)), mp.fsum(map(mp.mpf, q))
    # the states as exactly normalised laws: a float sum 1 ± 1e-16 would add (1e-16)/(α−1)
    total = mp.fsum((mp.mpf(x) / p_total) ** a * (mp.mpf(y) / q_total) ** (1 - a)
                    for x, y in zip(p, q) if x > 0 and y > 0)
    return float(mp.log(total) / (a - 1))


def max_divergence(p, q) -> float:
    return max(math.log(x / y) for x, y in zip(p, q) if x > 0)


def state(rng, n, zeros=False):
    p = rng.dirichlet(np.full(n, 0.8))
    if zeros:
        p[rng.random(n) < 0.3] = 0
        p[rng.integers(n)] += 0.1
    return p / p.sum()


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, alpha=st.sampled_from(ORDERS))
def test_divergence_matches_the_50_digit_definition(seed, alpha):
    rng = np.random.default_rng(seed)
    p, q = state(rng, 6, zeros=True), state(rng, 6)
    assert divergence(p, q, "renyi", alpha=alpha) == pytest.approx(oracle(p, q, alpha), rel=1e-11, abs=1e-13)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_infinite_order_is_the_max_divergence_and_the_limit(seed):
    rng = np.random.default_rng(seed)
    p, q = state(rng, 5, zeros=True), state(rng, 5)
    d_inf = divergence(p, q, "renyi", alpha=math.inf)
    assert d_inf == pytest.approx(max_divergence(p, q), abs=1e-14)
    for alpha in (1e3, 1e6, 1e12):
        d = divergence(p, q, "renyi", alpha=alpha)
        # Σ w e^{t r} ≥ p(y*) e^{t r(y*)} at the maximiser y*: 0 ≤ D_∞ − D_α ≤ −log p(y*) / (α − 1)
        star = max((i for i in range(5) if p[i] > 0), key=lambda i: math.log(p[i] / q[i]))
        assert -1e-12 <= d_inf - d <= -math.log(p[star]) / (alpha - 1) + 1e-12
    q[int(np.argmax(p))] = 0                                       # p charges a point q does not
    assert divergence(p, q / q.sum(), "renyi", alpha=math.inf) == math.inf


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, alpha=st.floats(0.0, 30.0), step=st.sampled_from([1e-12, 1e-9, 1e-6]))
def test_continuous_and_nondecreasing_in_alpha(seed, alpha, step):
    rng = np.random.default_rng(seed)
    p, q = state(rng, 6), state(rng, 6)
    here, there = (divergence(p, q, "renyi", alpha=a) for a in (alpha, alpha + step))
    # d/dα D_α is bounded by Var_p(log p/q)/2 near 1 and by max |log p/q| elsewhere: ≤ 50 here
    assert 0 - 1e-13 <= there - here <= 50 * step + 1e-13


def test_kl_limit_without_cancellation():
    p, q = np.array([0.2, 0.3, 0.5]), np.array([0.4, 0.4, 0.2])
    kl = divergence(p, q, "kl")
    for eps in (1e-15, 1e-12, 1e-9):
        for alpha in (1 - eps, 1 + eps):
            assert abs(divergence(p, q, "renyi", alpha=alpha) - kl) < 1e-14 + eps


@pytest.mark.parametrize("method", ["closed", "definition"])
def test_categorical_entropy_at_every_order(method):
    p = np.array([0.1, 0.2, 0.3, 0.4])
    shannon = -float(np.sum(p * np.log(p)))
    H = lambda a: categorical_entropy(p, "renyi", alpha=a, method=method)
    assert H(math.inf) == pytest.approx(-math.log(0.1), abs=1e-14)        # D_∞(Δp ‖ p⊗p) = −log min p
    assert H(1e6) == pytest.approx(-math.log(0.1), abs=1e-5)
    assert abs(H(1 + 1e-12) - shannon) < 1e-13 and abs(H(1 - 1e-12) - shannon) < 1e-13
    for alpha in (0.5, 3.0, 40.0):                                      # Rényi entropy of order 2 − α
        exact = float(mp.log(mp.fsum(mp.mpf(x) ** (2 - mp.mpf(alpha)) for x in p)) / (alpha - 1))
        assert H(alpha) == pytest.approx(exact, rel=1e-12)


def test_mutual_information_and_surplus_at_infinite_order():
    joint = np.array([[0.3, 0.1], [0.05, 0.55]])
    product = np.outer(joint.sum(1), joint.sum(0))
    expected = math.log(float(np.max(joint / product)))
    assert mutual_information(joint, "renyi", alpha=math.inf) == pytest.approx(expected, abs=1e-14)
    assert mutual_information(joint, "renyi", alpha=1e6) == pytest.approx(expected, abs=1e-5)
    P = np.array([[0.7, 0.3], [0.2, 0.8]])
    successor = np.array([[0, 1], [0, 1]])
    law, P2 = np.array([0.4, 0.6]), k_step_kernel(P, successor, 2)
    s = information_surplus(law, P2, np.array([0, 1]), form="difference", divergence="renyi",
                            alpha=math.inf)
    block = (law[:, None] * P2.reshape(2, -1))
    first = block.reshape(2, 2, 2).sum(2)
    d_inf = lambda j: math.log(float(np.max(j / np.outer(j.sum(1), j.sum(0)))))
    assert math.isfinite(s.value)
    assert s.mi_block == pytest.approx(d_inf(block), abs=1e-14)
    assert s.value == pytest.approx(d_inf(block) - d_inf(first), abs=1e-14)


@pytest.mark.parametrize("alpha", [-1.0, math.nan, None])
def test_orders_outside_zero_to_infinity_are_refused(alpha):
    with pytest.raises(SpecError, match="alpha"):
        divergence([0.5, 0.5], [0.5, 0.5], "renyi", alpha=alpha)


def test_states_with_zeros_and_plain_float_results():
    """Zero entries take no part at any order (−log min over the support at α = ∞), and float
    inputs give Python floats (Fractions stay Fractions elsewhere)."""
    p = np.array([0.5, 0.25, 0.25, 0.0])
    assert categorical_entropy(p, "renyi", alpha=math.inf) == pytest.approx(math.log(4), abs=1e-15)
    assert categorical_entropy(p, "renyi", alpha=2.0) == pytest.approx(math.log(3), abs=1e-15)   # Hartley
    q = np.array([0.25, 0.25, 0.25, 0.25])
    for name in ("tv", "chi2", "kl", "hellinger", "js"):
        assert type(divergence(p, q, name)) is float, name
    assert type(divergence(p, q, "renyi", alpha=0.5)) is float
    # α < 1 with p charging points q does not: only the common support counts
    r = np.array([0.0, 0.0, 0.5, 0.5])
    assert divergence(p, r, "renyi", alpha=0.5) == pytest.approx(-2 * math.log(0.25 * math.sqrt(2)), abs=1e-14)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 1 + 1e-9, 1 + 2e-4, 2.0, 1e6, math.inf])
def test_renyi_mean_works_row_by_row(alpha):
    """The estimators call renyi_mean on (N, V) rows at once: each row must equal the 1-D call, and
    entries of zero weight take no part (the third row's large ratio must not win at α = ∞)."""
    from catlm.analysis.divergences import renyi_mean
    weights = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.5, 0.5, 0.0]])
    ratios = np.array([[0.3, -0.2, -0.1], [1.5, -2.0, 0.2], [-1.0, -2.0, 5.0]])
    rows = renyi_mean(weights, ratios, alpha)
    assert rows.shape == (3,)
    for w, r, value in zip(weights, ratios, rows):
        assert value == pytest.approx(float(renyi_mean(w, r, alpha)), abs=1e-15)
    if alpha == math.inf:
        np.testing.assert_allclose(rows, [0.3, 1.5, -1.0])


def test_orders_near_one_keep_full_precision_and_need_no_exact_normalisation():
    """A state whose float sum is not exactly 1: the KL limit must not divide that rounding by
    α − 1 (a log-sum-exp there loses every digit); at α − 1 = ±2e-4 too the value agrees with 50
    digits to 1e-15."""
    p = np.array([0.1, 0.2, 0.3, 0.15, 0.25]) / 1.0000000000000002
    q = np.linspace(1, 2, 5) / np.linspace(1, 2, 5).sum()
    for alpha in (1 - 1e-13, 1 + 1e-13, 1 + 2e-4, 1 - 2e-4):
        assert divergence(p, q, "renyi", alpha=alpha) == pytest.approx(oracle(p, q, alpha), abs=1e-15)


def test_defaults_and_messages():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.2, 0.3, 0.5])
    assert divergence(p, q) == pytest.approx(0.5 * math.log(2.5) + 0.5 * math.log(0.5 / 0.3), abs=1e-15)
    with pytest.raises(SpecError, match="states of different sizes 3 and 2"):
        divergence(p, q[:2])
    r = np.array([0.0, 0.5, 0.5])
    for alpha in (1.5, 2.0, 3.0):                    # p charges a point r does not: infinite for α > 1
        assert divergence(p, r, "renyi", alpha=alpha) == math.inf


def test_order_one_is_the_kl_divergence_written_out():
    p, q = np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.25, 0.25, 0.4, 0.1])
    kl = float(mp.fsum(mp.mpf(x) * mp.log(mp.mpf(x) / mp.mpf(y)) for x, y in zip(p, q) if x > 0))
    assert divergence(p, q, "renyi", alpha=1) == pytest.approx(kl, rel=1e-14)
    assert divergence(q, p, "renyi", alpha=1) == math.inf  # q puts mass where p has none
