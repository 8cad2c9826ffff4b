"""A kernel X -> X as a first-order source: its stationary law, the surplus rows and the spectrum of
M_K, against closed forms of two-state chains and a power iteration written here."""
from __future__ import annotations

import math

import numpy as np
import pytest

from catlm.analysis.sources import CESARO_STEPS, first_order_source, stationary_law
from catlm.errors import KernelError


def chain(a, b):
    """The two-state chain that leaves state 0 with probability a and state 1 with probability b."""
    return np.array([[1 - a, a], [b, 1 - b]])


def binary_entropy(q):
    return -sum(x * math.log(x) for x in (q, 1 - q) if x > 0)


def power_iteration(P, steps=5000):
    law = np.eye(len(P))[0]
    for _ in range(steps):
        law = law @ P
    return law


@pytest.mark.parametrize("a, b", [(0.3, 0.1), (0.9, 0.05), (0.5, 0.5), (1.0, 0.2)])
def test_the_stationary_law_of_a_two_state_chain_is_b_a_over_a_plus_b(a, b):
    np.testing.assert_allclose(stationary_law(chain(a, b)), [b / (a + b), a / (a + b)], atol=1e-13)


def test_the_stationary_law_of_an_aperiodic_chain_is_the_limit_of_the_power_iteration():
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(5), size=5)
    np.testing.assert_allclose(stationary_law(P), power_iteration(P), atol=1e-12)


def test_periodic_and_reducible_chains_get_a_stationary_law():
    cycle = np.roll(np.eye(3), 1, axis=1)                      # 0 -> 1 -> 2 -> 0, period 3
    np.testing.assert_allclose(stationary_law(cycle), [1 / 3] * 3, atol=1e-13)
    transient = np.array([[0.0, 0.5, 0.5], [0.0, 0.3, 0.7], [0.0, 0.6, 0.4]])
    np.testing.assert_allclose(stationary_law(transient), [0.0, 6 / 13, 7 / 13], atol=1e-13)
    two_classes = np.eye(3)                                    # every law is stationary
    law = stationary_law(two_classes)
    assert law.min() >= 0 and law.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(law @ two_classes, law, atol=1e-13)


def test_integer_and_fraction_kernels_are_read_as_floats():
    from fractions import Fraction
    half = Fraction(1, 2)
    exact = np.array([[half, half], [Fraction(1), Fraction(0)]], dtype=object)
    np.testing.assert_allclose(stationary_law(exact), [2 / 3, 1 / 3], atol=1e-13)
    np.testing.assert_allclose(stationary_law(np.array([[0, 1], [1, 0]])), [0.5, 0.5], atol=1e-13)


def cesaro_mean_of_the_uniform_start(a, b, steps):
    """(1/N) Σ_{t<N} u Pᵗ for the two-state chain: u Pᵗ = µ + λᵗ (u − µ) with λ = 1 − a − b."""
    mu, lam = np.array([b, a]) / (a + b), 1 - a - b
    return mu + (np.full(2, 0.5) - mu) * (1 - lam ** steps) / (steps * (1 - lam))


def failing_solve(returned):
    """A stand-in for ``np.linalg.lstsq`` whose solution is ``returned`` (a failed solve)."""
    return lambda *args, **kwargs: (np.asarray(returned, dtype=float), None, None, None)


@pytest.mark.parametrize("returned", [[1.2, -0.2], [0.5, 0.5], [2 / 3 + 1e-9, 1 / 3 - 1e-9]])
def test_when_the_linear_solve_fails_the_cesaro_mean_of_4096_steps_is_returned(monkeypatch, returned):
    """A solution with a negative entry or a residual ‖µP − µ‖ above 1e-10 is replaced by the
    Cesàro mean of the uniform law, here against its closed form for a two-state chain."""
    a, b = 0.3, 0.6                                            # µ = (2/3, 1/3)
    monkeypatch.setattr(np.linalg, "lstsq", failing_solve(returned))
    assert CESARO_STEPS == 4096
    expected = cesaro_mean_of_the_uniform_start(a, b, 4096)
    assert abs(expected[0] - 2 / 3) > 1e-5                     # the mean is visibly not µ itself
    np.testing.assert_allclose(stationary_law(chain(a, b)), expected, atol=1e-14)


def test_the_tolerances_of_the_solve_are_1e12_below_zero_and_1e10_in_the_residual(monkeypatch):
    """At the tolerances exactly, the solution is kept (clipped and renormalised)."""
    stay = np.eye(2)
    monkeypatch.setattr(np.linalg, "lstsq", failing_solve([1 + 1e-12, -1e-12]))
    np.testing.assert_allclose(stationary_law(stay), [1.0, 0.0], atol=1e-15)
    monkeypatch.setattr(np.linalg, "lstsq", failing_solve([1 + 1e-6, -1e-6]))
    np.testing.assert_allclose(stationary_law(stay), [0.5, 0.5], atol=1e-15)   # Cesàro: uniform
    flip = np.array([[0.0, 1.0], [1.0, 0.0]])
    monkeypatch.setattr(np.linalg, "lstsq", failing_solve([0.0, 1e-10]))      # residual exactly 1e-10
    np.testing.assert_allclose(stationary_law(flip), [0.0, 1.0], atol=1e-15)


