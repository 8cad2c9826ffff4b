"""Blocks of γ drafts with a bonus token: exact block laws, k-token marginals, tokens per call."""
from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catlm.decoding import (acceptance_by_position, block_law, expected_tokens_per_call,
                            iid_per_token_rate, iid_tokens_per_call, per_token_acceptance_rate,
                            prefix_law, shift_successor, target_law)
from catlm.errors import SpecError, WiringError
from specdec_oracles import as_dict, first_order, float_kernel, k_step_law, rational_kernels


@settings(max_examples=25, deadline=None)
@given(rational_kernels(3, 3), rational_kernels(3, 3), st.integers(0, 3), st.integers(1, 3),
       st.integers(0, 2), st.sampled_from(["speculative", "target"]))
def test_first_k_emitted_tokens_follow_the_target_exactly(P, Q, gamma, k, state, continuation):
    law = prefix_law(P, Q, gamma, k, state, continuation=continuation)
    assert as_dict(law) == k_step_law(P, k, state, first_order)


@settings(max_examples=10, deadline=None)
@given(rational_kernels(4, 4), rational_kernels(4, 4), st.sampled_from(["speculative", "target"]))
def test_vocabulary_4_three_drafts_three_tokens(P, Q, continuation):
    law = prefix_law(P, Q, 3, 3, 1, continuation=continuation)
    assert as_dict(law) == k_step_law(P, 3, 1, first_order)


@settings(max_examples=20, deadline=None)
@given(rational_kernels(9, 3), rational_kernels(9, 3), st.integers(1, 2))
def test_order_two_states_shift_the_last_two_tokens(P, Q, gamma):
    def shift(s, x):  # state = 3 * older + newer
        return (s % 3) * 3 + x

    table = shift_successor(3, 2)
    assert [[shift(s, x) for x in range(3)] for s in range(9)] == table.tolist()
    for continuation in ("speculative", "target"):
        law = prefix_law(P, Q, gamma, 2, 7, table, continuation)
        assert as_dict(law) == k_step_law(P, 2, 7, shift)
    assert as_dict(prefix_law(P, Q, gamma, 2, 7, shift)) == k_step_law(P, 2, 7, shift)


@settings(max_examples=30, deadline=None)
@given(rational_kernels(4, 4), rational_kernels(4, 4), st.integers(0, 3))
def test_block_law_is_a_law_with_lengths_one_to_gamma_plus_one(P, Q, gamma):
    blocks = block_law(P, Q, gamma, 0)
    assert blocks.total() == 1 and len(blocks.by_length) == gamma + 1
    first_token = sum(law.sum(axis=tuple(range(1, law.ndim))) for law in blocks.by_length)
    assert list(first_token) == list(P[0])


@settings(max_examples=30, deadline=None)
@given(rational_kernels(4, 4), rational_kernels(4, 4), st.integers(0, 3))
def test_expected_tokens_per_call_equals_the_enumerated_block_length(P, Q, gamma):
    tokens = expected_tokens_per_call(P, Q, gamma)
    enumerated = [block_law(P, Q, gamma, s).expected_length for s in range(4)]
    assert list(tokens) == enumerated
    start = np.array([F(1, 2), F(1, 4), F(1, 8), F(1, 8)], dtype=object)
    assert expected_tokens_per_call(P, Q, gamma, start_law=start) == sum(
        w * t for w, t in zip(start, enumerated))


@settings(max_examples=30, deadline=None)
@given(rational_kernels(4, 4), rational_kernels(4, 4), st.integers(1, 3))
def test_per_position_rate_is_the_mass_of_blocks_longer_than_the_position(P, Q, gamma):
    rates = acceptance_by_position(P, Q, gamma)
    for s in range(4):
        lengths = [law.sum() for law in block_law(P, Q, gamma, s).by_length]
        assert [rates[i, s] for i in range(gamma)] == [sum(lengths[i + 1:]) for i in range(gamma)]
        accepted = sum(j * mass for j, mass in enumerate(lengths))  # a block of j+1 accepts j
        assert per_token_acceptance_rate(P, Q, gamma)[s] == accepted / gamma


