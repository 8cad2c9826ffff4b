"""Categorical entropy, categorical MI and Thm 5.1 against closed forms and independent oracles."""
from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import entropy as scipy_entropy

from catlm.analysis import (categorical_entropy, conditional_entropy, mutual_information,
                            nll_decomposition)
from catlm.analysis.divergences import DIVERGENCES
from catlm.errors import KernelError, SpecError

SEEDS = st.integers(0, 2 ** 32 - 1)
ORDERS = [0.0, 0.5, 1.0, 2.0, 3.0]


def random_kernel(rng, n, m, sparsity=0.3):
    K = rng.dirichlet(np.full(m, 0.7), size=n)
    K[rng.random((n, m)) < sparsity] = 0.0
    K[np.arange(n), rng.integers(0, m, n)] += 0.1
    return K / K.sum(axis=1, keepdims=True)


def random_fraction_kernel(rng, n, m):
    weights = rng.integers(0, 5, size=(n, m))
    weights[np.arange(n), rng.integers(0, m, n)] += 1
    return np.array([[F(int(w), int(row.sum())) for w in row] for row in weights], dtype=object)


def options(name, alpha):
    return {"alpha": alpha} if name == "renyi" else {}


def literal_divergence(name, P, Q, alpha):
    """D(P ‖ Q) on Y⊗Y written out with scipy and the textbook formulas, no catlm code."""
    from scipy.special import rel_entr
    p, q = P.ravel(), Q.ravel()
    on = p > 0
    formulas = {
        "kl": lambda: float(np.sum(rel_entr(p, q))),
        "tv": lambda: 0.5 * float(np.sum(np.abs(p - q))),
        "chi2": lambda: float(np.sum((p[q > 0] - q[q > 0]) ** 2 / q[q > 0])),
        "hellinger": lambda: 0.5 * float(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)),
        "js": lambda: 0.5 * float(np.sum(rel_entr(p, (p + q) / 2)) + np.sum(rel_entr(q, (p + q) / 2))),
        "renyi": lambda: float(np.sum(rel_entr(p, q))) if alpha == 1 else
        math.log(float(np.sum(p[on] ** alpha * q[on] ** (1 - alpha)))) / (alpha - 1),
    }
    return formulas[name]()


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, name=st.sampled_from(sorted(DIVERGENCES)), alpha=st.sampled_from(ORDERS))
def test_closed_forms_equal_the_definition(seed, name, alpha):
    """H_D(k)(x) = D(Δ∘k ‖ (k⊗k)∘Δ) built literally on Y⊗Y and compared by scipy's formulas."""
    K = random_kernel(np.random.default_rng(seed), 4, 6)
    closed = categorical_entropy(K, name, reduce="pointwise", method="closed", **options(name, alpha))
    literal = [literal_divergence(name, np.diag(row), np.outer(row, row), alpha) for row in K]
    np.testing.assert_allclose(closed.astype(float), literal, rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_kl_entropy_is_shannon(seed):
    K = random_kernel(np.random.default_rng(seed), 5, 7)
    expected = [scipy_entropy(row) for row in K]
    got = categorical_entropy(K, "kl", reduce="pointwise", method="definition")
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    bits = categorical_entropy(K, "kl", reduce="pointwise", base=2)
    np.testing.assert_allclose(bits, [scipy_entropy(row, base=2) for row in K], rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_tv_entropy_is_gini_simpson_exactly(seed):
    K = random_fraction_kernel(np.random.default_rng(seed), 4, 5)
    gini = [1 - sum(p * p for p in row) for row in K]
    for method in ("closed", "definition"):
        got = categorical_entropy(K, "tv", reduce="pointwise", method=method)
        assert list(got) == gini and all(isinstance(v, F) for v in got)
    assert categorical_entropy(K, "tv") == sum(gini) / len(gini)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_chi2_entropy_is_support_size_minus_one_exactly(seed):
    K = random_fraction_kernel(np.random.default_rng(seed), 4, 5)
    got = categorical_entropy(K, "chi2", reduce="pointwise", method="definition")
    assert list(got) == [sum(1 for p in row if p > 0) - 1 for row in K]
    assert all(isinstance(v, F) for v in got)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, alpha=st.sampled_from([0.0, 0.3, 0.5, 1.5, 2.0, 2.5, 4.0]))
def test_renyi_entropy_is_renyi_of_order_two_minus_alpha(seed, alpha):
    K = random_kernel(np.random.default_rng(seed), 4, 6)
    order = 2 - alpha   # Rényi entropy of order a: log(Σ p^a) / (1 − a)
    expected = [math.log(np.sum(row[row > 0] ** order)) / (1 - order) if order != 1
                else scipy_entropy(row) for row in K]
    got = categorical_entropy(K, "renyi", reduce="pointwise", method="definition", alpha=alpha)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_renyi_order_two_is_hartley():
    K = np.array([[0.7, 0.3, 0.0], [0.2, 0.2, 0.6]])
    got = categorical_entropy(K, "renyi", reduce="pointwise", alpha=2)
    np.testing.assert_allclose(got, [math.log(2), math.log(3)])


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
@pytest.mark.parametrize("method", ["closed", "definition"])
def test_deterministic_kernels_have_zero_entropy(name, method):
    K = np.eye(4)[[2, 0, 3, 3, 1]]
    got = categorical_entropy(K, name, reduce="pointwise", method=method, **options(name, 2.0))
    np.testing.assert_allclose(got.astype(float), 0.0, atol=1e-15)


def test_reductions_and_input_axes():
    K = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.25, 0.75], [1.0, 0.0]]])  # X1 ⊗ X2 -> Y
    pointwise = categorical_entropy(K, "tv", reduce="pointwise")
    np.testing.assert_allclose(pointwise, [[0.0, 0.5], [0.375, 0.0]])
    law = np.array([[0.1, 0.2], [0.3, 0.4]])
    assert categorical_entropy(K, "tv", law) == pytest.approx(0.2 * 0.5 + 0.3 * 0.375)
    assert categorical_entropy(K, "tv", reduce="sup") == pytest.approx(0.5)
    assert categorical_entropy(K, "tv", [[0.5, 0], [0.5, 0]], reduce="sup") == pytest.approx(0.375)
    state_on_product = np.full((2, 2), 0.25)               # I -> Y1 ⊗ Y2, codomain flattened
    assert categorical_entropy(state_on_product, "kl", n_inputs=0) == pytest.approx(math.log(4))


