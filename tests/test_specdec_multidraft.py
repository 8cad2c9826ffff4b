"""Multi-draft rules at one node, draft trees, and the VERIFIERS table."""
from __future__ import annotations

import re
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catlm.decoding import (VERIFIERS, Deterministic, Greedy, Single, SpecInfer, Typical,
                            WithoutReplacement, deterministic_law, get_verifier,
                            specinfer_accept_closed_form, total_variation, tree_prefix_law,
                            typical_threshold)
from catlm.decoding.blocks import shift_successor
from catlm.decoding.multidraft import chain_law
from catlm.errors import KernelError, SpecError, WiringError
from specdec_oracles import (as_dict, first_order, float_kernel, k_step_law, rational_kernels,
                             residual_oracle)

rows = rational_kernels(1, 4).map(lambda K: K[0])


def _miss_chain(p, qs):
    """Π (1 - α_i) along p_{i+1} = norm(max(0, p_i - q_i)), from the formulas alone."""
    miss, current = F(1), list(p)
    for q in qs:
        miss *= 1 - sum(min(a, b) for a, b in zip(current, q))
        current = residual_oracle(current, q)
    return miss


@settings(max_examples=40, deadline=None)
@given(rows, rows, st.integers(1, 3))
def test_specinfer_iid_drafts_emit_the_target_and_accept_as_the_closed_form(p, q, k):
    node = SpecInfer().output_law(p, q, k)
    assert list(node.law) == list(p)
    assert node.accepted == 1 - _miss_chain(p, [q] * k)


@settings(max_examples=40, deadline=None)
@given(rows, st.lists(rows, min_size=1, max_size=3))
def test_specinfer_with_several_drafters(p, qs):
    node = SpecInfer().output_law(p, np.array(qs, dtype=object), len(qs))
    assert list(node.law) == list(p)
    assert node.accepted == 1 - _miss_chain(p, qs)
    assert specinfer_accept_closed_form(p, np.array(qs, dtype=object)) == node.accepted


@settings(max_examples=40, deadline=None)
@given(rows, rows, st.integers(1, 4))
def test_sampling_without_replacement_emits_the_target(p, q, k):
    node = WithoutReplacement().output_law(p, q, k)
    assert list(node.law) == list(p)
    assert 0 <= node.accepted <= 1


def test_without_replacement_hand_example():
    # q uniform on {0, 1}, p = (1/4, 0, 3/4), k = 2.
    # x_1 = 0 (1/2): accept with 1/4 / 1/2 = 1/2; else p_2 = norm(max(0, p - q)) = (0, 0, 1)
    # and x_2 = 1 (q_2 = δ_1) is rejected. x_1 = 1 (1/2): rejected (p(1) = 0); p_2 = (0, 0, 1)
    # again and x_2 = 0 (q_2 = δ_0) is rejected. So P(accept) = 1/2 · 1/2 = 1/4.
    p, q = [F(1, 4), F(0), F(3, 4)], [F(1, 2), F(1, 2), F(0)]
    node = WithoutReplacement().output_law(p, q, 2)
    assert node.accepted == F(1, 4)
    assert list(node.law) == p


@settings(max_examples=40, deadline=None)
@given(rows, st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True))
def test_deterministic_candidates_accept_with_their_target_mass(p, candidates):
    node = deterministic_law(p, candidates)
    assert list(node.law) == list(p)
    assert node.accepted == sum(p[x] for x in candidates)


def test_deterministic_rule_takes_the_top_k_tokens_of_the_draft():
    p = [F(1, 10), F(2, 10), F(3, 10), F(4, 10)]
    q = [F(1, 2), F(1, 8), F(1, 4), F(1, 8)]  # top-2: token 0, then token 2
    node = Deterministic().output_law(p, q, 2)
    assert node.accepted == F(1, 10) + F(3, 10) and list(node.law) == p


@settings(max_examples=40, deadline=None)
@given(rows, rows, st.integers(1, 3))
def test_greedy_always_emits_the_argmax_and_accepts_when_a_draft_hits_it(p, q, k):
    node = Greedy().output_law(p, q, k)
    best = max(range(4), key=lambda x: (p[x], -x))  # ties: the smallest id
    assert list(node.law) == [F(int(x == best)) for x in range(4)]
    assert node.accepted == 1 - (1 - q[best]) ** k


