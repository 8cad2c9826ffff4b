"""The sampled verification step (Leviathan Alg. 1) and the χ² helper.

``verify`` is checked two ways: integrating it over its uniforms exactly (Fractions, every cell
of the partition of [0, 1)^{γ+1} on which it is constant) gives the enumerated block law; and
20 000 seeded draws pass a χ² test against P while a broken verifier fails it.
"""
from __future__ import annotations

import itertools
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import catlm.decoding.rejection as rejection
from catlm.decoding import block_law, chi_square_test, verify
from catlm.errors import KernelError, SpecError, WiringError
from specdec_oracles import rational_kernels, residual_oracle

P = np.array([[0.5, 0.2, 0.2, 0.1], [0.1, 0.6, 0.2, 0.1],
              [0.25, 0.25, 0.25, 0.25], [0.0, 0.3, 0.3, 0.4]])
Q = np.array([[0.25, 0.25, 0.25, 0.25], [0.4, 0.4, 0.2, 0.0],
              [0.7, 0.1, 0.1, 0.1], [0.2, 0.2, 0.2, 0.4]])


def _breakpoints(values) -> list:
    return sorted({F(0), F(1), *(v for v in values if 0 < v < 1)})


def _integrated_block_law(P, Q, gamma: int, state: int) -> dict:
    """Σ over draft paths of Q-weight × ∫ 1[verify(...) = b] du, cell by cell."""
    law = {}
    for path in itertools.product(range(P.shape[1]), repeat=gamma):
        states = [state]
        for x in path:
            states.append(x)
        weight = np.prod([Q[s, x] for s, x in zip(states, path)]) if gamma else F(1)
        if weight == 0:
            continue
        p_rows, q_rows = P[states], Q[states[:-1]]
        cuts = [_breakpoints([min(1, p_rows[i, x] / q_rows[i, x])]) for i, x in enumerate(path)]
        laws = [residual_oracle(p, q) for p, q in zip(p_rows, q_rows)] + [list(p_rows[-1])]
        cuts.append(_breakpoints(itertools.chain(*(itertools.accumulate(r) for r in laws))))
        for cell in itertools.product(*(zip(c, c[1:]) for c in cuts)):
            u = np.array([(lo + hi) / 2 for lo, hi in cell], dtype=object)
            volume = np.prod([hi - lo for lo, hi in cell])
            block = tuple(verify(p_rows, q_rows, list(path), u).tolist())
            law[block] = law.get(block, 0) + weight * volume
    return law


@settings(max_examples=10, deadline=None)
@given(rational_kernels(3, 3), rational_kernels(3, 3), st.integers(0, 2), st.integers(0, 2))
def test_integrating_verify_over_its_uniforms_gives_the_enumerated_block_law(P, Q, gamma, state):
    enumerated = {index: mass
                  for law in block_law(P, Q, gamma, state).by_length
                  for index, mass in np.ndenumerate(law) if mass != 0}
    assert _integrated_block_law(P, Q, gamma, state) == enumerated


def _run(verifier, gamma: int, state: int, draws: int, seed: int) -> list[tuple[int, ...]]:
    """The blocks emitted by ``draws`` calls from ``state``, drafts sampled from Q."""
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(draws):
        path = []
        for _ in range(gamma):
            path.append(int(rng.choice(4, p=Q[path[-1] if path else state])))
        states = [state, *path]
        blocks.append(tuple(verifier(P[states], Q[states[:-1]], path, rng).tolist()))
    return blocks


@pytest.fixture(scope="module")
def blocks():
    return _run(verify, gamma=3, state=0, draws=20_000, seed=2024)


@pytest.mark.slow
def test_first_two_emitted_tokens_pass_a_chi_square_test_against_the_target(blocks):
    rng = np.random.default_rng(7)
    extended = [b if len(b) > 1 else (b[0], int(rng.choice(4, p=P[b[0]]))) for b in blocks]
    two_step = {(a, b): P[0, a] * P[a, b] for a in range(4) for b in range(4)}
    assert chi_square_test([b[:2] for b in extended], two_step).pvalue > 1e-3
    assert chi_square_test([b[0] for b in blocks], P[0]).pvalue > 1e-3


def test_whole_blocks_pass_a_chi_square_test_against_the_block_law(blocks):
    law = {index: mass for block in block_law(P, Q, 3, 0).by_length
           for index, mass in np.ndenumerate(block) if mass > 0}
    result = chi_square_test(blocks, law)
    assert result.pvalue > 1e-3 and result.dof > 10


@pytest.mark.slow
def test_the_chi_square_test_rejects_the_wrong_law_and_a_broken_verifier(blocks, monkeypatch):
    assert chi_square_test([b[0] for b in blocks], Q[0]).pvalue < 1e-12
    monkeypatch.setattr(rejection, "residual", lambda p, q: np.asarray(p))  # resample from p
    broken = _run(rejection.verify, gamma=1, state=1, draws=20_000, seed=5)
    assert chi_square_test([b[0] for b in broken], P[1]).pvalue < 1e-12