def test_average_kl_entropy_is_conditional_shannon_entropy():
    """Prop. 4.2: H̄_KL(k; p_H) = H(W | H) on the joint diag(p_H) K."""
    rng = np.random.default_rng(0)
    K, law = random_kernel(rng, 6, 5), rng.dirichlet(np.ones(6))
    joint = law[:, None] * K
    expected = scipy_entropy(joint.ravel()) - scipy_entropy(law)
    assert categorical_entropy(K, "kl", law) == pytest.approx(expected, rel=1e-12)
    assert conditional_entropy(joint) == pytest.approx(expected, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_kl_mutual_information_is_shannon(seed):
    joint = np.random.default_rng(seed).dirichlet(np.ones(12)).reshape(3, 4)
    shannon_mi = (scipy_entropy(joint.sum(1)) + scipy_entropy(joint.sum(0))
                  - scipy_entropy(joint.ravel()))
    assert mutual_information(joint) == pytest.approx(shannon_mi, rel=1e-9, abs=1e-14)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, name=st.sampled_from(["kl", "tv", "chi2", "hellinger", "renyi"]),
       alpha=st.sampled_from([0.5, 2.0, 3.0]))
def test_mutual_information_obeys_the_dpi(seed, name, alpha):
    """I_D((id ⊗ h) ∘ p) <= I_D(p) for a random kernel h : Y -> Z."""
    rng = np.random.default_rng(seed)
    joint = rng.dirichlet(np.ones(15)).reshape(3, 5)
    h = random_kernel(rng, 5, 4)
    opts = options(name, alpha)
    assert mutual_information(joint @ h, name, **opts) <= mutual_information(joint, name, **opts) + 1e-12


def test_independent_joint_has_zero_information_for_every_divergence():
    joint = np.outer([0.2, 0.8], [0.1, 0.3, 0.6])
    for name in DIVERGENCES:
        assert mutual_information(joint, name, **options(name, 2.0)) == pytest.approx(0, abs=1e-12)


