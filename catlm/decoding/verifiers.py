"""The verification rules of speculative decoding, one frozen dataclass each, in one table.

``VERIFIERS[name]`` is a rule with ``lossless: bool`` and ``output_law(p, q, k) -> NodeLaw``: the
exact law of the token a node emits when its target row is ``p`` and ``k`` children are drafted
from ``q``. Lossless rules (``single``, ``specinfer``, ``without_replacement``, ``deterministic``;
see ``multidraft``) emit exactly ``p``. The two rules below test the draft against ``p`` alone:

* ``greedy`` (temperature 0; Medusa/EAGLE/lookahead): accept iff a draft is ``argmax p`` (ties:
  the smallest token id), else emit ``argmax p``. It always emits ``argmax p``: lossless with
  respect to greedy decoding, not with respect to sampling from ``p``.
* ``typical`` (Medusa, Cai et al. 2024): accept the first draft with ``p(x) > τ``,
  ``τ = min(ε, δ·exp(-H(p)))`` (H in nats, ε = 0.09, δ = 0.3 by default); otherwise sample from
  ``p`` restricted to ``{y : p(y) ≥ τ}`` (Medusa's ``get_typical_one_token``; it always holds
  ``argmax p`` when ``δ ≤ 1``, since ``max p ≥ exp(-H)``). A token within ``TIE_RTOL`` (relative)
  of τ counts as on τ, since τ is computed in floating point. **Lossy**: on
  ``p = (1/2, 1/4, 1/4)``, ``q = (1/4, 1/4, 1/2)`` every token is typical, the node emits ``q``,
  and ``TV(out, p) = 1/4``.

Unknown names raise ``SpecError`` listing the valid ones.

>>> from fractions import Fraction as F
>>> p, q = [F(1, 2), F(1, 4), F(1, 4)], [F(1, 4), F(1, 4), F(1, 2)]
>>> node = get_verifier("typical").output_law(p, q)
>>> [str(x) for x in node.law], get_verifier("typical").lossless
(['1/4', '1/4', '1/2'], False)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from catlm.decoding.multidraft import (Deterministic, NodeLaw, Single, SpecInfer,
                                       WithoutReplacement)
from catlm.decoding.scalars import argmax, as_row, one, point_mass, zeros
from catlm.errors import SpecError

__all__ = ["Greedy", "Typical", "VERIFIERS", "get_verifier", "typical_threshold"]


@dataclass(frozen=True, slots=True)
class Greedy:
    """Accept iff some draft equals ``argmax p``; always emits ``argmax p``."""

    name: ClassVar[str] = "greedy"
    lossless: ClassVar[bool] = False  # lossless only with respect to greedy decoding

    def output_law(self, p, q, k: int = 1) -> NodeLaw:
        p = as_row(p, "p")
        best, accepted = argmax(p), 0 * one(p)
        for draw in SpecInfer().draws(p, q, k):
            if any(x == best for x, _ in draw.steps):
                accepted = accepted + draw.weight
        return NodeLaw(point_mass(best, p.shape[-1], p), accepted)


TIE_RTOL = 1e-12  # relative distance to τ within which p(y) counts as equal to τ


def typical_threshold(p, epsilon: float = 0.09, delta: float = 0.3) -> float:
    """Medusa's ``τ = min(ε, δ·exp(-H(p)))`` with the Shannon entropy H in nats."""
    entropy = -sum(float(x) * math.log(float(x)) for x in np.asarray(p).ravel() if x > 0)
    return min(epsilon, delta * math.exp(-entropy))


@dataclass(frozen=True, slots=True)
class Typical:
    """Medusa's typical acceptance; ``0 < delta <= 1`` keeps ``argmax p`` in the fallback set."""

    epsilon: float = 0.09
    delta: float = 0.3
    name: ClassVar[str] = "typical"
    lossless: ClassVar[bool] = False

    def __post_init__(self):
        if not (self.epsilon > 0 and 0 < self.delta <= 1):
            raise SpecError(f"typical acceptance needs epsilon > 0 and 0 < delta <= 1; got "
                            f"epsilon={self.epsilon}, delta={self.delta}")

    def output_law(self, p, q, k: int = 1) -> NodeLaw:
        p = as_row(p, "p")
        tau = typical_threshold(p, self.epsilon, self.delta)
        # τ = δ·exp(-H) is rounded, yet an exact p can meet it exactly (a uniform p with δ = 1 has
        # every token on τ = 1/V): a token within TIE_RTOL of τ sits on it, kept but not accepted.
        gap = (p - tau) / tau
        typical = gap > TIE_RTOL
        kept = (gap >= -TIE_RTOL) | (np.arange(p.size) == argmax(p))  # max p ≥ exp(-H) ≥ τ
        fallback = np.where(kept, p, 0 * p)
        fallback = fallback / fallback.sum()
        law, accepted = zeros(p.shape, p), 0 * one(p)
        for draw in SpecInfer().draws(p, q, k):
            first = next((x for x, _ in draw.steps if typical[x]), None)
            law = law + draw.weight * (fallback if first is None else point_mass(first, p.size, p))
            accepted = accepted + (0 if first is None else draw.weight)
        return NodeLaw(law, accepted)


VERIFIERS = {
    "single": Single(),
    "specinfer": SpecInfer(),
    "without_replacement": WithoutReplacement(),
    "deterministic": Deterministic(),
    "greedy": Greedy(),
    "typical": Typical(),
}


def get_verifier(name: str):
    """The rule called ``name``; an unknown name raises SpecError listing the valid ones."""
    if name not in VERIFIERS:
        raise SpecError(f"unknown verification rule {name!r}; choose from "
                        f"{', '.join(sorted(VERIFIERS))}")
    return VERIFIERS[name]
