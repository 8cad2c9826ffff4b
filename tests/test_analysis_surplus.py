"""Information surplus (§4.1): chain rule, bounds, encoder comparisons, v1 difference form."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st

from catlm.analysis import conditional_entropy, information_surplus, k_step_kernel
from catlm.errors import BudgetError, KernelError, SpecError

SEEDS = st.integers(0, 2 ** 32 - 1)


def random_kernel(rng, n, m, sparsity=0.3):
    K = rng.dirichlet(np.full(m, 0.7), size=n)
    K[rng.random((n, m)) < sparsity] = 0.0
    K[np.arange(n), rng.integers(0, m, n)] += 0.1
    return K / K.sum(axis=1, keepdims=True)


def order_two_source(rng, V):
    """Contexts are pairs (a, b) with index a*V + b; the successor of (a, b) after w is (b, w)."""
    P = random_kernel(rng, V * V, V)
    successor = np.array([[(x % V) * V + w for w in range(V)] for x in range(V * V)])
    return P, successor


def explicit_k_step(P, successor, K):
    """P^(K) by enumerating every path (independent of the vectorised construction)."""
    n, V = P.shape
    out = np.zeros((n,) + (V,) * K)
    for x in range(n):
        for path in itertools.product(range(V), repeat=K):
            prob, state = 1.0, x
            for w in path:
                prob, state = prob * P[state, w], successor[state, w]
            out[(x,) + path] = prob
    return out


def conditional_mi_oracle(joint):
    """I(H; W_2..W_K | W_1) from a dense joint (m, V, ..., V) by entropies of marginals."""
    joint = joint.reshape(joint.shape[0], joint.shape[1], -1)
    H = lambda p: -np.sum(p[p > 0] * np.log(p[p > 0]))
    return H(joint.sum(2)) + H(joint.sum(0)) - H(joint) - H(joint.sum((0, 2)))


def test_k_step_kernel_enumerates_paths():
    rng = np.random.default_rng(0)
    P, successor = order_two_source(rng, 3)
    np.testing.assert_allclose(k_step_kernel(P, successor, 3), explicit_k_step(P, successor, 3),
                               atol=1e-15)
    np.testing.assert_allclose(k_step_kernel(P, successor, 3).reshape(9, -1).sum(1), 1.0)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, K=st.sampled_from([2, 3]))
def test_chain_rule_and_bounds(seed, K):
    rng = np.random.default_rng(seed)
    V = 3
    P, successor = order_two_source(rng, V)
    law = rng.dirichlet(np.ones(V * V))
    PK = k_step_kernel(P, successor, K)
    encoder = rng.integers(0, 4, V * V)
    s = information_surplus(law, PK, encoder)
    assert s.value == pytest.approx(s.mi_block - s.mi_first, abs=1e-12)       # chain rule (A18 4.1)
    joint = np.eye(encoder.max() + 1)[encoder].T @ (law[:, None] * PK.reshape(V * V, -1))
    assert s.value == pytest.approx(conditional_mi_oracle(joint.reshape((-1,) + (V,) * K)), abs=1e-12)
    block = joint.sum(0).reshape(V, -1)
    assert s.upper_bound == pytest.approx(conditional_entropy(block), abs=1e-12)
    assert -1e-12 <= s.value <= s.upper_bound + 1e-12 <= (K - 1) * math.log(V) + 1e-12


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS)
def test_injective_encoder_is_maximal_and_coarsening_lowers_surplus(seed):
    rng = np.random.default_rng(seed)
    P, successor = order_two_source(rng, 3)
    law, PK = rng.dirichlet(np.ones(9)), k_step_kernel(P, successor, 3)
    injective = information_surplus(law, PK, np.arange(9)).value
    fine = rng.integers(0, 5, 9)
    coarse = rng.integers(0, 2, 5)[fine]                    # a function of the fine labels
    s_fine, s_coarse = (information_surplus(law, PK, e).value for e in (fine, coarse))
    assert s_coarse <= s_fine + 1e-12 <= injective + 2e-12
    assert information_surplus(law, PK, np.zeros(9, dtype=int)).value == pytest.approx(0, abs=1e-13)


def test_order_two_source_needs_only_the_last_token_of_the_context():
    """Given W_1, the future of an order-2 source depends on the context only through its last
    token, so that encoder attains the injective surplus exactly; the first token does not."""
    rng = np.random.default_rng(5)
    P, successor = order_two_source(rng, 3)
    law, PK = rng.dirichlet(np.ones(9)), k_step_kernel(P, successor, 3)
    contexts = np.arange(9)
    injective = information_surplus(law, PK, contexts).value
    assert information_surplus(law, PK, contexts % 3).value == pytest.approx(injective, abs=1e-12)
    assert information_surplus(law, PK, contexts // 3).value < injective - 1e-3


def test_order_one_source_has_no_surplus_for_any_encoder():
    rng = np.random.default_rng(2)
    P = random_kernel(rng, 4, 4)
    successor = np.tile(np.arange(4), (4, 1))               # the context is the last token
    PK, law = k_step_kernel(P, successor, 3), rng.dirichlet(np.ones(4))
    for encoder in (np.arange(4), np.array([0, 0, 1, 1]), np.array([0, 1, 0, 2])):
        assert information_surplus(law, PK, encoder).value == pytest.approx(0, abs=1e-13)


def test_collapsing_contexts_by_next_token_law_lowers_surplus_but_need_not_zero_it():
    """The paper's claim (as paraphrased in docs/paper.md) says the surplus vanishes for such an encoder; what holds is weaker.
    Contexts 0 and 1 share a next-token law but continue differently; context 2 has another law
    and, after token 0, a third continuation. States 3, 4, 5 repeat tokens 0, 1, 2 forever."""
    P = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0],
                  [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    successor = np.array([[3, 4, 5], [4, 3, 5], [5, 5, 5],
                          [3, 3, 5], [4, 4, 5], [5, 5, 5]])
    law = np.array([0.3, 0.3, 0.4, 0.0, 0.0, 0.0])
    PK = k_step_kernel(P, successor, 2)
    injective = information_surplus(law, PK, np.arange(6)).value
    collapsed = information_surplus(law, PK, np.array([0, 0, 1, 2, 3, 4])).value
    h = -np.sum(np.array([3, 3, 8]) / 14 * np.log(np.array([3, 3, 8]) / 14))  # H(W_2 | W_1 = 0)
    # injective: W_2 is a function of (H, W_1); W_1 = 0 has mass 0.7, W_1 = 1 mass 0.3 (1 bit)
    assert injective == pytest.approx(0.7 * h + 0.3 * math.log(2), abs=1e-13)
    # collapsed: given W_1 = 0 the merged state leaves a fair coin over tokens 0 and 1
    assert collapsed == pytest.approx(0.7 * (h - 3 / 7 * math.log(2)), abs=1e-13)
    assert 0 < collapsed < injective
    fully_collapsed = information_surplus(law, PK, np.array([0, 0, 0, 1, 2, 3])).value
    assert fully_collapsed == pytest.approx(0, abs=1e-13)     # one state: nothing to tell


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, name=st.sampled_from(["kl", "tv", "chi2", "hellinger", "renyi", "js"]))
def test_difference_form_is_nonnegative_for_dpi_divergences(seed, name):
    """v1 Eq. 4.1: I_D(H; W_{1:K}) >= I_D(H; W_1), the DPI for the projection onto W_1."""
    rng = np.random.default_rng(seed)
    P, successor = order_two_source(rng, 3)
    law, PK = rng.dirichlet(np.ones(9)), k_step_kernel(P, successor, 2)
    opts = {"alpha": 2.0} if name == "renyi" else {}
    s = information_surplus(law, PK, rng.integers(0, 3, 9), form="difference", divergence=name, **opts)
    assert s.value >= -1e-12


def test_flat_and_sparse_kernels_agree_with_the_axis_layout():
    rng = np.random.default_rng(4)
    P, successor = order_two_source(rng, 3)
    law, PK = rng.dirichlet(np.ones(9)), k_step_kernel(P, successor, 3)
    encoder = rng.integers(0, 3, 9)
    reference = information_surplus(law, PK, encoder)
    flat = information_surplus(law, PK.reshape(9, -1), encoder, steps=3)
    sparse = information_surplus(law, sp.csr_matrix(PK.reshape(9, -1)), np.eye(3)[encoder], steps=3)
    for other in (flat, sparse):
        assert other.value == pytest.approx(reference.value, abs=1e-13)
        assert other.upper_bound == pytest.approx(reference.upper_bound, abs=1e-13)
    assert information_surplus(law, PK, encoder, base=2).value == pytest.approx(
        reference.value / math.log(2))


def test_bad_inputs_raise_catlm_errors():
    P, successor = np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([[0, -1], [0, 1]])
    with pytest.raises(KernelError, match="successor -1 is not a context"):
        k_step_kernel(P, successor, 2)
    PK = k_step_kernel(P, [[0, 1], [0, 1]], 2)
    with pytest.raises(SpecError, match="needs divergence='kl'"):
        information_surplus([0.5, 0.5], PK, [0, 1], divergence="tv")
    with pytest.raises(KernelError, match="context law"):
        information_surplus([0.5, 0.6], PK, np.array([0, 1]))
    with pytest.raises(KernelError, match="encoder"):
        information_surplus([0.5, 0.5], PK, np.array([0, 1, 2]))


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, K=st.sampled_from([1, 2, 3]))
def test_sparse_kernel_with_labels_matches_the_dense_joint_oracle(seed, K):
    """The sparse path reads cells straight from the kernel (labels repeat): every field must equal
    the entropies of the dense joint state built here by hand."""
    rng = np.random.default_rng(seed)
    P, successor = order_two_source(rng, 3)
    law, PK = rng.dirichlet(np.ones(9)), explicit_k_step(P, successor, K).reshape(9, -1)
    encoder = rng.integers(0, 4, 9)
    s = information_surplus(law, sp.csr_matrix(PK), encoder, steps=K)
    joint = np.zeros((4, PK.shape[1]))
    for x in range(9):
        joint[encoder[x]] += law[x] * PK[x]
    H = lambda p: -np.sum(p[p > 0] * np.log(p[p > 0]))
    first = joint.reshape(4, 3, -1).sum(2)
    assert s.value == pytest.approx(conditional_mi_oracle(joint.reshape((4,) + (3,) * K)), abs=1e-12)
    assert s.mi_first == pytest.approx(H(first.sum(1)) + H(first.sum(0)) - H(first), abs=1e-12)
    assert s.mi_block == pytest.approx(H(joint.sum(1)) + H(joint.sum(0)) - H(joint), abs=1e-12)
    assert s.upper_bound == pytest.approx(H(joint.sum(0)) - H(first.sum(0)), abs=1e-12)


def test_labelled_encoder_never_builds_the_one_hot_matrix():
    """6000 contexts with an injective encoder: a one-hot encoder alone is 6000² floats (275 MiB);
    the surplus must stay within a few MiB of the kernel's own size."""
    import tracemalloc
    n, V = 6000, 4
    rng = np.random.default_rng(0)
    P = np.zeros((n, V))
    P[np.arange(n), rng.integers(0, V, n)] = 0.5
    P[np.arange(n), rng.integers(0, V, n)] += 0.5
    successor = rng.integers(0, n, (n, V))
    kernel = sp.csr_matrix(P)
    two_step = sp.csr_matrix(k_step_kernel(P, successor, 2).reshape(n, -1))
    tracemalloc.start()
    try:
        s = information_surplus(np.full(n, 1 / n), two_step, np.arange(n), steps=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2 ** 20, f"peak {peak / 2 ** 20:.0f} MiB"
    assert kernel.nnz <= 2 * n and 0 <= s.value <= s.upper_bound + 1e-12


@pytest.mark.parametrize("name", ["tv", "chi2", "hellinger"])
def test_difference_surplus_projects_onto_the_first_token(name):
    """I_D(H; W_1 W_2) − I_D(H; W_1) against a joint built by loops and textbook formulas, on a
    source whose W_1 and W_2 marginals differ (so projecting onto W_2 gives another number)."""
    P = np.array([[0.9, 0.1, 0.0], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]])
    successor = np.array([[1, 2, 0], [2, 0, 1], [1, 1, 0]])
    law, encoder = np.array([0.6, 0.3, 0.1]), np.array([0, 1, 1])
    joint = np.zeros((2, 3, 3))
    for x in range(3):
        for a in range(3):
            for b in range(3):
                joint[encoder[x], a, b] += law[x] * P[x, a] * P[successor[x, a], b]
    formulas = {"tv": lambda p, q: 0.5 * np.abs(p - q).sum(),
                "chi2": lambda p, q: np.sum((p - q) ** 2 / q),
                "hellinger": lambda p, q: 0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)}
    mi = lambda j: formulas[name](j, np.outer(j.sum(1), j.sum(0)))
    block, first, last = joint.reshape(2, 9), joint.sum(2), joint.sum(1)
    s = information_surplus(law, k_step_kernel(P, successor, 2), encoder, form="difference", divergence=name)
    assert s.mi_first == pytest.approx(mi(first), abs=1e-14)
    assert s.value == pytest.approx(mi(block) - mi(first), abs=1e-14)
    assert abs(mi(last) - mi(first)) > 1e-3          # the wrong projection would be seen


