"""Blocks of γ drafts with a bonus token: exact block laws, k-token marginals, tokens per call."""
from __future__ import annotations

import itertools
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catlm.decoding import (acceptance_by_position, block_law, expected_tokens_per_call,
                            iid_per_token_rate, iid_tokens_per_call, per_token_acceptance_rate,
                            prefix_law, shift_successor, successor_table, target_law,
                            transfer_matrix)
from catlm.errors import KernelError, SpecError, WiringError
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


def test_shift_successor_drops_the_oldest_token_and_appends_the_new_one():
    # order 3 over 2 tokens: state = 4 · oldest + 2 · middle + newest; s -> 2 s + x mod 8
    assert shift_successor(2, 3).tolist() == [[0, 1], [2, 3], [4, 5], [6, 7],
                                              [0, 1], [2, 3], [4, 5], [6, 7]]
    assert shift_successor(3, 1).tolist() == [[0, 1, 2]] * 3  # order 1: the state is the token


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
    assert blocks.total() == 1 and len(blocks.by_length) == gamma + 1 and blocks.gamma == gamma
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


def _shift(s: int, x: int) -> int:  # order-two states over 3 tokens: state = 3 * older + newer
    return (s % 3) * 3 + x


def _accepted_mass(P, Q, i: int, state: int, successor) -> F:
    """P(drafts 1..i all accepted | state) by brute force over the V^i draft paths.

    A draft ``x`` is drafted with Q[s, x] and kept with min(1, P/Q): together min(P, Q)[s, x].
    """
    total = F(0)
    for path in itertools.product(range(len(P[0])), repeat=i):
        s, weight = state, F(1)
        for x in path:
            weight, s = weight * min(P[s][x], Q[s][x]), successor(s, x)
        total += weight
    return total


def _all_fractions(values) -> bool:
    return all(type(v) is F for v in np.ravel(values))


@settings(max_examples=15, deadline=None)
@given(rational_kernels(9, 3), rational_kernels(9, 3), st.integers(1, 2),
       st.lists(st.integers(1, 4), min_size=9, max_size=9))
def test_order_two_states_through_the_transfer_matrix_rates_and_tokens_per_call(P, Q, gamma,
                                                                                weights):
    table = shift_successor(3, 2)
    At = np.full((9, 9), F(0), dtype=object)  # Ã[s, s'] = Σ_{x: shift(s, x) = s'} min(P, Q)[s, x]
    for s, x in itertools.product(range(9), range(3)):
        At[s, _shift(s, x)] += min(P[s, x], Q[s, x])
    assert transfer_matrix(P, Q, table).tolist() == At.tolist()
    rates = [[_accepted_mass(P, Q, i, s, _shift) for s in range(9)] for i in range(1, gamma + 1)]
    assert acceptance_by_position(P, Q, gamma, table).tolist() == rates
    assert acceptance_by_position(P, Q, gamma, _shift).tolist() == rates
    tokens = [1 + sum(rate[s] for rate in rates) for s in range(9)]
    assert expected_tokens_per_call(P, Q, gamma, table).tolist() == tokens
    assert per_token_acceptance_rate(P, Q, gamma, table).tolist() == [
        (t - 1) / gamma for t in tokens]
    start = np.array([F(w, sum(weights)) for w in weights], dtype=object)
    assert expected_tokens_per_call(P, Q, gamma, table, start) == sum(
        w * t for w, t in zip(start, tokens))
    assert per_token_acceptance_rate(P, Q, gamma, table, start) == sum(
        w * (t - 1) for w, t in zip(start, tokens)) / gamma
    assert acceptance_by_position(P, Q, gamma, table, start).tolist() == [
        sum(w * r for w, r in zip(start, rate)) for rate in rates]


@settings(max_examples=15, deadline=None)
@given(rational_kernels(9, 3), rational_kernels(9, 3), st.integers(0, 2), st.integers(0, 8),
       st.integers(1, 2))
def test_blocks_and_target_laws_of_nine_states_over_three_tokens(P, Q, gamma, state, k):
    table = shift_successor(3, 2)
    blocks = block_law(P, Q, gamma, state, table)
    assert blocks.total() == 1
    assert blocks.expected_length == 1 + sum(
        _accepted_mass(P, Q, i, state, _shift) for i in range(1, gamma + 1))
    assert as_dict(target_law(P, k, state, table)) == k_step_law(P, k, state, _shift)
    assert as_dict(target_law(P, k, state, _shift)) == k_step_law(P, k, state, _shift)


