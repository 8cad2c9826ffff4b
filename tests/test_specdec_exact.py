"""One draft-verify step: α = Σ min(p, q) = 1 - TV, the residual, and the output kernel = P."""
from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings

from catlm.decoding import (accept_probability, acceptance_rate, overlap, residual,
                            speculative_kernel, total_variation)
from catlm.errors import KernelError, WiringError
from specdec_oracles import float_kernel, rational_kernels, residual_oracle


def test_acceptance_rate_of_a_hand_example():
    p, q = [F(1, 2), F(1, 3), F(1, 6)], [F(1, 6), F(1, 2), F(1, 3)]
    # min: 1/6 + 1/3 + 1/6 = 2/3; TV = (1/3 + 1/6 + 1/6) / 2 = 1/3
    assert acceptance_rate(p, q) == F(2, 3)
    assert total_variation(p, q) == F(1, 3)
    assert list(residual(p, q)) == [F(1), F(0), F(0)]  # only token 0 has p > q


@settings(max_examples=60, deadline=None)
@given(rational_kernels(5, 4), rational_kernels(5, 4))
def test_acceptance_is_one_minus_total_variation_exactly(P, Q):
    tv = [sum(abs(a - b) for a, b in zip(p, q)) / 2 for p, q in zip(P, Q)]
    assert list(acceptance_rate(P, Q)) == [1 - t for t in tv]
    assert list(total_variation(P, Q)) == tv


@settings(max_examples=60, deadline=None)
@given(rational_kernels(5, 4), rational_kernels(5, 4))
def test_residual_matches_its_definition(P, Q):
    R = residual(P, Q)
    assert [list(r) for r in R] == [residual_oracle(p, q) for p, q in zip(P, Q)]


@settings(max_examples=60, deadline=None)
@given(rational_kernels(6, 4), rational_kernels(6, 4))
def test_speculative_kernel_is_the_target_exactly(P, Q):
    assert (speculative_kernel(P, Q) == P).all()


@settings(max_examples=40, deadline=None)
@given(rational_kernels(4, 4), rational_kernels(4, 4))
def test_target_decomposes_as_overlap_plus_rejected_residual(P, Q):
    # P = A + diag(1 - β) R, the row-wise proof of losslessness
    A, beta, R = overlap(P, Q), acceptance_rate(P, Q), residual(P, Q)
    assert (A + (1 - beta)[:, None] * R == P).all()


def test_tokens_the_draft_never_proposes_are_reached_only_through_the_residual():
    p, q = [F(1, 4), F(1, 4), F(1, 2)], [F(1, 2), F(1, 2), F(0)]
    assert list(accept_probability(p, q)) == [F(1, 2), F(1, 2), F(0)]
    assert list(residual(p, q)) == [F(0), F(0), F(1)]
    assert list(speculative_kernel(p, q)) == p


def test_rows_with_p_equal_q_accept_always_and_return_p_as_residual():
    P = np.array([[F(1, 3), F(2, 3)], [F(1, 2), F(1, 2)]], dtype=object)
    Q = np.array([[F(1, 3), F(2, 3)], [F(1), F(0)]], dtype=object)
    assert list(acceptance_rate(P, Q)) == [F(1), F(1, 2)]
    assert [list(r) for r in residual(P, Q)] == [[F(1, 3), F(2, 3)], [F(0), F(1)]]
    assert (speculative_kernel(P, Q) == P).all()


def test_a_point_mass_draft_is_accepted_with_the_target_probability_of_its_token():
    p = [F(1, 5), F(3, 5), F(1, 5)]
    assert acceptance_rate(p, [F(0), F(1), F(0)]) == F(3, 5)


def test_floats_at_vocabulary_50():
    rng = np.random.default_rng(7)
    P, Q = float_kernel(rng, 30, 50), float_kernel(rng, 30, 50)
    np.testing.assert_allclose(speculative_kernel(P, Q), P, atol=1e-12)
    np.testing.assert_allclose(acceptance_rate(P, Q), 1 - 0.5 * np.abs(P - Q).sum(axis=1),
                               atol=1e-12)
    R = residual(P, Q)
    assert (R >= 0).all()
    np.testing.assert_allclose(R.sum(axis=1), 1, atol=1e-12)


def test_float_rounding_never_makes_the_residual_negative_or_undefined():
    p = np.array([0.1, 0.2, 0.7])
    q = np.array([0.1, 0.2, 0.7]) + np.array([1e-17, -1e-17, 0.0])  # equal up to rounding
    np.testing.assert_array_equal(residual(p, q), p)
    np.testing.assert_allclose(speculative_kernel(p, q), p, atol=1e-15)


def test_bad_inputs_raise_catlm_errors():
    with pytest.raises(KernelError, match="row 1 sums to"):
        acceptance_rate([[0.5, 0.5], [0.5, 0.6]], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(KernelError, match="negative"):
        residual([1.5, -0.5], [0.5, 0.5])
    with pytest.raises(WiringError, match="2 tokens but q has 3"):
        speculative_kernel([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(KernelError, match="mix"):
        overlap([F(1, 2), F(1, 2)], [0.5, 0.5])


def test_a_bad_law_is_named_in_the_error():
    from catlm.errors import KernelError
    with pytest.raises(KernelError, match=r"^p is not a Markov kernel: the law sums to 1.1"):
        total_variation([0.5, 0.6], [0.5, 0.5])
    with pytest.raises(KernelError, match=r"^q is not a Markov kernel: the law sums to 1.3"):
        total_variation([0.5, 0.5], [0.7, 0.6])


def test_one_target_row_broadcasts_against_several_draft_rows_and_back():
    """(V,) against (2, V) in either order: every output has the broadcast shape (2, V), and the
    verified output is still the target's law, row by row (Leviathan et al. 2023, Thm 1)."""
    p = np.array([0.5, 0.3, 0.2])
    q = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    expected = np.array([[1.0, 1.0, 0.4], [0.5 / 0.6, 1.0, 1.0]])
    np.testing.assert_allclose(accept_probability(p, q), expected, atol=1e-15)
    np.testing.assert_allclose(accept_probability(q, p), np.minimum(1, q / p), atol=1e-15)
    np.testing.assert_allclose(speculative_kernel(p, q), np.tile(p, (2, 1)), atol=1e-15)
    np.testing.assert_allclose(speculative_kernel(q, p), q, atol=1e-15)