def test_against_dit():
    dit = pytest.importorskip("dit", reason="the optional test oracle dit is not installed")
    from dit.multivariate import coinformation
    from dit.shannon import conditional_entropy as dit_ce
    rng = np.random.default_rng(3)
    joint = rng.dirichlet(np.ones(3 * 2 * 3)).reshape(3, 2, 3)
    outcomes = [f"{a}{b}{c}" for a in range(3) for b in range(2) for c in range(3)]
    d = dit.Distribution(outcomes, joint.ravel().tolist())
    assert mutual_information(joint, n_left=1, base=2) == pytest.approx(
        coinformation(d, [[0], [1, 2]]), rel=1e-9)
    assert conditional_entropy(joint, n_given=2, base=2) == pytest.approx(
        dit_ce(d, [2], [0, 1]), rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_nll_equals_kl_plus_entropy(seed):
    """Thm 5.1 for any model kernel Q, to machine precision."""
    rng = np.random.default_rng(seed)
    law, P, Q = rng.dirichlet(np.ones(5)), random_kernel(rng, 5, 6), random_kernel(rng, 5, 6, 0.0)
    nll = nll_decomposition(law, P, Q)
    assert abs(nll.cross_entropy - nll.kl - nll.entropy) < 1e-13
    cross = -sum(law[x] * P[x, w] * math.log(Q[x, w]) for x in range(5) for w in range(6) if P[x, w] > 0)
    assert nll.cross_entropy == pytest.approx(cross, rel=1e-12)


def test_tabular_minimiser_is_the_data_kernel_almost_surely():
    rng = np.random.default_rng(1)
    law = np.array([0.5, 0.5, 0.0])
    P = random_kernel(rng, 3, 4)
    at_data = nll_decomposition(law, P, P)
    assert at_data.kl == 0 and at_data.cross_entropy == pytest.approx(at_data.entropy)
    for _ in range(50):
        Q = random_kernel(rng, 3, 4, 0.0)
        assert nll_decomposition(law, P, Q).cross_entropy > at_data.cross_entropy
    Q_off_support = P.copy()
    Q_off_support[2] = [1.0, 0.0, 0.0, 0.0]            # a context of zero law is unconstrained
    assert nll_decomposition(law, P, Q_off_support) == at_data
    assert nll_decomposition(law, P, np.eye(4)[[0, 0, 0]]).kl == math.inf


def test_invalid_kernels_name_the_row():
    with pytest.raises(KernelError, match="kernel is not a Markov kernel: row 1 sums to 0.9"):
        categorical_entropy([[0.5, 0.5], [0.4, 0.5]])
    with pytest.raises(KernelError, match="row 0 has the negative entry"):
        categorical_entropy([[1.5, -0.5]])
    with pytest.raises(KernelError, match="row 0 has the entry nan"):
        categorical_entropy([[np.nan, 1.0]])
    with pytest.raises(KernelError, match="context law"):
        nll_decomposition([0.5, 0.6], np.eye(2), np.eye(2))
    with pytest.raises(SpecError, match="choose from mean, pointwise, sup"):
        categorical_entropy(np.eye(2), reduce="median")
    with pytest.raises(SpecError, match="choose from closed, definition"):
        categorical_entropy(np.eye(2), method="guess")


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, t=st.floats(0.0, 1.0))
def test_thm_5_2_entropy_gap_is_bounded_by_a_function_of_l_kl(seed, t):
    """|H̄(Q) − H̄(P)| ≤ bound(L_KL), the bound shrinking to 0 along Q_t = (1 − t) P + t R → P.
    Oracles: scipy's Shannon entropy and KL per row; the bound only has to hold and vanish."""
    from catlm.analysis.entropy import entropy_gap
    rng = np.random.default_rng(seed)
    law, P, R = rng.dirichlet(np.ones(4)), random_kernel(rng, 4, 5, sparsity=0.0), random_kernel(rng, 4, 5, 0.0)
    Q = (1 - t) * P + t * R
    gap = entropy_gap(law, P, Q)
    H = lambda K: float(law @ [scipy_entropy(row) for row in K])
    assert gap.gap == pytest.approx(H(Q) - H(P), abs=1e-12)
    assert gap.kl == pytest.approx(float(law @ [scipy_entropy(p, q) for p, q in zip(P, Q)]), abs=1e-12)
    assert abs(gap.gap) <= gap.bound + 1e-12
    if t == 0:
        assert gap.bound == 0 and gap.gap == 0
    half = entropy_gap(law, P, (1 - t / 2) * P + t / 2 * R)
    assert half.bound <= gap.bound + 1e-12                  # closer to P in KL: a smaller bound