def test_greedy_ties_go_to_the_smallest_token_and_greedy_drafts_accept_on_agreement():
    p = [F(1, 5), F(2, 5), F(2, 5)]
    assert list(Greedy().output_law(p, [F(0), F(0), F(1)]).law) == [0, 1, 0]
    assert Greedy().output_law(p, [F(0), F(0), F(1)]).accepted == 0
    assert Greedy().output_law(p, [F(0), F(1), F(0)]).accepted == 1


def test_typical_acceptance_is_lossy_on_a_hand_example():
    # p = (1/2, 1/4, 1/4): H = 1.5 ln 2, δ e^{-H} = 0.3 / 2^{1.5} = 0.106 > ε = 0.09, so τ = 0.09;
    # every token is typical, every draft is accepted, and the node emits q.
    p, q = [F(1, 2), F(1, 4), F(1, 4)], [F(1, 4), F(1, 4), F(1, 2)]
    node = Typical().output_law(p, q)
    assert list(node.law) == q and node.accepted == 1
    assert total_variation(node.law, p) == F(1, 4)


def test_typical_acceptance_is_lossy_even_with_a_perfect_drafter():
    # p = q = (19/20, 1/20): H = 0.1985 nats, τ = min(0.09, 0.3·0.820) = 0.09; token 1 (0.05) is
    # never accepted and never in the fallback, so the node emits δ_0: TV = 1/20.
    p = [F(19, 20), F(1, 20)]
    node = Typical().output_law(p, p)
    assert list(node.law) == [1, 0] and node.accepted == F(19, 20)
    assert total_variation(node.law, p) == F(1, 20)


def test_typical_threshold_switches_to_the_entropy_term_for_flat_laws():
    # p uniform on 8: H = ln 8, δ e^{-H} = 0.3/8 = 0.0375 < ε = 0.2, so τ = 0.0375 < 1/8: every
    # token is typical although each is below ε, and a point-mass draft is always accepted.
    p, q = [F(1, 8)] * 8, [F(1)] + [F(0)] * 7
    assert typical_threshold(p, 0.2, 0.3) == pytest.approx(0.0375, abs=1e-15)
    assert list(Typical(epsilon=0.2).output_law(p, q).law) == q


@settings(max_examples=15, deadline=None)
@given(rational_kernels(3, 3), rational_kernels(3, 3), st.integers(0, 2),
       st.sampled_from([(Single(), (1, 1)), (SpecInfer(), (2, 2)), (WithoutReplacement(), (2, 2)),
                        (Deterministic(), (2, 1))]))
def test_depth_two_trees_emit_the_targets_two_step_law(P, Q, state, rule_widths):
    rule, widths = rule_widths
    law = tree_prefix_law(P, Q, rule, widths, state)
    assert as_dict(law) == k_step_law(P, 2, state, first_order)


def test_a_depth_three_tree_and_floats_at_vocabulary_50():
    rng = np.random.default_rng(11)
    P, Q = float_kernel(rng, 50, 50), float_kernel(rng, 50, 50)
    np.testing.assert_allclose(tree_prefix_law(P, Q, Deterministic(), (3, 2), 5),
                               P[5][:, None] * P, atol=1e-12)
    np.testing.assert_allclose(SpecInfer().output_law(P[0], Q[0], 2).law, P[0], atol=1e-12)
    node = Deterministic().output_law(P[1], Q[1], 5)
    np.testing.assert_allclose(node.law, P[1], atol=1e-12)
    assert node.accepted == pytest.approx(P[1][np.argsort(-Q[1], kind="stable")[:5]].sum())
    P3, Q3 = float_kernel(rng, 3, 3), float_kernel(rng, 3, 3)
    oracle = k_step_law(P3, 3, 1, first_order)
    law = tree_prefix_law(P3, Q3, SpecInfer(), (2, 1, 2), 1)
    np.testing.assert_allclose([law[i] for i in oracle], list(oracle.values()), atol=1e-14)


def test_the_verifier_table():
    assert {name: rule.lossless for name, rule in VERIFIERS.items()} == {
        "single": True, "specinfer": True, "without_replacement": True, "deterministic": True,
        "greedy": False, "typical": False}
    assert all(rule.name == name for name, rule in VERIFIERS.items())
    assert get_verifier("specinfer") is VERIFIERS["specinfer"]
    with pytest.raises(SpecError, match="choose from deterministic, greedy, single, specinfer"):
        get_verifier("medusa")


def test_bad_rule_arguments_raise_catlm_errors():
    with pytest.raises(SpecError, match="k = 1"):
        Single().output_law([0.5, 0.5], [0.5, 0.5], 2)
    with pytest.raises(SpecError, match="delta"):
        Typical(delta=2.0)
    with pytest.raises(SpecError, match="residual-chain"):
        tree_prefix_law(np.eye(2), np.eye(2), Greedy(), (1, 1), 0)