# Two states, three tokens, s' = (s + x) mod 2: tokens 0 and 2 lead to the same state.
P2 = np.array([[F(1, 2), F(1, 4), F(1, 4)], [F(1, 3), F(1, 3), F(1, 3)]], dtype=object)
Q2 = np.array([[F(1, 4), F(1, 4), F(1, 2)], [F(1, 2), F(1, 2), F(0)]], dtype=object)


def _parity(s: int, x: int) -> int:
    return (s + x) % 2


def test_two_tokens_reaching_one_state_add_their_overlaps():
    # min(P, Q) = [[1/4, 1/4, 1/4], [1/3, 1/3, 0]]; from 0: tokens 0, 2 -> 0 and 1 -> 1;
    # from 1: tokens 0, 2 -> 1 and 1 -> 0.
    At = [[F(1, 2), F(1, 4)], [F(1, 3), F(1, 3)]]
    assert transfer_matrix(P2, Q2, _parity).tolist() == At
    # Ã 1 = (3/4, 2/3); Ã² 1 = (1/2 · 3/4 + 1/4 · 2/3, 1/3 · 3/4 + 1/3 · 2/3) = (13/24, 17/36)
    rates = [[F(3, 4), F(2, 3)], [F(13, 24), F(17, 36)]]
    assert acceptance_by_position(P2, Q2, 2, _parity).tolist() == rates
    assert expected_tokens_per_call(P2, Q2, 2, _parity).tolist() == [F(55, 24), F(77, 36)]
    assert per_token_acceptance_rate(P2, Q2, 2, _parity).tolist() == [F(31, 48), F(41, 72)]
    assert block_law(P2, Q2, 2, 1, _parity).expected_length == F(77, 36)
    start = [F(1, 3), F(2, 3)]  # 1/3 · 55/24 + 2/3 · 77/36 = 473/216; rate (473/216 - 1) / 2
    assert expected_tokens_per_call(P2, Q2, 2, _parity, start) == F(473, 216)
    assert per_token_acceptance_rate(P2, Q2, 2, _parity, start) == F(257, 432)
    assert successor_table(_parity, 2, 3).tolist() == [[0, 1, 0], [1, 0, 1]]


def test_block_law_by_hand_with_one_draft_where_paths_share_a_block():
    # γ = 1 from state 0 of (P2, Q2): the draft x is kept with min(1, P/Q) = (1, 1, 1/2);
    # rejection mass (1 - 1/2) · 1/2 = 1/4 goes to the residual norm(max(0, P - Q)) = (1, 0, 0).
    # Accepted draft x, then a bonus from P[(0 + x) mod 2]:
    # x = 0 -> P[0] with 1/4, x = 1 -> P[1] with 1/4, x = 2 -> P[0] with 1/2 · 1/2 = 1/4.
    blocks = block_law(P2, Q2, 1, 0, _parity)
    assert blocks.by_length[0].tolist() == [F(1, 4), F(0), F(0)]
    assert blocks.by_length[1].tolist() == [
        [F(1, 8), F(1, 16), F(1, 16)], [F(1, 12), F(1, 12), F(1, 12)],
        [F(1, 8), F(1, 16), F(1, 16)]]
    two = block_law(P2, Q2, 2, 0, _parity).by_length[0]  # rejected first: summed over x_2
    assert two.tolist() == [F(1, 4), F(0), F(0)]


def test_exact_laws_give_fractions_and_float_laws_give_float64():
    start = np.array([F(1, 3), F(2, 3)], dtype=object)
    exact = [transfer_matrix(P2, Q2, _parity),
             acceptance_by_position(P2, Q2, 2, _parity),
             acceptance_by_position(P2, Q2, 0, _parity),
             acceptance_by_position(P2, Q2, 2, _parity, start),
             expected_tokens_per_call(P2, Q2, 2, _parity, start),
             per_token_acceptance_rate(P2, Q2, 1, _parity),
             *block_law(P2, Q2, 2, 1, _parity).by_length,
             target_law(P2, 2, 1, _parity), target_law(P2, 0, 1, _parity),
             prefix_law(P2, Q2, 1, 2, 0, _parity)]
    assert all(_all_fractions(value) for value in exact)
    floats = [transfer_matrix(P2.astype(float), Q2.astype(float), _parity),
              acceptance_by_position(P2.astype(float), Q2.astype(float), 2, _parity),
              acceptance_by_position(P2.astype(float), Q2.astype(float), 0, _parity),
              target_law(P2.astype(float), 0, 1, _parity),
              block_law(P2.astype(float), Q2.astype(float), 1, 1, _parity).by_length[1]]
    assert all(np.asarray(value).dtype == np.float64 for value in floats)
    assert acceptance_by_position(P2, Q2, 0, _parity).shape == (0, 2)
    assert successor_table(None, 3, 3).tolist() == [[0, 1, 2]] * 3