def test_pointwise_entropy_against_the_textbook_formulas():
    """Ψ_D(p) for one state with a zero: Shannon, Gini–Simpson, |supp| − 1, 1 − Σ p^{3/2},
    Rényi of order 2 − α, and JS of the literal diag(p) against p pᵀ, written out here."""
    from catlm.analysis import pointwise_entropy
    p = np.array([0.5, 0.25, 0.25, 0.0])
    q = p[p > 0]
    shannon_nats = -np.sum(q * np.log(q))
    assert pointwise_entropy(p) == pytest.approx(shannon_nats, abs=1e-15)            # defaults: kl, closed
    assert pointwise_entropy(p, base=2) == pytest.approx(1.5, abs=1e-15)
    assert pointwise_entropy(p, "tv") == pytest.approx(1 - np.sum(q * q), abs=1e-15)
    assert pointwise_entropy(p, "chi2") == 2 and type(pointwise_entropy(p, "chi2")) is int
    assert pointwise_entropy(p, "hellinger") == pytest.approx(1 - np.sum(q ** 1.5), abs=1e-15)
    for alpha in (0.5, 2.0):
        expected = math.log(np.sum(q ** (2 - alpha))) / (alpha - 1)
        assert pointwise_entropy(p, "renyi", alpha=alpha) == pytest.approx(expected, abs=1e-14)
    diag, outer = np.diag(p).ravel(), np.outer(p, p).ravel()
    m = (diag + outer) / 2
    kl = lambda a, b: np.sum(a[a > 0] * np.log(a[a > 0] / b[a > 0]))
    js = 0.5 * kl(diag, m) + 0.5 * kl(outer, m)
    assert pointwise_entropy(p, "js") == pytest.approx(js, abs=1e-15)
    assert pointwise_entropy(p, "tv", method="definition") == pytest.approx(1 - np.sum(q * q), abs=1e-15)
    assert type(pointwise_entropy(p, "tv")) is float
    with pytest.raises(KernelError, match=r"^state is not a Markov kernel"):
        pointwise_entropy([0.5, 0.6])


def test_closed_forms_of_several_rows_are_row_by_row():
    from catlm.analysis.entropy import closed_form
    rows = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    for name in ("kl", "tv", "chi2", "hellinger", "js"):
        values = closed_form(name, rows)
        assert values.shape == (3,), name
        for row, value in zip(rows, values):
            assert value == pytest.approx(closed_form(name, row), abs=1e-15), name
    one = closed_form("js", rows[1])
    diag, outer = np.diag(rows[1]).ravel(), np.outer(rows[1], rows[1]).ravel()
    m = (diag + outer) / 2
    kl = lambda a, b: np.sum(a[a > 0] * np.log(a[a > 0] / b[a > 0]))
    assert one == pytest.approx(0.5 * kl(diag, m) + 0.5 * kl(outer, m), abs=1e-15)