def _verify_in_order(p, drafts):
    """Law and acceptance of fixed drafts ``(x_i, q_i)`` tested one by one against the residual."""
    law, reach, current = [F(0)] * len(p), F(1), list(p)
    for x, q in drafts:
        a = min(F(1), current[x] / q[x])
        law[x] += reach * a
        reach, current = reach * (1 - a), residual_oracle(current, q)
    return [e + reach * c for e, c in zip(law, current)], 1 - reach


def _without_replacement_oracle(p, q, k):
    """RSD by enumerating every ordered draw of distinct tokens: ``x_i ~ q`` without ``x_<i``."""
    law, accepted = [F(0)] * len(p), F(0)
    stack = [(F(1), ())]
    while stack:
        weight, drafts = stack.pop()
        left = [F(0) if any(x == y for y, _ in drafts) else b for x, b in enumerate(q)]
        if len(drafts) == k or sum(left) == 0:
            node_law, node_accepted = _verify_in_order(p, drafts)
            law = [a + weight * b for a, b in zip(law, node_law)]
            accepted += weight * node_accepted
            continue
        q_i = [b / sum(left) for b in left]
        stack += [(weight * q_i[x], drafts + ((x, q_i),)) for x in range(len(q)) if q_i[x]]
    return law, accepted


@settings(max_examples=40, deadline=None)
@given(rows, rows, st.integers(1, 5))
def test_without_replacement_accepts_as_the_enumeration_of_ordered_distinct_drafts(p, q, k):
    node = WithoutReplacement().output_law(p, q, k)
    law, accepted = _without_replacement_oracle(p, q, k)
    assert (list(node.law), node.accepted) == (law, accepted) and law == list(p)


def test_without_replacement_by_hand_when_the_draft_has_fewer_tokens_than_k():
    # q = (1/3, 2/3, 0), p = (0, 1/2, 1/2), k = 3: only two distinct drafts exist, so the chain
    # stops after two. x_1 = 0 (1/3) is rejected (p(0) = 0); p_2 = norm(max(0, p - q)) = δ_2, and
    # x_2 = 1 (q_2 = δ_1) is rejected too. x_1 = 1 (2/3) is accepted with min(1, (1/2)/(2/3)) = 3/4;
    # else p_2 = δ_2 and x_2 = 0 is rejected. So P(accept) = 2/3 · 3/4 = 1/2.
    p, q = [F(0), F(1, 2), F(1, 2)], [F(1, 3), F(2, 3), F(0)]
    node = WithoutReplacement().output_law(p, q, 3)
    assert node.accepted == F(1, 2) and list(node.law) == p


@settings(max_examples=40, deadline=None)
@given(rows, rows)
def test_a_single_draft_accepts_with_the_overlap_mass(p, q):
    # Leviathan et al.: α = Σ min(p, q) = 1 - TV(p, q).
    for node in (Single().output_law(p, q), VERIFIERS["single"].output_law(p, q, 1)):
        assert list(node.law) == list(p)
        assert node.accepted == sum(min(a, b) for a, b in zip(p, q))


def test_deterministic_top_k_breaks_ties_by_the_smaller_token():
    p = [F(1, 16), F(2, 16), F(4, 16), F(9, 16)]
    cases = [([F(1, 4)] * 4, 2, {0, 1}), ([F(1, 10), F(3, 10), F(3, 10), F(3, 10)], 2, {1, 2}),
             ([F(0), F(1, 2), F(0), F(1, 2)], 3, {1, 3, 0}), ([F(1, 4)] * 4, 9, {0, 1, 2, 3})]
    for q, k, top in cases:
        node = Deterministic().output_law(p, q, k)
        assert node.accepted == sum(p[x] for x in top) and list(node.law) == p


def test_deterministic_candidates_at_the_edges_of_the_vocabulary():
    p = [F(1, 2), F(1, 4), F(1, 4)]
    assert deterministic_law(p, [0, 2]).accepted == F(3, 4)
    assert deterministic_law(p, np.array([2])).accepted == F(1, 4)
    for bad in ([3], [0, -1]):
        with pytest.raises(WiringError, match=rf"^candidates {re.escape(str(bad))} are not all "
                                              r"tokens of a 3-token vocabulary"):
            deterministic_law(p, bad)
    with pytest.raises(KernelError, match=r"^p is not a Markov kernel"):
        deterministic_law([F(1, 2)], [0])


