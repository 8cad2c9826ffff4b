"""One Markov-kernel check: the FinStoch backend, the exact decoders and the analysis agree with it.

The oracle below is written independently from the definition (the paper's Def. 2.2): the first row with a
non-finite entry, else a negative entry, else a sum off 1, is the defect. On random float and
Fraction arrays the three stages that take kernels from outside must name the same row and say the
same thing about it.
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catlm.analysis.checks import as_kernel
from catlm.backends.params import Source, verify
from catlm.backends.symbolic import FLOAT, FRACTION
from catlm.core.diagram import Box
from catlm.core.types import Finite, Ty
from catlm.decoding.scalars import as_laws
from catlm.errors import KernelError
from catlm.stochastic import defect

FLOAT_ENTRIES = st.sampled_from([0.0, 0.25, 0.5, 1.0, -0.5, 0.75, math.nan, math.inf, -math.inf,
                                 1e308])  # 1e308: a row whose sum overflows to inf
EXACT_ENTRIES = st.sampled_from([Fraction(0), Fraction(1, 4), Fraction(1, 2), Fraction(1),
                                 Fraction(-1, 2), Fraction(3, 4)])


def oracle(rows) -> tuple[int, str] | None:
    """(row, what) of the first row that is not a state, straight from the definition."""
    for r, row in enumerate(rows):
        if any(isinstance(x, float) and not math.isfinite(x) for x in row):
            return r, "entry"
        if any(x < 0 for x in row):
            return r, "negative"
        total = sum(row)
        if total != 1:
            return r, "sums"
    return None


@st.composite
def arrays(draw):
    entries = draw(st.sampled_from([FLOAT_ENTRIES, EXACT_ENTRIES]))
    n, v = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rows = [draw(st.lists(entries, min_size=v, max_size=v)) for _ in range(n)]
    for row in rows:  # make most rows states, so that the defect is often deep in the array
        if draw(st.booleans()):
            row[:] = [type(row[0])(0)] * v
            row[draw(st.integers(0, v - 1))] = type(row[0])(1)
    dtype = object if entries is EXACT_ENTRIES else float
    return np.array(rows, dtype=dtype)


def _defect_of(message: str) -> tuple[int, str]:
    """(row, what) from any stage's message: ``row 2 sums to``, ``row (c2) has the negative ...``."""
    found = re.search(r"row \(?c?(\d+)\)? (has the entry|has the negative entry|sums to)", message)
    assert found, message
    return int(found[1]), {"has the entry": "entry", "has the negative entry": "negative",
                           "sums to": "sums"}[found[2]]


def _stages(rows: np.ndarray):
    """The three stages' checks of the same rows, each raising KernelError on a defect."""
    n, v = rows.shape
    box = Box("k", Ty(Finite("C", tuple(f"c{i}" for i in range(n)))), Ty(Finite.range("V", v)))
    ring = FRACTION if rows.dtype == object else FLOAT
    return {"backends.params": lambda: verify(box, rows, Source(ring)),
            "decoding.scalars": lambda: as_laws(rows, "P"),
            "analysis.checks": lambda: as_kernel(rows, name="P")}


@settings(max_examples=150, deadline=None)
@given(arrays())
def test_every_stage_finds_the_defect_of_the_definition(rows):
    expected = oracle(rows.tolist())
    found = defect(rows)
    assert (found and _defect_of(f"row {found[0]} {found[1]}")) == expected
    for stage, check in _stages(rows).items():
        if expected is None:
            check()
            continue
        with pytest.raises(KernelError) as err:
            check()
        assert _defect_of(str(err.value)) == expected, stage


def test_the_messages_say_which_kernel_row_and_entry():
    with pytest.raises(KernelError, match=r"P is not a Markov kernel: row 1 has the negative entry "
                                          r"-0.5 at column 0"):
        as_kernel([[0.5, 0.5], [-0.5, 1.5]], name="P")
    with pytest.raises(KernelError, match=r"q is not a Markov kernel: row \(1, 0\) sums to 1/2"):
        as_laws(np.array([[[Fraction(1)]], [[Fraction(1, 2)]]], dtype=object), "q")
    with pytest.raises(KernelError, match=r"mixes floats into an exact"):
        as_kernel(np.array([Fraction(1, 2), 0.5], dtype=object))
