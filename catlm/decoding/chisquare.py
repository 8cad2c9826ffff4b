"""Pearson's χ² goodness-of-fit test of samples against an exact law (Monte-Carlo smoke test).

The exact decoders are checked by enumeration; a *sampling* implementation (``rejection.verify``,
the torch runtime) is checked by drawing from it and testing the counts against the law it must
follow. Categories with expected count below ``min_expected`` are pooled into one bin (merged
with the next-smallest bin if still too small), the usual validity condition of the χ²
approximation. A sample that has probability 0 under the law gives ``pvalue = 0``. When so few
samples are drawn that pooling leaves fewer than two bins, there is nothing to test: ``pvalue``
is None and ``note`` says so (never a vacuous p = 1). ``uniformity_test`` tests values on [0, 1)
(PITs) with as many equal bins as the sample supports, at most ``bins``.

>>> rng = np.random.default_rng(0)
>>> result = chi_square_test(rng.choice(3, size=2000, p=[0.2, 0.3, 0.5]), [0.2, 0.3, 0.5])
>>> result.dof, result.pvalue > 0.01
(2, True)
>>> chi_square_test([0, 0, 1], [1.0, 0.0]).pvalue
0.0
>>> uniformity_test(np.full(40, 0.05)).dof, uniformity_test(np.full(40, 0.05)).pvalue < 1e-6
(7, True)
>>> uniformity_test([0.5] * 9).note
'not enough samples: 9 < 10 (two bins of 5 expected)'
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Hashable, Mapping

import numpy as np
from scipy import stats

from catlm.errors import KernelError

__all__ = ["ChiSquare", "chi_square_test", "uniformity_test"]


@dataclass(frozen=True, slots=True)
class ChiSquare:
    """The statistic, its degrees of freedom (bins - 1), the p-value and the sample count; with
    too few samples for two bins, ``pvalue`` is None and ``note`` says why."""

    statistic: float
    dof: int
    pvalue: float | None
    n: int
    note: str = ""

    @property
    def tested(self) -> bool:
        return self.pvalue is not None


def chi_square_test(samples, probs, min_expected: float = 5.0) -> ChiSquare:
    """Test ``samples`` against ``probs``: an array over categories ``0..n-1`` (samples are ints)
    or a mapping from outcomes (e.g. token tuples) to probabilities."""
    law = _law(probs)
    counts = Counter(_outcome(s) for s in samples)
    n = sum(counts.values())
    if n == 0:
        raise KernelError("chi_square_test needs at least one sample")
    if any(law.get(outcome, 0) == 0 for outcome in counts):
        return ChiSquare(float("inf"), len(law) - 1, 0.0, n)
    observed, expected = _pooled(law, counts, n, min_expected)
    if len(observed) < 2:
        return ChiSquare(float("nan"), 0, None, n, _too_few(n, min_expected))
    statistic, pvalue = stats.chisquare(observed, expected)
    return ChiSquare(float(statistic), len(observed) - 1, float(pvalue), n)


def uniformity_test(values, bins: int = 10, min_expected: float = 5.0) -> ChiSquare:
    """χ² test that ``values`` (e.g. randomised PITs) are uniform on [0, 1): equal cells, as many as
    keep ``min_expected`` samples expected in each, at most ``bins`` (so 40 values get 8 cells)."""
    values = np.asarray(values, dtype=float).ravel()
    if ((values < 0) | (values > 1)).any() or np.isnan(values).any():
        raise KernelError("uniformity_test needs values in [0, 1]")
    cells = min(bins, int(len(values) // min_expected))
    if cells < 2:
        return ChiSquare(float("nan"), 0, None, len(values), _too_few(len(values), min_expected))
    binned = np.minimum((values * cells).astype(int), cells - 1)
    return chi_square_test(binned, np.full(cells, 1.0 / cells), min_expected)


def _too_few(n: int, min_expected: float) -> str:
    return f"not enough samples: {n} < {2 * min_expected:g} (two bins of {min_expected:g} expected)"


def _law(probs) -> dict[Hashable, float]:
    items = probs.items() if isinstance(probs, Mapping) else enumerate(np.asarray(probs).ravel())
    law = {_outcome(k): float(v) for k, v in items if v != 0}
    if any(v < 0 for v in law.values()) or abs(sum(law.values()) - 1) > 1e-6:
        raise KernelError(f"chi_square_test needs a probability law; its total is "
                          f"{sum(law.values())}")
    return law


def _outcome(x) -> Hashable:
    """Samples may be numpy ints or token arrays; compare them as Python ints and tuples."""
    if isinstance(x, (np.ndarray, list, tuple)):
        return tuple(int(t) for t in np.asarray(x).ravel())
    return int(x) if isinstance(x, (np.integer, int)) else x


def _pooled(law, counts, n: int, min_expected: float) -> tuple[np.ndarray, np.ndarray]:
    order = sorted(law, key=law.get)  # smallest expected count first
    expected = np.array([n * law[k] for k in order])
    observed = np.array([counts.get(k, 0) for k in order], dtype=np.float64)
    cut = int(np.count_nonzero(expected < min_expected))  # the small bins come first
    while 0 < cut < len(order) and expected[:cut].sum() < min_expected:
        cut += 1
    if cut > 1:
        observed = np.concatenate([[observed[:cut].sum()], observed[cut:]])
        expected = np.concatenate([[expected[:cut].sum()], expected[cut:]])
    return observed, expected * observed.sum() / expected.sum()
