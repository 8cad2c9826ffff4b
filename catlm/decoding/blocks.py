"""Blocks of γ drafts with a bonus token over a finite state space (Leviathan et al. 2023, Alg. 1).

``P, Q : S -> V`` are the target and draft kernels of a finite-state source; after emitting ``x``
in state ``s`` the state becomes ``successor[s, x]`` (first-order chain: ``x``; order ``r``: the
shift of the last ``r`` tokens). One target call drafts ``x_1..x_γ`` from ``Q``, accepts them in
order with ``min(1, P/Q)``, emits a residual token at the first rejection, or a **bonus** token from
``P`` when all γ are accepted: it emits 1..γ+1 tokens. With ``A = min(P, Q)`` and
``Ã[s, s'] = Σ_{x: successor[s,x] = s'} A[s, x]``:

    P(first j drafts accepted | s) = (Ã^j 1)(s),    E[tokens per call | s] = Σ_{j=0}^{γ} (Ã^j 1)(s)

Tokens per call count the bonus token (vLLM's "mean acceptance length", Spec-Bench's MAT).

>>> from fractions import Fraction as F
>>> P = [[F(1, 2), F(1, 2)], [F(1, 4), F(3, 4)]]
>>> Q = [[F(1, 2), F(1, 2)], [F(1, 2), F(1, 2)]]
>>> [str(t) for t in expected_tokens_per_call(P, Q, gamma=2)]
['23/8', '19/8']
>>> str(block_law(P, Q, gamma=2, state=1).expected_length)
'19/8'
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Callable, Union

import numpy as np

from catlm.decoding.exact import accept_probability, overlap, residual
from catlm.decoding.scalars import as_laws, one, same_tokens, zeros
from catlm.errors import SpecError, WiringError

Successor = Union[np.ndarray, Callable[[int, int], int], None]

__all__ = ["BlockLaw", "successor_table", "shift_successor", "block_law", "prefix_law",
           "target_law", "transfer_matrix", "expected_tokens_per_call", "acceptance_by_position",
           "per_token_acceptance_rate", "iid_tokens_per_call", "iid_per_token_rate"]


@dataclass(frozen=True, slots=True)
class BlockLaw:
    """The law of one call's emitted block; ``by_length[j-1][x_1, .., x_j]`` = P(block = x_1..x_j)."""

    by_length: tuple[np.ndarray, ...]

    @property
    def gamma(self) -> int:
        return len(self.by_length) - 1

    @property
    def expected_length(self):
        """Expected tokens emitted per target call, bonus token included."""
        return sum((j + 1) * law.sum() for j, law in enumerate(self.by_length))

    def total(self):
        return sum(law.sum() for law in self.by_length)


def shift_successor(vocab: int, order: int) -> np.ndarray:
    """Order-``r`` states: the last r tokens in base ``vocab``, oldest digit most significant."""
    states = vocab ** order
    s, x = np.meshgrid(np.arange(states), np.arange(vocab), indexing="ij")
    return (s * vocab + x) % states  # (S, V): drop the oldest token, append x


def successor_table(successor: Successor, states: int, vocab: int) -> np.ndarray:
    """An ``(S, V)`` int table from a table, a callable ``(s, x) -> s'``, or None (first order)."""
    if successor is None:
        if states != vocab:
            raise WiringError(f"a first-order chain needs S = V, but P has {states} states and "
                              f"{vocab} tokens", hint="pass successor=shift_successor(V, r)")
        return np.tile(np.arange(vocab), (states, 1))
    if callable(successor):
        successor = [[successor(s, x) for x in range(vocab)] for s in range(states)]
    return _checked_table(np.asarray(successor), states, vocab)


def _checked_table(table: np.ndarray, states: int, vocab: int) -> np.ndarray:
    if table.shape != (states, vocab) or not np.issubdtype(table.dtype, np.integer):
        raise WiringError(f"successor must be an int table of shape ({states}, {vocab}); "
                          f"got {table.dtype} {table.shape}")
    if table.min() < 0 or table.max() >= states:
        raise WiringError(f"successor maps outside the {states} states (values "
                          f"{table.min()}..{table.max()})")
    return table.astype(np.int64)