def test_verify_follows_algorithm_one_on_chosen_uniforms():
    p_rows = [[F(1, 2), F(1, 2)], [F(1, 4), F(3, 4)], [F(1), F(0)]]
    q_rows = [[F(1), F(0)], [F(1, 2), F(1, 2)]]
    # draft 0 accepted iff u_1 < 1/2; draft 1 accepted iff u_2 < min(1, (3/4)/(1/2)) = 1
    assert verify(p_rows, q_rows, [0, 1], [F(1, 3), F(9, 10), F(0)]).tolist() == [0, 1, 0]
    # rejecting draft 0: residual norm(max(0, (1/2, 1/2) - (1, 0))) = δ_1
    assert verify(p_rows, q_rows, [0, 1], [F(1, 2), F(0), F(0)]).tolist() == [1]
    # rejecting draft 1 (token 0 drafted): residual = norm((0, 1/4)) = δ_1
    assert verify(p_rows, q_rows, [0, 0], [F(0), F(3, 4), F(0)]).tolist() == [0, 1]


def test_chi_square_pools_small_bins_and_flags_impossible_samples():
    samples = [0] * 45 + [1] * 45 + [2] * 4 + [3] * 3 + [4] * 3
    result = chi_square_test(samples, [0.45, 0.45, 0.04, 0.03, 0.03])
    assert result.dof == 2 and result.n == 100  # expected 4, 3, 3 pooled into one bin of 10
    assert result.statistic == pytest.approx(0.0, abs=1e-12)
    assert chi_square_test([3], [0.5, 0.5, 0.0, 0.0]).pvalue == 0.0


def test_bad_inputs_raise_catlm_errors():
    p_rows, q_rows = [[0.5, 0.5], [0.5, 0.5]], [[1.0, 0.0]]
    with pytest.raises(KernelError, match="draft probability 0"):
        verify(p_rows, q_rows, [1], [0.1, 0.1])
    with pytest.raises(WiringError, match="2 uniforms"):
        verify(p_rows, q_rows, [0], [0.1])
    with pytest.raises(SpecError, match=r"\[0, 1\)"):
        verify(p_rows, q_rows, [0], [0.1, 1.0])
    with pytest.raises(WiringError, match=r"q_rows of shape \(2, V\)"):
        verify(p_rows, q_rows, [0, 0], [0.1, 0.1, 0.1])


def test_bad_rows_are_named_in_the_error():
    with pytest.raises(KernelError, match=r"^p_rows is not a Markov kernel: row 0 sums to 1.1"):
        verify(np.array([[0.5, 0.6], [0.5, 0.5]]), np.array([[0.5, 0.5]]), [0], [0.1, 0.2])
    with pytest.raises(KernelError, match=r"^q_rows is not a Markov kernel: row 0 sums to 1.3"):
        verify(np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([[0.7, 0.6]]), [0], [0.1, 0.2])


def test_every_refusal_of_verify_says_what_is_wrong():
    p2, q1 = np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([[0.5, 0.5]])
    with pytest.raises(WiringError, match="^p_rows has 2 tokens but q_rows has 3"):
        verify(p2, np.array([[0.2, 0.3, 0.5]]), [0], [0.1, 0.2])
    with pytest.raises(KernelError, match="^p_rows and q_rows mix exact"):
        verify(p2, np.array([[F(1, 2), F(1, 2)]], dtype=object), [0], [0.1, 0.2])
    with pytest.raises(WiringError, match=r"^2 drafted tokens need p_rows of shape \(3, V\) and q_rows of "
                                          r"shape \(2, V\); got \(2, 2\) and \(1, 2\)"):
        verify(p2, q1, [0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(WiringError, match=r"need p_rows of shape \(2, V\)"):
        verify(np.array([[0.5, 0.5]] * 3), np.array([[0.5, 0.5]] * 2)[:1], [0], [0.1, 0.2])
    for token in (2, -1):                         # outside the vocabulary of 2 tokens
        with pytest.raises(KernelError, match=f"^drafted token {token} at position 0 has draft probability 0") as err:
            verify(p2, q1, [token], [0.1, 0.2])
        assert err.value.hint == "q_rows must be the laws the drafted tokens were sampled from"
    with pytest.raises(KernelError, match="drafted token 1 at position 0"):
        verify(p2, np.array([[1.0, 0.0]]), [1], [0.1, 0.2])
    for bad in ([-0.1, 0.2], [0.1, 1.0]):
        with pytest.raises(SpecError, match=r"^uniforms must lie in \[0, 1\)$"):
            verify(p2, q1, [0], bad)
    assert verify(p2, q1, np.array([1.0]), [0.1, 0.2]).tolist() == [1, 0]   # tokens read as integers