def test_forms_bases_and_sparse_kernels_agree_with_the_chain_rule_and_each_other():
    """KL: the difference form equals the chain-rule form; a base rescales the value and the bound;
    a non-KL divergence on a sparse kernel with labels equals the dense computation."""
    rng = np.random.default_rng(9)
    P, successor = order_two_source(rng, 3)
    law, PK = rng.dirichlet(np.ones(9)), k_step_kernel(P, successor, 2)
    labels = rng.integers(0, 3, 9)
    cmi = information_surplus(law, PK, labels)
    diff = information_surplus(law, PK, labels, form="difference")
    assert diff.value == pytest.approx(cmi.value, abs=1e-13) and diff.value > 1e-3
    assert diff.value == pytest.approx(diff.mi_block - diff.mi_first, abs=1e-15)
    nats = information_surplus(law, PK, labels, form="difference", divergence="renyi", alpha=2.0)
    bits = information_surplus(law, PK, labels, form="difference", divergence="renyi", alpha=2.0, base=2)
    for field in ("value", "mi_block", "mi_first", "upper_bound"):
        assert getattr(bits, field) == pytest.approx(getattr(nats, field) / math.log(2), abs=1e-13), field
    assert nats.upper_bound == pytest.approx(cmi.upper_bound, abs=1e-13)
    flat = sp.csr_matrix(PK.reshape(9, -1))
    for name in ("tv", "hellinger"):
        dense = information_surplus(law, PK, labels, form="difference", divergence=name)
        sparse = information_surplus(law, flat, labels, form="difference", divergence=name, steps=2)
        assert sparse.value == pytest.approx(dense.value, abs=1e-14)
    with pytest.raises(SpecError, match="form='cmi' is the chain-rule surplus") as err:
        information_surplus(law, PK, labels, divergence="tv")
    assert err.value.hint == "use form='difference' for other divergences"
    with pytest.raises(SpecError, match="unknown form 'chain'; choose from cmi, difference"):
        information_surplus(law, PK, labels, form="chain")