def test_nll_decomposition_by_hand_with_a_base_and_an_infinite_kl():
    from catlm.analysis import nll_decomposition
    law = np.array([0.25, 0.75])
    P, Q = np.array([[0.5, 0.5], [0.9, 0.1]]), np.array([[0.25, 0.75], [0.6, 0.4]])
    ce = -sum(law[x] * sum(P[x, y] * math.log(Q[x, y]) for y in range(2)) for x in range(2))
    kl = sum(law[x] * sum(P[x, y] * math.log(P[x, y] / Q[x, y]) for y in range(2)) for x in range(2))
    h = -sum(law[x] * sum(P[x, y] * math.log(P[x, y]) for y in range(2)) for x in range(2))
    bits = nll_decomposition(law, P, Q, base=2)
    for got, want in zip(bits, (ce, kl, h)):
        assert got == pytest.approx(want / math.log(2), abs=1e-14)
    infinite = nll_decomposition(law, P, np.array([[1.0, 0.0], [0.6, 0.4]]))
    assert infinite.cross_entropy == math.inf and infinite.kl == math.inf
    with pytest.raises(KernelError, match=r"^data kernel is not a Markov kernel"):
        nll_decomposition(law, [[0.5, 0.6], [1.0, 0.0]], Q)
    with pytest.raises(KernelError, match=r"^model kernel is not a Markov kernel"):
        nll_decomposition(law, P, [[0.5, 0.6], [1.0, 0.0]])
    with pytest.raises(KernelError, match=r"^data kernel \(2, 2\) and model kernel \(2, 3\) differ in shape$"):
        nll_decomposition(law, P, np.full((2, 3), 1 / 3))
    with pytest.raises(KernelError, match=r"^context law has 3 entries but 2 are needed"):
        nll_decomposition([0.2, 0.3, 0.5], P, Q)


