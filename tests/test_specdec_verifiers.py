"""Greedy and Medusa's typical acceptance against rules written out by hand.

The oracle below enumerates the k i.i.d. drafts itself and applies Medusa's rule (Cai et al. 2024,
``evaluate_posterior`` and ``get_typical_one_token``) with a threshold τ the test states exactly:
accept the first draft with ``p(x) > τ``, else sample ``p`` restricted to ``{y : p(y) ≥ τ}``.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction as F

import numpy as np
import pytest

from catlm.decoding import Greedy, Typical, typical_threshold
from catlm.errors import KernelError, SpecError, WiringError


def _typical_law(p, q, k, tau):
    """Medusa's node law by enumerating the k drafts; ``tau`` is exact (a Fraction)."""
    kept = [x if x >= tau else F(0) for x in p]
    fallback = [x / sum(kept) for x in kept]
    law, accepted = [F(0)] * len(p), F(0)
    for drafts in itertools.product(range(len(q)), repeat=k):
        weight = math.prod((q[x] for x in drafts), start=F(1))
        first = next((x for x in drafts if p[x] > tau), None)
        if first is None:
            law = [a + weight * b for a, b in zip(law, fallback)]
        else:
            law[first] += weight
            accepted += weight
    return law, accepted


def test_typical_threshold_by_hand_with_zeros_and_the_defaults():
    # p = (1/2, 1/2, 0): H = ln 2 (0 log 0 = 0), e^{-H} = 1/2.
    half = [F(1, 2), F(1, 2), F(0)]
    assert typical_threshold(half, 0.4, 0.5) == pytest.approx(0.25, abs=1e-15)   # δ e^{-H} = 1/4
    assert typical_threshold(half, 0.2, 0.5) == 0.2                              # ε
    assert typical_threshold(half) == 0.09                           # defaults ε = 0.09, δ = 0.3
    # p = (1/2, 1/8, 1/8, 1/8, 1/8): H = ½ ln 2 + ½ ln 8 = 2 ln 2, e^{-H} = 1/4, δ e^{-H} = 0.075.
    assert typical_threshold([F(1, 2)] + [F(1, 8)] * 4) == pytest.approx(0.075, abs=1e-15)
    assert typical_threshold(np.array([[0.5, 0.5]])) == pytest.approx(0.09)  # any shape: ravel


def test_typical_keeps_the_tokens_at_or_above_the_threshold_and_accepts_those_above():
    # p = (1/10, 1/4, 1/2, 3/20): H = 1.2080 nats, δ e^{-H} = 0.9 · 0.2988 = 0.269 > ε = 1/4, so
    # τ = 1/4 exactly. Token 1 sits on τ: kept in the fallback (≥) but never accepted (>); tokens
    # 0 and 3 are below it; the argmax is token 2, not token 0.
    p, q = [F(1, 10), F(1, 4), F(1, 2), F(3, 20)], [F(2, 5), F(1, 5), F(1, 5), F(1, 5)]
    entropy = -sum(float(x) * math.log(float(x)) for x in p)
    assert 0.9 * math.exp(-entropy) > 0.25
    law, accepted = _typical_law(p, q, 2, F(1, 4))
    assert law == [0, F(16, 25) / 3, F(9, 25) + F(16, 25) * 2 / 3, 0]   # miss both: (4/5)^2
    node = Typical(epsilon=0.25, delta=0.9).output_law(p, q, 2)
    assert list(node.law) == law and node.accepted == accepted == F(9, 25)
    one_draft = Typical(epsilon=0.25, delta=0.9).output_law(p, q)
    assert list(one_draft.law) == _typical_law(p, q, 1, F(1, 4))[0]


def test_typical_in_the_entropy_branch_with_a_zero_in_the_target():
    # p = (0, 1/3, 1/6, 1/2): H = 1.0114, e^{-H} = 0.3637, δ e^{-H} = 0.1091 < ε = 0.3, so
    # τ lies strictly between 0 and 1/6: tokens 1, 2, 3 are typical, the zero is never kept.
    p, q = [F(0), F(1, 3), F(1, 6), F(1, 2)], [F(1, 2), F(0), F(0), F(1, 2)]
    entropy = -sum(float(x) * math.log(float(x)) for x in p if x)
    assert 0 < 0.3 * math.exp(-entropy) < 1 / 6
    law, accepted = _typical_law(p, q, 3, F(1, 10))  # any τ in (0, 1/6] gives this law
    node = Typical(epsilon=0.3, delta=0.3).output_law(p, q, 3)
    assert list(node.law) == law and node.accepted == accepted == F(7, 8)
    assert law == [0, F(1, 8) / 3, F(1, 8) / 6, F(7, 8) + F(1, 8) / 2]