def test_every_refusal_names_the_argument_and_says_what_to_do():
    good, bad = np.full((2, 2), 0.5), np.array([[0.5, 0.5], [0.5, 0.6]])
    for call in (transfer_matrix, lambda P, Q: block_law(P, Q, 1, 0)):
        with pytest.raises(KernelError, match=r"^P is not a Markov kernel: row 1"):
            call(bad, good)
        with pytest.raises(KernelError, match=r"^Q is not a Markov kernel: row 1"):
            call(good, bad)
    with pytest.raises(WiringError, match=r"^P has 2 tokens but Q has 3") as error:
        transfer_matrix(good, np.full((2, 3), 1 / 3))
    assert "share one vocabulary" in error.value.hint
    with pytest.raises(KernelError, match=r"^P and Q mix exact"):
        transfer_matrix(P2, Q2.astype(float), _parity)
    with pytest.raises(WiringError, match=r"P and Q must both be \(S, V\) kernels; "
                                          r"got \(2, 2\) and \(3, 2\)"):
        transfer_matrix(good, np.full((3, 2), 0.5))
    with pytest.raises(WiringError, match=r"P and Q must both be \(S, V\) kernels; "
                                          r"got \(2,\) and \(2,\)"):
        transfer_matrix([0.5, 0.5], [0.5, 0.5])
    with pytest.raises(KernelError, match=r"^start_law is not a Markov kernel: the law"):
        expected_tokens_per_call(good, good, 1, start_law=[0.5, 0.6])
    with pytest.raises(WiringError, match=r"start_law must have shape \(2,\); got \(3,\)"):
        acceptance_by_position(good, good, 1, start_law=[0.5, 0.25, 0.25])
    with pytest.raises(KernelError, match=r"^P is not a Markov kernel: row 1"):
        target_law(bad, 1, 0)
    with pytest.raises(SpecError, match=r"^the per-token acceptance rate needs gamma >= 1 "
                                        r"drafted tokens$"):
        per_token_acceptance_rate(good, good, 0)
    with pytest.raises(SpecError, match=r"gamma \(drafts per call\) must be an int >= 0; got 1.5"):
        block_law(good, good, 1.5, 0)


def test_successor_refusals_name_states_tokens_and_the_fix():
    P = np.full((3, 2), 0.5)
    with pytest.raises(WiringError, match="S = V, but P has 3 states and 2 tokens") as error:
        transfer_matrix(P, P)
    assert error.value.hint == "pass successor=shift_successor(V, r)"
    with pytest.raises(WiringError, match=r"successor must be an int table of shape \(3, 2\); "
                                          r"got float64 \(3, 2\)"):
        transfer_matrix(P, P, np.zeros((3, 2)))
    with pytest.raises(WiringError, match=r"of shape \(3, 2\); got int64 \(2, 3\)"):
        transfer_matrix(P, P, np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(WiringError, match=r"outside the 3 states \(values 0..3\)"):
        transfer_matrix(P, P, [[0, 1], [2, 3], [0, 0]])
    with pytest.raises(WiringError, match=r"outside the 3 states \(values -1..2\)"):
        transfer_matrix(P, P, [[0, 1], [2, -1], [0, 0]])
    assert transfer_matrix(P, P, [[0, 1], [2, 2], [0, 0]]).tolist() == [
        [0.5, 0.5, 0], [0, 0, 1], [1, 0, 0]]


@pytest.mark.parametrize("state", [-1, 9])
def test_a_state_outside_the_chain_is_refused(state):
    P, table = np.full((9, 3), 1 / 3), shift_successor(3, 2)
    for call in (lambda: block_law(P, P, 1, state, table), lambda: target_law(P, 1, state, table),
                 lambda: prefix_law(P, P, 1, 1, state, table)):
        with pytest.raises(WiringError, match=f"state {state} is outside the 9 states"):
            call()