def test_grouping_survives_codes_beyond_two_to_the_62():
    """Labels so large that their mixed-radix code would overflow int64 are relabelled densely
    first; the groups must be the distinct pairs, counted here with a set."""
    from catlm.analysis.surplus import _group
    rng = np.random.default_rng(3)
    a = rng.choice([0, 2 ** 40, 2 ** 41 + 7], size=50)
    b = rng.choice([1, 2 ** 30, 5], size=50)
    labels, size = _group(a, b)
    pairs = list(zip(a.tolist(), b.tolist()))
    assert size >= len(set(pairs)) and len(set(labels.tolist())) == len(set(pairs))
    for i in range(50):
        for j in range(50):
            assert (labels[i] == labels[j]) == (pairs[i] == pairs[j])


def test_every_refusal_names_its_input_and_what_is_wrong():
    """Each refusal, spelt out: which input, which row or index, and the hint."""
    P = np.array([[0.5, 0.5], [1.0, 0.0]])
    with pytest.raises(KernelError, match=r"^successor map has shape \(2, 3\), expected \(2, 2\)$"):
        k_step_kernel(P, np.zeros((2, 3), dtype=int), 2)
    with pytest.raises(KernelError) as err:                  # 2 == len(P) is one past the last
        k_step_kernel(P, np.array([[0, 2], [0, 1]]), 2)
    assert err.value.message == ("context 0 moves to token 1 with positive probability but its "
                                 "successor 2 is not a context index")
    assert err.value.hint == "every transition of positive probability needs a successor context"
    with pytest.raises(KernelError, match=r"^next-token kernel is not a Markov kernel"):
        k_step_kernel(np.array([[0.5, 0.6], [1.0, 0.0]]), [[0, 1], [0, 1]], 2)
    # a transition of probability 0 needs no successor: token 1 never follows context 0
    stay = k_step_kernel(np.eye(2), np.array([[0, -1], [-1, 1]]), 2)
    np.testing.assert_array_equal(stay, [[[1, 0], [0, 0]], [[0, 0], [0, 1]]])
    PK = k_step_kernel(P, [[0, 1], [0, 1]], 2)
    flat, law = PK.reshape(2, 4), [0.5, 0.5]
    cases = ((PK, np.array([0, 1])), (sp.csr_matrix(flat), np.array([0, 1])), (sp.csr_matrix(flat), np.eye(2)))
    for kernel, encoder in cases:                  # dense; sparse with labels; sparse with a kernel
        with pytest.raises(KernelError, match=r"^context law is not a Markov kernel"):
            information_surplus([0.5, 0.6], kernel, encoder, steps=2)
        with pytest.raises(KernelError, match=r"^context law has 3 entries but 2 are needed"):
            information_surplus([0.2, 0.3, 0.5], kernel, encoder, steps=2)
    with pytest.raises(KernelError, match=r"^K-step kernel is not a Markov kernel"):
        information_surplus(law, np.array([[0.5, 0.6], [1.0, 0.0]]), np.array([0, 1]))
    with pytest.raises(KernelError, match=r"^encoder is not a Markov kernel"):
        information_surplus(law, PK, np.array([[0.5, 0.6], [1.0, 0.0]]))
    with pytest.raises(KernelError, match=r"^encoder has 3 rows but there are 2 contexts$"):
        information_surplus(law, PK, np.full((3, 2), 0.5))
    with pytest.raises(KernelError, match=r"^an encoder given as labels needs 2 nonnegative integers$"):
        information_surplus(law, PK, np.array([0.0, 1.0]))   # float labels, even nonnegative
    with pytest.raises(KernelError, match=r"^K-step kernel axes \(2, 3\) are not all the same vocabulary$"):
        information_surplus(law, np.full((2, 2, 3), 1 / 6), np.array([0, 1]))
    with pytest.raises(SpecError, match=r"^5 columns are not V\*\*2 for any V; pass steps=K$"):
        information_surplus(law, np.full((2, 5), 0.2), np.array([0, 1]), steps=2)