@pytest.mark.parametrize("rule", [Single(), SpecInfer(), WithoutReplacement(), Deterministic()],
                         ids=lambda rule: rule.name)
def test_lossless_rules_keep_exact_rows_exact_and_float_rows_float(rule):
    node = rule.output_law([F(0), F(1, 3), F(2, 3)], [F(1), F(0), F(0)])
    assert node.law.dtype == object and all(type(x) is F for x in node.law)
    assert type(node.accepted) is F and node.accepted == 0
    node = rule.output_law([0.0, 0.25, 0.75], [1.0, 0.0, 0.0])
    assert node.law.dtype == np.float64 and list(node.law) == [0.0, 0.25, 0.75]
    assert isinstance(node.accepted, float) and node.accepted == 0.0


@pytest.mark.parametrize("rule", [SpecInfer(), WithoutReplacement(), Deterministic(), Greedy(),
                                  Typical()], ids=lambda rule: rule.name)
def test_k_must_be_an_int_of_at_least_one(rule):
    p = [F(1, 2), F(1, 2)]
    for k in (0, -1, 1.5, "2"):
        with pytest.raises(SpecError, match=rf"^k \(drafts per node\) must be an int >= 1; got {k!r}$"):
            rule.output_law(p, p, k)
    by_numpy_int, by_int = rule.output_law(p, p, np.int64(2)), rule.output_law(p, p, 2)
    assert list(by_numpy_int.law) == list(by_int.law) and by_numpy_int.accepted == by_int.accepted


def test_bad_drafts_are_named_in_the_error():
    p = [F(1, 4)] * 4
    with pytest.raises(WiringError, match=r"^several drafters need q of shape \(k, V\) = \(2, 4\); "
                                          r"got \(3, 4\)"):
        SpecInfer().output_law(p, np.array([p] * 3, dtype=object), 2)
    with pytest.raises(WiringError, match=r"got \(2, 1, 4\)"):
        SpecInfer().output_law(p, np.array([[p]] * 2, dtype=object), 2)
    for rule in (SpecInfer(), WithoutReplacement(), Deterministic()):
        with pytest.raises(WiringError, match=r"^p has 4 tokens but q has 2"):
            rule.output_law(p, [F(1, 2)] * 2, 1)
        with pytest.raises(KernelError, match=r"^q is not a Markov kernel"):
            rule.output_law(p, [F(1, 2)] * 4, 1)
        with pytest.raises(KernelError, match=r"^p is not a Markov kernel"):
            rule.output_law([F(1, 2)] * 4, p, 1)
        with pytest.raises(WiringError, match=r"^p must be one distribution"):
            rule.output_law([p], p, 1)
    with pytest.raises(WiringError, match=r"^q must be one distribution"):
        WithoutReplacement().output_law(p, [p], 1)
    with pytest.raises(WiringError, match=r"^q must be one distribution"):
        Deterministic().output_law(p, [p], 1)


def test_the_single_draft_rule_refuses_several_drafts_with_a_hint():
    with pytest.raises(SpecError, match=r"^the single-draft rule verifies k = 1 draft, not 2 \(") as error:
        Single().output_law([F(1, 2)] * 2, [F(1, 2)] * 2, 2)
    assert error.value.hint == "use 'specinfer' or 'without_replacement' for k > 1"


def test_the_closed_form_by_hand_and_its_refusals():
    p = [F(1, 2), F(1, 2)]
    assert specinfer_accept_closed_form(p, [[F(1), F(0)], [F(1), F(0)]]) == F(1, 2)
    assert specinfer_accept_closed_form(p, [[F(1), F(0)], [F(0), F(1)]]) == 1  # p_2 = δ_1
    none = specinfer_accept_closed_form([0.5, 0.5], np.empty((0, 2)))  # no drafter: 1 - (empty Π)
    assert isinstance(none, float) and none == 0.0
    with pytest.raises(KernelError, match=r"^p is not a Markov kernel"):
        specinfer_accept_closed_form([F(1, 2)], [[F(1)]])
    with pytest.raises(KernelError, match=r"^q is not a Markov kernel"):
        specinfer_accept_closed_form(p, [[F(1), F(1)]])


@settings(max_examples=10, deadline=None)
@given(rational_kernels(4, 2), rational_kernels(4, 2), st.integers(0, 3),
       st.sampled_from([(SpecInfer(), (2, 2)), (WithoutReplacement(), (2, 1)),
                        (Deterministic(), (1, 2))]))