def _kernels(P, Q, successor: Successor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    P, Q = as_laws(P, "P"), as_laws(Q, "Q")
    same_tokens(P, Q, "P", "Q")
    if P.ndim != 2 or P.shape != Q.shape:
        raise WiringError(f"P and Q must both be (S, V) kernels; got {P.shape} and {Q.shape}")
    return P, Q, successor_table(successor, *P.shape)


@dataclass(frozen=True, slots=True)
class _Chain:
    """Checked kernels with their acceptance probabilities ``a`` and residuals ``r``, (S, V) each."""

    P: np.ndarray
    Q: np.ndarray
    T: np.ndarray
    a: np.ndarray
    r: np.ndarray

    @classmethod
    def of(cls, P, Q, successor: Successor) -> _Chain:
        P, Q, T = _kernels(P, Q, successor)
        return cls(P, Q, T, accept_probability(P, Q), residual(P, Q))

    @property
    def vocab(self) -> int:
        return self.P.shape[1]


def _check_gamma(gamma: int) -> None:
    if not isinstance(gamma, (int, np.integer)) or gamma < 0:
        raise SpecError(f"gamma (drafts per call) must be an int >= 0; got {gamma!r}")


def block_law(P, Q, gamma: int, state: int, successor: Successor = None) -> BlockLaw:
    """The law of the block emitted from ``state``, by enumerating all ``V^γ`` draft paths.

    Each path ``x_1..x_γ`` has draft weight ``Π Q[s_{i-1}, x_i]``; walking it, the i-th draft is
    rejected with ``1 - a_i`` (emit ``x_<i`` then a residual token) or accepted with ``a_i``; a fully
    accepted path emits a bonus token from ``P``.
    """
    _check_gamma(gamma)
    return _block_law(_Chain.of(P, Q, successor), gamma, _state(state, np.shape(P)[0]))


def _state(state: int, states: int) -> int:
    if not 0 <= int(state) < states:
        raise WiringError(f"state {state} is outside the {states} states")
    return int(state)


def _block_law(c: _Chain, gamma: int, state: int) -> BlockLaw:
    laws = [zeros((c.vocab,) * (j + 1), c.P) for j in range(gamma + 1)]
    for path in itertools.product(range(c.vocab), repeat=gamma):
        states = _walk(c.T, state, path)
        reach = one(c.P)
        for i, x in enumerate(path):  # the draft weight of the whole path
            reach = reach * c.Q[states[i], x]
        for i, x in enumerate(path):
            laws[i][path[:i]] += reach * (1 - c.a[states[i], x]) * c.r[states[i]]
            reach = reach * c.a[states[i], x]
        laws[gamma][path] += reach * c.P[states[gamma]]
    return BlockLaw(tuple(laws))


def _walk(T: np.ndarray, state: int, tokens) -> list[int]:
    """The states visited: ``[s_0 = state, s_1, .., s_len]``."""
    states = [int(state)]
    for x in tokens:
        states.append(int(T[states[-1], x]))
    return states


def target_law(P, k: int, state: int, successor: Successor = None) -> np.ndarray:
    """P's k-step law from ``state``: ``P[s, x_1] P[s_1, x_2] ⋯``, shape ``(V,)*k``."""
    P = as_laws(P, "P")
    T = successor_table(successor, *P.shape)
    return _target_law(P, T, k, _state(state, P.shape[0]))


def _target_law(P: np.ndarray, T: np.ndarray, k: int, state: int) -> np.ndarray:
    if k == 0:
        return np.array(one(P), dtype=P.dtype)
    return np.stack([P[state, x] * _target_law(P, T, k - 1, int(T[state, x]))
                     for x in range(P.shape[1])])


def prefix_law(P, Q, gamma: int, k: int, state: int, successor: Successor = None,
               continuation: str = "speculative") -> np.ndarray:
    """The law of the first ``k`` emitted tokens, shape ``(V,)*k``; equals P's k-step law.

    A block shorter than ``k`` is extended by further speculative calls from the state it
    reached (``continuation="speculative"``) or by sampling ``P`` (``continuation="target"``).
    """
    _check_gamma(gamma)
    if continuation not in _CONTINUATIONS:
        raise SpecError(f"unknown continuation {continuation!r}; choose from "
                        f"{', '.join(sorted(_CONTINUATIONS))}")
    c = _Chain.of(P, Q, successor)
    extend = _CONTINUATIONS[continuation](c, gamma)
    return extend(k, _state(state, c.P.shape[0]))


def _prefix(c: _Chain, gamma: int, k: int, state: int, extend) -> np.ndarray:
    law = zeros((c.vocab,) * k, c.P)
    for j, block in enumerate(_block_law(c, gamma, state).by_length, start=1):
        if j >= k:  # the block covers the prefix: marginalise its tail
            law += block.sum(axis=tuple(range(k, j))) if j > k else block
            continue
        for tokens in itertools.product(range(c.vocab), repeat=j):
            if block[tokens] != 0:
                law[tokens] += block[tokens] * extend(k - j, _walk(c.T, state, tokens)[-1])
    return law


def _speculative_extension(c: _Chain, gamma: int):
    @functools.cache
    def extend(k: int, state: int) -> np.ndarray:
        return _prefix(c, gamma, k, state, extend)
    return extend


def _target_extension(c: _Chain, gamma: int):
    def by_target(k: int, state: int) -> np.ndarray:
        return _target_law(c.P, c.T, k, state)
    return lambda k, state: _prefix(c, gamma, k, state, by_target)


_CONTINUATIONS = {"speculative": _speculative_extension, "target": _target_extension}


def transfer_matrix(P, Q, successor: Successor = None) -> np.ndarray:
    """``Ã[s, s'] = Σ_{x: successor[s,x] = s'} min(P, Q)[s, x]``, shape ``(S, S)``."""
    P, Q, T = _kernels(P, Q, successor)
    A = overlap(P, Q)
    At = zeros((P.shape[0], P.shape[0]), P)
    for s, x in np.ndindex(*A.shape):
        At[s, T[s, x]] += A[s, x]
    return At


def acceptance_by_position(P, Q, gamma: int, successor: Successor = None, start_law=None):
    """Per-position acceptance ``rate_i = P(drafts 1..i all accepted) = (Ã^i 1)``, i = 1..γ.

    Shape ``(γ, S)``, or ``(γ,)`` averaged over ``start_law``. This is vLLM's per-position rate:
    the fraction of calls whose i-th draft was accepted.
    """
    _check_gamma(gamma)
    At = transfer_matrix(P, Q, successor)
    v, rates = np.full(At.shape[0], one(At), dtype=At.dtype), []
    for _ in range(gamma):
        v = At @ v
        rates.append(v)
    rates = np.stack(rates) if rates else zeros((0, At.shape[0]), At)
    return rates if start_law is None else rates @ _start(start_law, At.shape[0])


def _start(start_law, states: int) -> np.ndarray:
    law = as_laws(start_law, "start_law")
    if law.shape != (states,):
        raise WiringError(f"start_law must have shape ({states},); got {law.shape}")
    return law


def expected_tokens_per_call(P, Q, gamma: int, successor: Successor = None, start_law=None):
    """``Σ_{j=0}^{γ} (Ã^j 1)(s)``: tokens emitted per target call, the bonus token counted.

    A vector over start states, or a scalar averaged over ``start_law``.
    """
    rates = acceptance_by_position(P, Q, gamma, successor, start_law)
    return 1 + rates.sum(axis=0)


def per_token_acceptance_rate(P, Q, gamma: int, successor: Successor = None, start_law=None):
    """vLLM/llama.cpp's draft acceptance rate: E[accepted drafts] / γ (accepted / drafted)."""
    if gamma < 1:
        raise SpecError("the per-token acceptance rate needs gamma >= 1 drafted tokens")
    return acceptance_by_position(P, Q, gamma, successor, start_law).sum(axis=0) / gamma


def iid_tokens_per_call(alpha, gamma: int):
    """Closed form ``(1 - α^{γ+1}) / (1 - α)`` when every state accepts with rate α (γ+1 at α=1)."""
    return gamma + 1 if alpha == 1 else (1 - alpha ** (gamma + 1)) / (1 - alpha)


def iid_per_token_rate(alpha, gamma: int):
    """Closed form ``α (1 - α^γ) / (γ (1 - α))`` (1 at α = 1)."""
    return 1 if alpha == 1 else alpha * (1 - alpha ** gamma) / (gamma * (1 - alpha))
