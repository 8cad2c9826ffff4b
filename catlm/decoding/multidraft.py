"""Multi-draft verification at one tree node, and trees of drafts, as exact output laws.

Every lossless rule here is a **chain of single-draft steps against a running residual**
(SpecInfer, arXiv 2305.09781; Chen et al., arXiv 2302.01318): with ``p_1 = p``, draft ``i`` is tested with ``min(1, p_i(x_i)/q_i(x_i))``, and on
rejection ``p_{i+1} = norm(max(0, p_i - q_i))``; after all k rejections a token is drawn from
``p_{k+1}``. Each step is exact by the single-draft identity, so the node's output law is ``p``.
The rules differ only in how the drafts ``(x_i, q_i)`` are drawn:

* ``SpecInfer`` (Miao et al. 2024): ``x_i ~ q_i`` independently (k i.i.d. from q, or k drafters);
* ``WithoutReplacement`` (RSD, Jeon et al. 2024): ``q_i`` = q without ``x_<i``, renormalised;
* ``Deterministic`` (EAGLE-2's sampling branch, n-gram candidates): point masses ``δ_{x_i}``, so
  ``x_i`` is accepted with ``p_i(x_i)`` and otherwise zeroed in ``p_i``.

>>> from fractions import Fraction as F
>>> p = as_laws([F(1, 2), F(1, 3), F(1, 6)], "p")
>>> node = Deterministic().output_law(p, [F(0), F(1, 2), F(1, 2)], k=2)   # candidates {1, 2}
>>> bool((node.law == p).all()), str(node.accepted)                        # accepted = p({1, 2})
(True, '1/2')
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar, Iterator

import numpy as np

from catlm.decoding.blocks import _Chain, _state, _target_law
from catlm.decoding.exact import accept_probability, residual
from catlm.decoding.scalars import Scalar, as_laws, as_row, one, point_mass, same_tokens, zeros
from catlm.errors import SpecError, WiringError

__all__ = ["NodeLaw", "Draw", "Single", "SpecInfer", "WithoutReplacement", "Deterministic",
           "chain_law", "deterministic_law", "specinfer_accept_closed_form", "tree_prefix_law"]


@dataclass(frozen=True, slots=True)
class NodeLaw:
    """The law of the token a node emits, and the probability that some draft was accepted."""

    law: np.ndarray
    accepted: Scalar


@dataclass(frozen=True, slots=True)
class Draw:
    """One way the drafter's k children come out: its probability and each ``(x_i, q_i)``."""

    weight: Scalar
    steps: tuple[tuple[int, np.ndarray], ...]


def _check_k(k: int) -> int:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise SpecError(f"k (drafts per node) must be an int >= 1; got {k!r}")
    return int(k)


def _draft_rows(q, k: int, p: np.ndarray) -> np.ndarray:
    """``q (V,)`` -> k i.i.d. rows; ``q (k, V)`` -> one row per drafter. Shape ``(k, V)``."""
    q = as_laws(q, "q")
    same_tokens(p, q)
    if q.ndim == 1:
        return np.stack([q] * _check_k(k))
    if q.ndim != 2 or q.shape[0] != k:
        raise WiringError(f"several drafters need q of shape (k, V) = ({k}, {p.shape[-1]}); "
                          f"got {q.shape}")
    return q


class _ResidualChain:
    """Shared by the lossless rules: ``output_law`` sums ``chain_law`` over the rule's draws."""

    lossless: ClassVar[bool] = True

    def output_law(self, p, q, k: int = 1) -> NodeLaw:
        p = as_row(p, "p")
        law, accepted = zeros(p.shape, p), 0 * one(p)
        for draw in self.draws(p, q, k):
            node = chain_law(p, draw.steps)
            law, accepted = law + draw.weight * node.law, accepted + draw.weight * node.accepted
        return NodeLaw(law, accepted)


def chain_law(p: np.ndarray, steps) -> NodeLaw:
    """Verify fixed drafts ``(x_i, q_i)`` in order against the running residual ``p_i``."""
    current, reach, law = p, one(p), zeros(p.shape, p)
    for x, q in steps:
        a = accept_probability(current, q)[x]
        law[x] += reach * a
        reach, current = reach * (1 - a), residual(current, q)
    return NodeLaw(law + reach * current, 1 - reach)


@dataclass(frozen=True, slots=True)
class Single(_ResidualChain):
    """Leviathan/Chen: one draft ``x ~ q``."""

    name: ClassVar[str] = "single"

    def draws(self, p: np.ndarray, q, k: int = 1) -> Iterator[Draw]:
        if k != 1:
            raise SpecError(f"the single-draft rule verifies k = 1 draft, not {k}",
                            hint="use 'specinfer' or 'without_replacement' for k > 1")
        return SpecInfer().draws(p, q, 1)