def test_trees_over_order_two_states_emit_the_targets_law(P, Q, state, rule_widths):
    # States are the last two tokens of a binary vocabulary: s' = (2 s + x) mod 4.
    rule, widths = rule_widths
    successor = lambda s, x: (2 * s + x) % 4
    law = tree_prefix_law(P, Q, rule, widths, state, successor)
    assert as_dict(law) == k_step_law(P, 2, state, successor)
    assert as_dict(tree_prefix_law(P, Q, rule, widths, state, shift_successor(2, 2))) == as_dict(law)


def test_a_depth_one_tree_is_the_node_law_and_bad_trees_are_refused():
    P = np.array([[F(1, 2), F(1, 2)], [F(1, 3), F(2, 3)]], dtype=object)
    law = tree_prefix_law(P, P[::-1], SpecInfer(), (2,), 1)
    assert law.dtype == object and list(law) == [F(1, 3), F(2, 3)]
    floats = np.array([[0.5, 0.5], [0.25, 0.75], [1.0, 0.0], [0.0, 1.0]])  # 4 states, 2 tokens
    law = tree_prefix_law(floats, floats[::-1], Deterministic(), (1, 1), 3, shift_successor(2, 2))
    assert law.dtype == np.float64 and law.tolist() == [[0.0, 0.0], [0.0, 1.0]]  # 3 -> 3 -> 3
    with pytest.raises(SpecError, match=r"^trees are verified with a residual-chain rule, not "
                                        r"Typical\(") as error:
        tree_prefix_law(P, P, Typical(), (1,), 0)
    assert error.value.hint == "use Single, SpecInfer, WithoutReplacement or Deterministic"
    with pytest.raises(SpecError, match=r"^k \(drafts per node\) must be an int >= 1; got 0"):
        tree_prefix_law(P, P, SpecInfer(), (1, 0), 0)
    with pytest.raises(SpecError, match=r"^the single-draft rule verifies k = 1 draft, not 2"):
        tree_prefix_law(P, P, Single(), (2,), 0)  # each node is drafted with its own width
    with pytest.raises(WiringError, match=r"^state 2 is outside the 2 states"):
        tree_prefix_law(P, P, SpecInfer(), (1,), 2)


def test_one_draft_by_default_and_the_draws_each_rule_enumerates():
    p, q = np.array([F(1, 2), F(1, 4), F(1, 4)], dtype=object), [F(1, 6), F(0), F(5, 6)]
    for rule in (Single(), SpecInfer(), WithoutReplacement()):
        draws = [(d.weight, [(x, list(row)) for x, row in d.steps]) for d in rule.draws(p, q)]
        assert draws == [(F(1, 6), [(0, q)]), (F(5, 6), [(2, q)])]
    [draw] = Deterministic().draws(p, q)
    assert draw.weight == 1 and [(x, list(row)) for x, row in draw.steps] == [(2, [0, 0, 1])]
    assert [d.weight for d in SpecInfer().draws(p, q, 2)] == [F(1, 36), F(5, 36), F(5, 36), F(25, 36)]
    assert [[x for x, _ in d.steps] for d in WithoutReplacement().draws(p, q, 2)] == [[0, 2], [2, 0]]
    assert [d.weight for d in WithoutReplacement().draws(p, q, 2)] == [F(1, 6), F(5, 6)]
    for rule in VERIFIERS.values():  # output_law's default is one draft too
        one_draft = rule.output_law(p, q)
        assert list(one_draft.law) == list(rule.output_law(p, q, 1).law)
        assert one_draft.accepted == rule.output_law(p, q, 1).accepted


def test_chain_law_by_hand_and_without_drafts():
    # p = (1/2, 1/2): draft 0 from δ_0 is accepted with 1/2; else p_2 = δ_1 and draft 1 from
    # q_2 = (1/3, 2/3) is accepted with min(1, 1/(2/3)) = 1: P(accept) = 1, and p is emitted.
    p = np.array([F(1, 2), F(1, 2)], dtype=object)
    node = chain_law(p, [(0, np.array([F(1), F(0)], dtype=object)),
                         (1, np.array([F(1, 3), F(2, 3)], dtype=object))])
    assert list(node.law) == list(p) and node.accepted == 1
    node = chain_law(np.array([0.25, 0.75]), ())   # no draft: sample p itself, accept nothing
    assert node.law.dtype == np.float64 and list(node.law) == [0.25, 0.75]
    assert isinstance(node.accepted, float) and node.accepted == 0.0