def test_sparse_kernel_rows_are_checked_one_by_one():
    law, labels = [0.5, 0.5, 0.0], np.array([0, 1, 1])
    halves = sp.csr_matrix(np.array([[1.0, 0.0], [0.5, 0.0], [0.0, 0.25]]))   # rows 1 and 2 are bad
    with pytest.raises(KernelError, match=r"^row 1 of the sparse K-step kernel is not a state \(sums to 0\.5\)$"):
        information_surplus(law, halves, labels)
    negative = sp.csr_matrix(np.array([[1.0, 0.0], [1.5, -0.5], [0.0, 1.0]]))  # sums are right
    with pytest.raises(KernelError, match=r"^row -1 of the sparse K-step kernel is not a state \(negative entry\)$"):
        information_surplus(law, negative, labels)
    # a stored zero is an entry of probability 0, not an error; and contexts of law 0 add nothing
    stored_zero = sp.csr_matrix((np.array([1.0, 0.0, 1.0, 1.0]), np.array([0, 1, 1, 0]),
                                 np.array([0, 2, 3, 4])), shape=(3, 2))
    assert stored_zero.nnz == 4
    for encoder in (labels, np.eye(2)[labels]):
        s = information_surplus(law, stored_zero, encoder)
        # H and W_1 are the same fair bit: I(H; W_1) = log 2, nothing beyond W_1
        assert s.mi_first == pytest.approx(math.log(2), abs=1e-15) and s.value == 0.0