@pytest.mark.parametrize("p, epsilon, delta, tau", [
    ([F(1, 3)] * 3, 0.5, 1.0, F(1, 3)),                       # δ = 1, uniform: τ = e^{-ln 3} = 1/3
    ([F(1, 7)] * 7, 0.5, 1.0, F(1, 7)),
    ([F(1, 8), F(1, 8), F(1, 2), F(1, 8), F(1, 8)], 0.2, 0.5, F(1, 8)),  # δ e^{-2 ln 2} = 1/8
])
def test_a_token_exactly_on_the_entropy_threshold_is_kept_but_not_accepted(p, epsilon, delta, tau):
    # τ = δ e^{-H} is rational here and equals some p(y); floating point may round it either way,
    # yet p(y) = τ is typical (kept) and not above τ (never accepted), as in Medusa's rule.
    q = [F(1, len(p))] * len(p)
    law, accepted = _typical_law(p, q, 1, tau)
    node = Typical(epsilon=epsilon, delta=delta).output_law(p, q)
    assert list(node.law) == law and node.accepted == accepted
    top = max(p)  # only a token above τ is accepted; every token is kept, so the rest emits p
    assert accepted == F(p.count(top), len(p)) * (top > tau)
    assert law == [(1 - accepted) * x + F(x == top, len(p)) * (top > tau) for x in p]


def test_typical_parameters_at_their_bounds():
    with pytest.raises(SpecError, match=r"epsilon > 0 and 0 < delta <= 1; got epsilon=0, delta=0.3"):
        Typical(epsilon=0)
    with pytest.raises(SpecError, match=r"got epsilon=0.09, delta=0\b"):
        Typical(delta=0)
    with pytest.raises(SpecError, match=r"got epsilon=0.09, delta=1.5"):
        Typical(delta=1.5)
    assert Typical(epsilon=2.0, delta=1.0).delta == 1.0   # δ = 1 allowed; ε is not capped at 1
    assert (Typical().epsilon, Typical().delta) == (0.09, 0.3)


@pytest.mark.parametrize("rule", [Greedy(), Typical()], ids=["greedy", "typical"])
def test_exact_rows_stay_exact_and_float_rows_stay_float(rule):
    # First the draft never hits the argmax (and is never typical): nothing is accepted.
    p_exact, q_exact = [F(0), F(1, 50), F(49, 50)], [F(1), F(0), F(0)]
    node = rule.output_law(p_exact, q_exact, 2)
    assert node.law.dtype == object and all(type(x) is F for x in node.law)
    assert type(node.accepted) is F and node.accepted == 0
    node = rule.output_law([0.0, 0.02, 0.98], [1.0, 0.0, 0.0], 2)
    assert node.law.dtype == np.float64 and list(node.law) == [0.0, 0.0, 1.0]
    assert isinstance(node.accepted, float) and node.accepted == 0.0
    node = rule.output_law([0.0, 0.02, 0.98], [0.0, 0.0, 1.0], 2)   # now the draft is accepted
    assert node.law.dtype == np.float64 and list(node.law) == [0.0, 0.0, 1.0]
    assert node.accepted == 1.0


@pytest.mark.parametrize("rule", [Greedy(), Typical()], ids=["greedy", "typical"])
def test_a_bad_target_row_is_named_p(rule):
    with pytest.raises(KernelError, match=r"^p is not a Markov kernel: the law sums to 5/6"):
        rule.output_law([F(1, 2), F(1, 3)], [F(1, 2), F(1, 2)])
    with pytest.raises(WiringError, match=r"^p must be one distribution of shape \(V,\); got shape \(1, 2\)"):
        rule.output_law([[F(1, 2), F(1, 2)]], [F(1, 2), F(1, 2)])


def test_the_tie_with_the_threshold_is_relative_to_it():
    # τ = ε = 1/8 exactly (δ e^{-H} ≈ 0.34). Token 0 lies 4·10^-12 τ above τ (accepted when
    # drafted); token 1 lies 4·10^-13 τ above it (on τ: kept, not accepted); token 2 lies
    # 4·10^-12 τ below it (not kept); token 3 ≈ 5/8.
    tau = F(1, 8)
    p = [tau * (1 + F(4, 10**12)), tau * (1 + F(4, 10**13)), tau * (1 - F(4, 10**12))]
    p.append(1 - sum(p))
    rule = Typical(epsilon=0.125, delta=1.0)
    assert rule.output_law(p, [F(1), F(0), F(0), F(0)]).accepted == 1
    node = rule.output_law(p, [F(0), F(1), F(0), F(0)])
    kept = p[0] + p[1] + p[3]
    assert node.accepted == 0 and list(node.law) == [p[0] / kept, p[1] / kept, 0, p[3] / kept]