def test_entropy_gap_fields_by_hand():
    """Pinsker TV capped at 1 − 1/V, the binary entropy h₂(T) and T log(V − 1), per context."""
    from catlm.analysis.entropy import entropy_gap

    def by_hand(law, P, Q):
        V, fields = P.shape[1], np.zeros(5)
        for x in range(len(P)):
            kl = sum(P[x, y] * math.log(P[x, y] / Q[x, y]) if Q[x, y] > 0 else math.inf
                     for y in range(V) if P[x, y] > 0)
            t = min(math.sqrt(kl / 2), 1 - 1 / V)
            h2 = -sum(v * math.log(v) for v in (t, 1 - t) if v > 0)
            H = lambda r: -sum(v * math.log(v) for v in r if v > 0)
            fields += law[x] * np.array([H(Q[x]), H(P[x]), H(Q[x]) - H(P[x]),
                                         t * math.log(max(V - 1, 1)) + h2, kl])
        return fields

    law = np.array([0.2, 0.3, 0.5])
    P = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.4, 0.4, 0.2]])
    Q = np.array([[0.45, 0.35, 0.2], [0.7, 0.2, 0.1], [0.4, 0.4, 0.2]])   # small, capped, zero KL
    np.testing.assert_allclose(entropy_gap(law, P, Q), by_hand(law, P, Q), rtol=1e-12, atol=1e-15)
    law2, P2, Q2 = np.array([0.5, 0.5]), np.array([[0.6, 0.4], [0.5, 0.5]]), np.array([[0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(entropy_gap(law2, P2, Q2), by_hand(law2, P2, Q2), rtol=1e-12, atol=1e-15)
    Q3 = np.array([[1.0, 0.0], [0.5, 0.5]])               # the model misses a token of the data
    gap = entropy_gap(law2, P2, Q3)
    assert gap.kl == math.inf and math.isfinite(gap.bound)
    np.testing.assert_allclose(gap, by_hand(law2, P2, Q3), rtol=1e-12, atol=1e-15)
    with pytest.raises(KernelError, match=r"^data kernel is not a Markov kernel"):
        entropy_gap(law, np.full((3, 3), 0.5), Q)
    with pytest.raises(KernelError, match=r"^model kernel is not a Markov kernel"):
        entropy_gap(law, P, np.full((3, 3), 0.5))
    with pytest.raises(KernelError, match=r"^data kernel \(3, 3\) and model kernel \(3, 2\) differ in shape$"):
        entropy_gap(law, P, np.full((3, 2), 0.5))
    with pytest.raises(KernelError, match=r"^context law is not a Markov kernel"):
        entropy_gap([0.5, 0.6, 0.1], P, Q)
    with pytest.raises(KernelError, match=r"^context law has 2 entries but 3 are needed"):
        entropy_gap([0.5, 0.5], P, Q)


def test_entropy_gap_kl_of_nearly_equal_rows_to_full_precision():
    """L_KL of a model within 5e-5 of the data, against a 50-digit evaluation of Σ p log p/q: the
    rounding noise of a naive sum would be ~1e-17 against a true value ~1e-9; a row with p = 0
    where q > 0 contributes q, and a zero of both contributes nothing."""
    import mpmath
    from catlm.analysis.entropy import entropy_gap
    mpmath.mp.dps = 50
    P = np.array([[0.3 * (1 + 5e-5), 0.7 - 0.3 * 5e-5, 0.0], [0.0, 0.5, 0.5], [0.2, 0.2, 0.6]])
    Q = np.array([[0.3, 0.7, 0.0], [0.2, 0.4, 0.4], [0.2, 0.2, 0.6]])
    law = np.array([0.5, 0.25, 0.25])
    exact = sum(mpmath.mpf(law[x]) * sum(mpmath.mpf(p) * mpmath.log(mpmath.mpf(p) / mpmath.mpf(q))
                                         for p, q in zip(P[x], Q[x]) if p > 0) for x in range(3))
    assert entropy_gap(law, P, Q).kl == pytest.approx(float(exact), rel=1e-12, abs=0)
    # the rows sum to 1 only up to rounding (~1e-16, relative 1e-7 here): compare with the KL of
    # the measures, Σ p log p/q − Σ p + Σ q, equal to the KL of exact states
    near = sum(mpmath.mpf(p) * mpmath.log(mpmath.mpf(p) / mpmath.mpf(q)) for p, q in zip(P[0], Q[0]) if p > 0) \
        - sum(mpmath.mpf(p) for p in P[0]) + sum(mpmath.mpf(q) for q in Q[0])
    assert entropy_gap([1.0], P[:1], Q[:1]).kl == pytest.approx(float(near), rel=1e-11, abs=0)


def test_categorical_entropy_input_law_exactness_and_refusals():
    from catlm.analysis import pointwise_entropy
    k = np.array([[F(1, 2), F(1, 2)], [F(1), F(0)]], dtype=object)
    exact = categorical_entropy(k, "tv")
    assert exact == F(1, 4) and type(exact) is F
    floats = categorical_entropy(np.array([[0.5, 0.5], [1.0, 0.0]]), "tv", input_law=[0.25, 0.75])
    assert floats == pytest.approx(0.125, abs=1e-16) and type(floats) is float
    with pytest.raises(KernelError, match=r"^input law has 3 entries but 2 are needed"):
        categorical_entropy(k, "tv", input_law=[0.2, 0.3, 0.5])
    with pytest.raises(KernelError, match=r"^input law is not a Markov kernel"):
        categorical_entropy(k, "tv", input_law=[0.5, 0.6])
    with pytest.raises(KernelError, match=r"^kernel is not a Markov kernel"):
        categorical_entropy([[0.5, 0.6]], "tv")
    p = np.array([0.5, 0.3, 0.2])
    by_hand = math.log(np.sum(p ** 1.5)) / (0.5 - 1) / math.log(2)      # Rényi α = 0.5, in bits
    for method in ("closed", "definition"):
        assert pointwise_entropy(p, "renyi", alpha=0.5, base=2, method=method) == pytest.approx(by_hand, abs=1e-14)
        assert pointwise_entropy(p, base=2, method=method) == pytest.approx(
            -np.sum(p * np.log2(p)), abs=1e-15)


def test_a_joint_state_split_is_checked():
    with pytest.raises(SpecError) as err:
        mutual_information(np.full((2, 2), 0.25), n_left=2)
    assert err.value.message == "a joint state with 2 axes cannot split after axis 2"
    assert err.value.hint == "pass an array with one axis per factor and 1 <= n_left < ndim"
    with pytest.raises(KernelError, match=r"^joint state is not a Markov kernel"):
        mutual_information(np.full((2, 2), 0.3))
    joint = np.array([[[0.1, 0.2], [0.0, 0.1]], [[0.3, 0.1], [0.1, 0.1]]])   # X = axis 0, Y = axes 1, 2
    flat = joint.reshape(2, 4)
    px, py = flat.sum(1), flat.sum(0)
    by_hand = sum(flat[i, j] * math.log(flat[i, j] / (px[i] * py[j]))
                  for i in range(2) for j in range(4) if flat[i, j] > 0)
    assert mutual_information(joint) == pytest.approx(by_hand, abs=1e-15)