def test_zero_probability_cells_never_enter_the_logarithms():
    """Contexts of law 0 with their own label and future: their cells have mass 0 and must be
    dropped (0 log 0 = 0), on the dense, sparse-with-kernel and sparse-with-labels paths."""
    rng = np.random.default_rng(11)
    P, successor = order_two_source(rng, 3)
    PK = explicit_k_step(P, successor, 2).reshape(9, -1)
    law = rng.dirichlet(np.ones(9))
    law[[2, 7]] = 0.0
    law /= law.sum()
    encoder = np.array([0, 1, 3, 0, 1, 2, 0, 4, 1])          # labels 3 and 4 carry no mass
    joint = np.zeros((5, 9))
    for x in range(9):
        joint[encoder[x]] += law[x] * PK[x]
    expected = conditional_mi_oracle(joint.reshape(5, 3, 3))
    for kernel, enc in ((PK, encoder), (sp.csr_matrix(PK), encoder), (sp.csr_matrix(PK), np.eye(5)[encoder])):
        s = information_surplus(law, kernel, enc, steps=2)
        assert s.value == pytest.approx(expected, abs=1e-13) and np.isfinite(s.mi_block)


def test_joint_state_has_one_row_per_label_and_the_default_of_one_step():
    from catlm.analysis.surplus import joint_state
    rng = np.random.default_rng(6)
    P, successor = order_two_source(rng, 2)
    PK, law = explicit_k_step(P, successor, 2).reshape(4, 4), rng.dirichlet(np.ones(4))
    for encoder in (np.array([0, 2, 2, 1]), np.zeros(4, dtype=int)):
        m = encoder.max() + 1
        expected = np.zeros((m, 4))
        for x in range(4):
            expected[encoder[x]] += law[x] * PK[x]
        joint, vocab, steps = joint_state(law, PK, encoder, steps=2)
        assert (vocab, steps) == (2, 2) and joint.shape == (m, 4)
        np.testing.assert_allclose(joint, expected, atol=1e-16)
    # without steps a flat kernel is one step over V = 4 tokens: no future beyond W_1
    encoder = np.array([0, 1, 1, 0])
    s = information_surplus(law, PK, encoder)
    hw = np.zeros((2, 4))
    for x in range(4):
        hw[encoder[x]] += law[x] * PK[x]
    H = lambda p: -np.sum(p[p > 0] * np.log(p[p > 0]))
    assert s.value == pytest.approx(0.0, abs=1e-15) and s.upper_bound == pytest.approx(0.0, abs=1e-15)
    assert s.mi_first == pytest.approx(H(hw.sum(1)) + H(hw.sum(0)) - H(hw), abs=1e-14)
    assert s.mi_first > 1e-3


