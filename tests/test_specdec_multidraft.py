"""Multi-draft rules at one node, draft trees, and the VERIFIERS table."""
from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catlm.decoding import (VERIFIERS, Deterministic, Greedy, Single, SpecInfer, Typical,
                            WithoutReplacement, deterministic_law, get_verifier,
                            specinfer_accept_closed_form, total_variation, tree_prefix_law,
                            typical_threshold)
from catlm.errors import SpecError
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