def test_a_source_needs_a_square_markov_kernel():
    with pytest.raises(KernelError, match=r"square kernel X -> X, got \(2, 3\)"):
        stationary_law(np.full((2, 3), 1 / 3))
    for refused in (stationary_law, first_order_source):     # one leading axis is the domain X
        with pytest.raises(KernelError, match=r"square kernel X -> X, got \(2, 4\)"):
            refused(np.full((2, 2, 2), 1 / 4))
    for bad in (stationary_law, first_order_source):
        with pytest.raises(KernelError, match=r"^kernel is not a Markov kernel: row 1 sums to 0\.9"):
            bad(np.array([[0.5, 0.5], [0.4, 0.5]]))


@pytest.mark.parametrize("a, b", [(0.3, 0.1), (0.8, 0.4)])
def test_surplus_rows_of_a_two_state_chain_against_closed_forms(a, b):
    """Identity encoder: surplus 0, I(X; W_1) = I(X; W_{1:K}) = H(µ) − h and the bound
    H(W_{2:K} | W_1) = (K − 1) h, with h = µ_0 H(a) + µ_1 H(b) the entropy rate (nats)."""
    mu = np.array([b, a]) / (a + b)
    rate = mu[0] * binary_entropy(a) + mu[1] * binary_entropy(b)
    source = first_order_source(chain(a, b))
    assert source.steps == (1, 2, 3, 4)
    np.testing.assert_allclose(source.law, mu, atol=1e-13)
    for K, s in zip(source.steps, source.surplus):
        assert s.value == pytest.approx(0.0, abs=1e-12)
        assert s.mi_first == pytest.approx(binary_entropy(mu[0]) - rate, abs=1e-12)
        assert s.mi_block == pytest.approx(binary_entropy(mu[0]) - rate, abs=1e-12)
        assert s.upper_bound == pytest.approx((K - 1) * rate, abs=1e-12)


@pytest.mark.parametrize("a, b", [(0.3, 0.1), (0.8, 0.4), (0.5, 0.5)])
def test_mk_spectrum_of_a_two_state_chain(a, b):
    """K_BC = [[1, c], [c, 1]] with c = √((1−a)b) + √(a(1−b)); M_K ~ D^½ K D^½ has trace 1 and
    determinant µ_0 µ_1 (1 − c²), so λ = (1 ± √(1 − 4 µ_0 µ_1 (1 − c²))) / 2, descending."""
    mu0, mu1 = b / (a + b), a / (a + b)
    c = math.sqrt((1 - a) * b) + math.sqrt(a * (1 - b))
    root = math.sqrt(1 - 4 * mu0 * mu1 * (1 - c * c))
    np.testing.assert_allclose(first_order_source(chain(a, b)).mk_spectrum,
                               [(1 + root) / 2, (1 - root) / 2], atol=1e-12)


def test_the_spectrum_is_taken_on_the_contexts_of_positive_law():
    """A transient state has law 0 and is left out; M_K lives on the closed class {1, 2}."""
    P = np.array([[0.0, 0.5, 0.5], [0.0, 0.3, 0.7], [0.0, 0.6, 0.4]])
    mu = np.array([6 / 13, 7 / 13])
    c = math.sqrt(0.3 * 0.6) + math.sqrt(0.7 * 0.4)
    root = math.sqrt(1 - 4 * mu[0] * mu[1] * (1 - c * c))
    source = first_order_source(P, max_steps=2)
    np.testing.assert_allclose(source.law, [0.0, *mu], atol=1e-13)
    np.testing.assert_allclose(source.mk_spectrum, [(1 + root) / 2, (1 - root) / 2], atol=1e-12)
    absorbing = first_order_source(np.array([[0.5, 0.5], [0.0, 1.0]]), max_steps=1)
    np.testing.assert_allclose(absorbing.mk_spectrum, [1.0], atol=1e-13)


def test_steps_stop_where_the_dense_kernel_would_pass_max_cells():
    """n · V**K = 2**(K+1) cells for two states: 16 cells allow K = 1, 2, 3 exactly."""
    P = chain(0.3, 0.1)
    assert first_order_source(P, max_steps=6, max_cells=16).steps == (1, 2, 3)
    assert first_order_source(P, max_steps=6, max_cells=15).steps == (1, 2)
    assert first_order_source(P, max_steps=2).steps == (1, 2)
    assert len(first_order_source(P, max_steps=2).surplus) == 2