def test_kernels_and_encoders_with_product_codomains_are_flattened():
    """A next-token kernel (n, A, B) is a kernel into the A·B tokens; an encoder (n, a, b) into a·b
    hidden states: both give what their flattened (n, A·B) and (n, a·b) forms give."""
    rng = np.random.default_rng(8)
    P = random_kernel(rng, 3, 4)
    successor = rng.integers(0, 3, (3, 4))
    np.testing.assert_allclose(k_step_kernel(P.reshape(3, 2, 2), successor, 2),
                               explicit_k_step(P, successor, 2), atol=1e-16)
    law, PK = rng.dirichlet(np.ones(3)), explicit_k_step(P, successor, 2)
    E = random_kernel(rng, 3, 4)
    flat = information_surplus(law, PK, E)
    boxed = information_surplus(law, PK, E.reshape(3, 2, 2))
    assert boxed.value == pytest.approx(flat.value, abs=1e-14) and flat.value > 1e-4


def test_a_base_rescales_every_field_of_the_kl_surplus():
    rng = np.random.default_rng(12)
    P, successor = order_two_source(rng, 3)
    law, PK = rng.dirichlet(np.ones(9)), explicit_k_step(P, successor, 2)
    encoder = rng.integers(0, 3, 9)
    joint = np.zeros((3, 3, 3))
    for x in range(9):
        joint[encoder[x]] += law[x] * PK[x]
    H = lambda p: -np.sum(p[p > 0] * np.log(p[p > 0])) / math.log(2)
    first, block = joint.sum(2), joint.reshape(3, 9)
    for form in ("cmi", "difference"):
        bits = information_surplus(law, PK, encoder, form=form, base=2)
        assert bits.mi_first == pytest.approx(H(first.sum(1)) + H(first.sum(0)) - H(first), abs=1e-13)
        assert bits.mi_block == pytest.approx(H(block.sum(1)) + H(block.sum(0)) - H(block), abs=1e-13)
        assert bits.upper_bound == pytest.approx(H(block.sum(0)) - H(first.sum(0)), abs=1e-13)