@dataclass(frozen=True, slots=True)
class SpecInfer(_ResidualChain):
    """k independent drafts ``x_i ~ q_i``: i.i.d. from one ``q (V,)`` or one per row of ``q (k, V)``."""

    name: ClassVar[str] = "specinfer"

    def draws(self, p: np.ndarray, q, k: int = 1) -> Iterator[Draw]:
        rows = _draft_rows(q, k, p)
        supports = [np.flatnonzero(row != 0) for row in rows]
        for xs in itertools.product(*supports):
            weight = one(p)
            for row, x in zip(rows, xs):
                weight = weight * row[x]
            yield Draw(weight, tuple(zip((int(x) for x in xs), rows)))


@dataclass(frozen=True, slots=True)
class WithoutReplacement(_ResidualChain):
    """k distinct drafts: ``q_i`` is ``q`` with ``x_<i`` removed and renormalised (stops early
    if q's support has fewer than k tokens)."""

    name: ClassVar[str] = "without_replacement"

    def draws(self, p: np.ndarray, q, k: int = 1) -> Iterator[Draw]:
        q = as_row(q, "q")
        same_tokens(p, q)
        yield from self._extend(Draw(one(p), ()), q, _check_k(k))

    def _extend(self, draw: Draw, q: np.ndarray, k: int) -> Iterator[Draw]:
        mass = q.sum()
        if k == 0 or mass == 0:
            yield draw
            return
        q_i = q / mass
        for x in np.flatnonzero(q_i != 0):
            rest = q.copy()
            rest[x] = 0 * rest[x]
            yield from self._extend(Draw(draw.weight * q_i[x], draw.steps + ((int(x), q_i),)),
                                    rest, k - 1)


@dataclass(frozen=True, slots=True)
class Deterministic(_ResidualChain):
    """The k most probable tokens of ``q`` (ties: smaller id first) as point-mass drafts.

    For any other candidate set (n-gram or prompt lookup) use ``deterministic_law(p, candidates)``.
    """

    name: ClassVar[str] = "deterministic"

    def draws(self, p: np.ndarray, q, k: int = 1) -> Iterator[Draw]:
        q = as_row(q, "q")
        same_tokens(p, q)
        top = sorted(range(q.shape[-1]), key=lambda x: (-q[x], x))[:_check_k(k)]
        yield _candidates(p, top)


def _candidates(p: np.ndarray, tokens) -> Draw:
    V = p.shape[-1]
    return Draw(one(p), tuple((int(x), point_mass(int(x), V, p)) for x in tokens))


def deterministic_law(p, candidates) -> NodeLaw:
    """Verify fixed candidate tokens in order: accept ``x_i`` with ``p_i(x_i)``, else zero it."""
    p = as_row(p, "p")
    tokens = [int(x) for x in candidates]
    if any(not 0 <= x < p.shape[-1] for x in tokens):
        raise WiringError(f"candidates {tokens} are not all tokens of a {p.shape[-1]}-token vocabulary")
    return chain_law(p, _candidates(p, tokens).steps)


def specinfer_accept_closed_form(p, q) -> Scalar:
    """``1 - Π_i (1 - α_i)`` with ``α_i = Σ min(p_i, q_i)`` along the residual chain; ``q (k, V)``."""
    current = as_row(p, "p")
    miss = one(current)
    for row in as_laws(q, "q"):
        miss = miss * (1 - np.minimum(current, row).sum())
        current = residual(current, row)
    return 1 - miss


def tree_prefix_law(P, Q, rule, widths, state: int, successor=None) -> np.ndarray:
    """The law of the first ``d = len(widths)`` tokens a draft tree of depth d emits.

    The root's ``widths[0]`` children are drafted from ``Q[state]`` by ``rule`` and verified with
    it; the accepted child's ``widths[1]`` children are drafted from ``Q`` at its state, and so on.
    A rejection emits the residual's token and the prefix is extended with ``P``. Shape ``(V,)*d``;
    equals P's d-step law for every lossless rule.
    """
    if not isinstance(rule, _ResidualChain):
        raise SpecError(f"trees are verified with a residual-chain rule, not {rule!r}",
                        hint="use Single, SpecInfer, WithoutReplacement or Deterministic")
    c = _Chain.of(P, Q, successor)
    widths = tuple(_check_k(k) for k in widths)
    return _tree(c, rule, widths, _state(state, c.P.shape[0]), _target_law)


def _tree(c, rule, widths, state: int, target_law) -> np.ndarray:
    if not widths:
        return np.array(one(c.P), dtype=c.P.dtype)
    law = zeros((c.vocab,) * len(widths), c.P)
    p = c.P[state]
    for draw in rule.draws(p, c.Q[state], widths[0]):
        law += draw.weight * _verified(c, rule, widths, state, draw.steps, target_law)
    return law


def _verified(c, rule, widths, state: int, steps, target_law) -> np.ndarray:
    """The d-token law given this node's drafted children (shape ``(V,)*d``)."""
    current, reach, law = c.P[state], one(c.P), zeros((c.vocab,) * len(widths), c.P)
    for x, q in steps:
        a = accept_probability(current, q)[x]
        law[x] += reach * a * _tree(c, rule, widths[1:], int(c.T[state, x]), target_law)
        reach, current = reach * (1 - a), residual(current, q)
    for y in np.flatnonzero(current != 0):
        law[y] += reach * current[y] * target_law(c.P, c.T, len(widths) - 1, int(c.T[state, y]))
    return law
