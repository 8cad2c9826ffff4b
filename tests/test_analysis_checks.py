"""catlm.analysis.checks: kernels and laws in the shapes the analysis reads them. Every input here is
built so that the claim must hold (rows that are states by construction) or must fail (a row off by
a known amount, a wrong axis count), and the expected shapes, entries and messages are written out."""
from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from catlm.analysis.checks import as_kernel, as_law, uniform_law
from catlm.errors import KernelError


def test_leading_axes_are_the_domain_and_trailing_axes_the_codomain():
    # (2, 3, 2): by default the first two axes are the domain, six rows of a state on 2 points
    cube = np.array([[[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.1, 0.9], [0.6, 0.4]]])
    assert as_kernel(cube).tolist() == cube.reshape(6, 2).tolist()
    # n_inputs=1: two rows of a state on 3 x 2 = 6 points (each slice sums to 3, so scale by 1/3)
    assert as_kernel(cube / 3, n_inputs=1).shape == (2, 6)
    np.testing.assert_array_equal(as_kernel(cube / 3, n_inputs=1), (cube / 3).reshape(2, 6))
    # n_inputs=0 reads the whole array as one state
    square = np.array([[0.125, 0.375], [0.25, 0.25]])
    assert as_kernel(square, n_inputs=0).tolist() == [[0.125, 0.375, 0.25, 0.25]]


def test_a_state_and_a_scalar_become_one_row():
    assert as_kernel([0.2, 0.8]).tolist() == [[0.2, 0.8]]
    assert as_kernel(np.array(1.0)).tolist() == [[1.0]]
    assert as_kernel([1]).dtype == np.float64           # ints become float64


def test_a_domain_without_a_codomain_axis_is_refused_with_the_axis_count():
    with pytest.raises(KernelError) as info:
        as_kernel(np.eye(2), n_inputs=2, name="kernel 'k'")
    assert str(info.value).startswith("kernel 'k' has 2 axes but n_inputs=2; "
                                      "the codomain needs at least one trailing axis")
    with pytest.raises(KernelError, match="has 1 axes but n_inputs=1"):
        as_kernel([1.0], n_inputs=1)                     # each entry 1.0 would be a state: still refused
    with pytest.raises(KernelError, match=r"^kernel has 2 axes but n_inputs=-1"):
        as_kernel(np.eye(2), n_inputs=-1)


def test_a_row_off_by_more_than_atol_is_named_and_atol_is_honoured():
    rows = np.array([[0.5, 0.5], [0.5, 0.5 + 1e-6]])
    with pytest.raises(KernelError) as info:
        as_kernel(rows, name="P")
    assert str(info.value).startswith("P is not a Markov kernel: row 1 sums to 1, not 1")
    assert as_kernel(rows, atol=1e-5).tolist() == rows.tolist()
    with pytest.raises(KernelError, match=r"^kernel is not a Markov kernel: row 0 has the negative entry -0.5"):
        as_kernel([[1.5, -0.5]])


def test_fraction_kernels_stay_exact():
    rows = np.array([[F(1, 3), F(2, 3)], [1, 0]], dtype=object)
    kernel = as_kernel(rows)
    assert kernel.dtype == object and kernel.tolist() == [[F(1, 3), F(2, 3)], [F(1), F(0)]]
    assert all(type(x) is F for x in kernel.ravel())
    with pytest.raises(KernelError, match="row 0 sums to 1000001/1000000, not 1"):
        as_kernel(np.array([[F(1, 3), F(2, 3) + F(1, 10**6)]], dtype=object), atol=1e-3)  # exact: no atol


def test_a_law_is_flat_checked_and_of_the_size_asked_for():
    assert as_law([[0.25], [0.75]]).tolist() == [0.25, 0.75]
    assert as_law([0.25, 0.75], 2).tolist() == [0.25, 0.75]
    with pytest.raises(KernelError) as info:
        as_law([0.2, 0.3, 0.5], 2, name="mu")
    assert str(info.value).startswith("mu has 3 entries but 2 are needed (one per input of the kernel)")
    with pytest.raises(KernelError, match=r"^law has 1 entries but 4 are needed"):
        as_law([1.0], 4)
    with pytest.raises(KernelError, match=r"^mu is not a Markov kernel: row 0 sums to 1.1, not 1"):
        as_law([0.5, 0.6], name="mu")
    assert as_law([0.5, 0.5 + 1e-6], atol=1e-5).tolist() == [0.5, 0.5 + 1e-6]
    with pytest.raises(KernelError, match="sums to 1, not 1"):
        as_law([0.5, 0.5 + 1e-6])


def test_the_uniform_law_in_floats_and_in_fractions():
    floats = uniform_law(3)
    assert floats.dtype == np.float64 and floats.tolist() == [1 / 3] * 3
    exact = uniform_law(3, exact=True)
    assert exact.dtype == object and exact.tolist() == [F(1, 3)] * 3
    assert all(type(x) is F for x in exact) and sum(exact) == 1
    assert uniform_law(4, True).tolist() == [F(1, 4)] * 4


def test_entries_that_are_not_real_numbers_are_refused_under_the_kernel_s_name():
    with pytest.raises(KernelError, match=r"^P has entries of type <U1; a kernel needs real numbers"):
        as_kernel(np.array([["a", "b"]]), name="P")
    with pytest.raises(KernelError, match=r"^P mixes floats into an exact \(Fraction\) array"):
        as_kernel(np.array([[F(1, 2), 0.5]], dtype=object), name="P")
    with pytest.raises(KernelError, match=r"^mu mixes floats"):
        as_law(np.array([F(1, 2), 0.5], dtype=object), name="mu")