def test_a_non_kl_surplus_refuses_a_joint_state_over_the_dense_limit(monkeypatch):
    """The limit counts the cells m × V**K of the joint state (here 4 labels × 2 tokens = 8)."""
    from catlm.analysis import surplus
    law, kernel, labels = np.full(4, 0.25), sp.csr_matrix(np.eye(2)[[0, 1, 0, 1]]), np.arange(4)
    monkeypatch.setattr(surplus, "DENSE_LIMIT", 7)
    with pytest.raises(BudgetError) as err:
        information_surplus(law, kernel, labels, form="difference", divergence="tv")
    assert err.value.message == "the joint state has 8 cells, over 7"
    assert err.value.hint == "use divergence='kl' (sparse) or fewer steps"
    monkeypatch.setattr(surplus, "DENSE_LIMIT", 8)
    s = information_surplus(law, kernel, labels, form="difference", divergence="tv")
    # TV between p(h, w) = 1/4 on the diagonal pattern and p(h)p(w) = 1/8 everywhere: 1/2
    assert s.mi_first == pytest.approx(0.5, abs=1e-15) and s.value == 0.0


def test_grouping_is_the_mixed_radix_code_until_it_is_too_sparse():
    """Few codes: the label is the mixed-radix code itself and the size the product of widths.
    More codes than max(4 × cells, 2**20): labels are the ranks of the distinct codes."""
    from catlm.analysis.surplus import _group
    a, b = np.array([0, 199, 5, 199]), np.array([0, 1, 2, 1])
    labels, size = _group(a, b)
    assert labels.tolist() == [0, 598, 17, 598] and size == 600
    labels, size = _group(np.zeros(3, dtype=np.int64))
    assert labels.tolist() == [0, 0, 0] and size == 1
    ranks = lambda codes: [sorted(set(codes)).index(c) for c in codes]
    for top in (2 ** 20 - 1, 2 ** 20):                  # 2**20 codes stay, 2**20 + 1 are ranked
        labels, size = _group(np.array([0, top, 3]))
        expected = ([0, top, 3], top + 1) if top < 2 ** 20 else (ranks([0, top, 3]), 3)
        assert (labels.tolist(), size) == expected
    cells = 300_000
    for top, dense in ((1_100_000, False), (1_250_000, True)):   # 4 × cells = 1,200,000
        key = np.zeros(cells, dtype=np.int64)
        key[-1] = top - 1
        labels, size = _group(key)
        assert size == (2 if dense else top) and labels[-1] == (1 if dense else top - 1)
    # codes a·W + b that would wrap around 2**64 and collide: (2**32, 0) and (0, 2**32)
    a, b = np.array([2 ** 32, 0, 0]), np.array([0, 2 ** 32, 1])
    labels, size = _group(a, b)
    assert len(set(labels.tolist())) == 3 and size == 3