def _permuted_rows(p, q, states: int):
    """P[s], Q[s] are one shared permutation of p, q per state, so every state has the same α."""
    perms = [np.roll(np.arange(len(p)), s) for s in range(states)]
    P = np.array([[p[i] for i in perm] for perm in perms], dtype=object)
    Q = np.array([[q[i] for i in perm] for perm in perms], dtype=object)
    return P, Q


@pytest.mark.parametrize("gamma", [1, 2, 3, 5])
def test_closed_forms_when_every_state_accepts_at_the_same_rate(gamma):
    p, q = [F(1, 2), F(1, 4), F(1, 8), F(1, 8)], [F(1, 4), F(1, 4), F(1, 4), F(1, 4)]
    P, Q = _permuted_rows(p, q, 4)
    alpha = F(1, 4) + F(1, 4) + F(1, 8) + F(1, 8)  # Σ min(p, q) = 3/4
    tokens = sum(alpha ** j for j in range(gamma + 1))
    assert tokens == (1 - alpha ** (gamma + 1)) / (1 - alpha) == iid_tokens_per_call(alpha, gamma)
    assert list(expected_tokens_per_call(P, Q, gamma)) == [tokens] * 4
    rate = alpha * (1 - alpha ** gamma) / (gamma * (1 - alpha))
    assert list(per_token_acceptance_rate(P, Q, gamma)) == [rate] * 4
    assert iid_per_token_rate(alpha, gamma) == rate
    if gamma <= 3:
        assert block_law(P, Q, gamma, 2).expected_length == tokens


def test_published_worked_numbers_for_the_iid_closed_forms():
    assert iid_tokens_per_call(0.8, 5) == pytest.approx(3.689, abs=1e-3)
    assert iid_per_token_rate(0.8, 5) == pytest.approx(0.538, abs=1e-3)
    assert iid_tokens_per_call(0.6, 3) == pytest.approx(2.176, abs=1e-3)
    assert iid_tokens_per_call(1, 4) == 5 and iid_per_token_rate(1, 4) == 1


def test_hand_computed_tokens_per_call():
    P = [[F(1, 2), F(1, 2)], [F(1, 4), F(3, 4)]]
    Q = [[F(1, 2), F(1, 2)], [F(1, 2), F(1, 2)]]
    # A = [[1/2, 1/2], [1/4, 1/2]]; A1 = (1, 3/4); A^2 1 = (7/8, 5/8)
    assert list(expected_tokens_per_call(P, Q, 2)) == [F(23, 8), F(19, 8)]
    assert list(acceptance_by_position(P, Q, 2)[:, 1]) == [F(3, 4), F(5, 8)]


def test_floats_at_vocabulary_50():
    rng = np.random.default_rng(3)
    P, Q = float_kernel(rng, 50, 50), float_kernel(rng, 50, 50)
    oracle = np.array([[P[4, a] * P[a, b] for b in range(50)] for a in range(50)])
    np.testing.assert_allclose(prefix_law(P, Q, 2, 2, 4, continuation="target"), oracle,
                               atol=1e-12)
    np.testing.assert_allclose(prefix_law(P, Q, 1, 2, 4), oracle, atol=1e-12)
    blocks = block_law(P, Q, 2, 4)
    assert blocks.expected_length == pytest.approx(expected_tokens_per_call(P, Q, 2)[4], abs=1e-12)
    np.testing.assert_allclose(target_law(P, 2, 4), oracle, atol=1e-15)


def test_bad_arguments_raise_catlm_errors():
    P = np.full((3, 2), 0.5)
    with pytest.raises(WiringError, match="S = V"):
        expected_tokens_per_call(P, P, 2)
    with pytest.raises(WiringError, match="outside the 3 states"):
        block_law(P, P, 1, 0, np.full((3, 2), 3))
    with pytest.raises(SpecError, match="gamma"):
        block_law(np.eye(2), np.eye(2), -1, 0)
    with pytest.raises(SpecError, match="choose from speculative, target"):
        prefix_law(np.eye(2), np.eye(2), 1, 1, 0, continuation="greedy")
