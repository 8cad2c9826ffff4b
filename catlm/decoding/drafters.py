"""Drafters for speculative decoding at run time: draft kernels that read tokens or the target's state.

A drafter proposes up to γ tokens after the committed sequence, each with the law ``q_i`` it was
drawn from (a row of the draft kernel, after the same temperature/top-k/top-p transform as the
target, ``sampling_log_probs``); the runtime (``catlm.decoding.runtime``) verifies them against
the target's rows by Leviathan's rule, so the output law is the target's whatever the drafter.

* ``PromptLookup``: prompt-lookup decoding (PLD, https://github.com/apoorvumang/prompt-lookup-decoding;
  HF ``prompt_lookup_num_tokens``, vLLM ``method="ngram"``): match the last n tokens against the
  earlier text and copy what followed. Deterministic candidates: point masses ``q = δ_x``.
* ``NgramDrafter``: the order-r n-gram kernel of a corpus with back-off to shorter contexts.
* ``LMDrafter``: a small language model with its own KV cache (SpS / HF assisted generation).
* ``HiddenStateDrafter``: an EAGLE-like head (https://arxiv.org/abs/2401.15077) on the target's
  hidden state: ``ĥ_{t+1} = g(h_t, x_{t+1})``, tokens from the target's own head, autoregressing
  at feature level (the head, its training and files: ``catlm.decoding.feature_head``).

Drafting is cheap next to a target call: prompt lookup is pure-Python dict lookups on an n-gram
index that grows with the text, the n-gram drafter transforms each corpus row once per sampling
law (``RowLaw``), the small LM keeps a ``RollbackCache`` (O(1) rollback), and a head step is
three matrix-vector products with the token half of its input layer tabulated.

Token-only drafters see the text; the hidden-state drafter sees ``h_t``, which carries the
information surplus ``I(H_t; X_{t+2} | X_{t+1})`` (Zhang, arXiv 2507.19247, §4.1).

>>> import torch
>>> from catlm.decoding.drafters import DraftContext, PromptLookup, Sampling
>>> ctx = DraftContext([1, 2, 3, 4, 1, 2], None, 3, Sampling(), torch.Generator().manual_seed(0))
>>> PromptLookup(vocab=5).propose(ctx).tokens     # "1 2" occurred before, followed by 3 4 1
[3, 4, 1]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn

from catlm.data.ngram import context_counts
from catlm.decoding.feature_head import (FeatureHead, HeadTraining, load_head, save_head,
                                         target_samples, train_feature_head)
from catlm.decoding.kvcache import rollback_cache, truncate_cache
from catlm.decoding.rejection import inverse_cdf
from catlm.decoding.sampling import sampling_log_probs
from catlm.errors import UsageError

__all__ = ["Sampling", "DraftContext", "Draft", "Drafter", "PromptLookup", "NgramDrafter",
           "LMDrafter", "FeatureHead", "HiddenStateDrafter", "HeadTraining", "RowLaw", "target_samples",
           "train_feature_head", "save_head", "load_head", "truncate_cache", "draw", "uniform"]


@dataclass(frozen=True, slots=True)
class Sampling:
    """The sampling transform applied identically to the target's and the drafter's logits."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def probs(self, logits: torch.Tensor) -> np.ndarray:
        """The sampling laws (..., V) as float64 numpy rows."""
        return sampling_log_probs(logits, self.temperature, self.top_k, self.top_p).exp().cpu().numpy()


@dataclass(frozen=True)
class DraftContext:
    """What a drafter may read: the committed tokens, the target's hidden state at the position
    before the last committed token (d,) or None, the number of drafts wanted and the randomness."""

    tokens: list[int]
    hidden: torch.Tensor | None
    gamma: int
    sampling: Sampling
    generator: torch.Generator


@dataclass(frozen=True)
class Draft:
    """k <= γ drafted tokens and the laws (k, V) they were drawn from (one-hot for point masses)."""

    tokens: list[int]
    q: np.ndarray


class Drafter(Protocol):
    name: str

    def reset(self) -> None: ...

    def propose(self, ctx: DraftContext) -> Draft: ...


def draw(q: np.ndarray, generator: torch.Generator) -> int:
    """One token from the law q (V,) by inverse CDF of a uniform from ``generator``."""
    return inverse_cdf(q, uniform(generator))


def uniform(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator, dtype=torch.float64))


@dataclass(frozen=True, slots=True)
class RowLaw:
    """A law (V,) with its CDF: ``draw(u)`` is ``rejection.inverse_cdf(probs, u)`` without the cumsum."""

    probs: np.ndarray
    cdf: np.ndarray
    last: int  # the last token of positive mass

    @classmethod
    def of(cls, probs: np.ndarray) -> "RowLaw":
        return cls(probs, np.cumsum(probs), int(np.flatnonzero(probs)[-1]))

    def draw(self, u: float) -> int:
        return min(int(np.searchsorted(self.cdf, u, side="right")), self.last)


def _empty(vocab: int) -> Draft:
    return Draft([], np.zeros((0, vocab)))


def _point_masses(tokens: list[int], vocab: int) -> Draft:
    q = np.zeros((len(tokens), vocab))
    q[np.arange(len(tokens)), tokens] = 1.0
    return Draft(list(tokens), q)


# --- token-only drafters -------------------------------------------------------------------------

@dataclass
class PromptLookup:
    """Copy the continuation of the latest earlier match of the last n tokens, n = max_ngram..min_ngram.

    A match near the end has a short continuation; the copy then runs on into the tokens it has
    copied, so a repeating text is drafted γ tokens ahead. Pure-Python dict lookups:
    ``_latest[n]`` maps every n-gram that ends before the last token to the position right after
    its latest occurrence, and grows with the committed text.
    """

    vocab: int
    max_ngram: int = 3
    min_ngram: int = 1
    name: str = "lookup"
    _indexed: list[int] = field(default_factory=list, init=False, repr=False)
    _latest: dict = field(default_factory=dict, init=False, repr=False)

    def reset(self) -> None:
        self._indexed, self._latest = [], {n: {} for n in range(self.min_ngram, self.max_ngram + 1)}

    def propose(self, ctx: DraftContext) -> Draft:
        seq = ctx.tokens
        self._index(seq)
        for n in range(min(self.max_ngram, len(seq) - 1), self.min_ngram - 1, -1):
            start = self._latest[n].get(tuple(seq[len(seq) - n:]))
            if start is not None:
                return _point_masses(_copy(seq, start, ctx.gamma), self.vocab)
        return _empty(self.vocab)

    def _index(self, seq: list[int]) -> None:
        """Index the n-grams ending at positions len(indexed)+1 .. len(seq)-1 (exclusive ends)."""
        if not self._latest or seq[:len(self._indexed)] != self._indexed:
            self.reset()  # not a continuation of the text indexed so far
        for end in range(len(self._indexed) + 1, len(seq)):
            for n, latest in self._latest.items():
                if end >= n:
                    latest[tuple(seq[end - n:end])] = end
        self._indexed = list(seq[:max(len(seq) - 1, 0)])


def _copy(seq: list[int], start: int, gamma: int) -> list[int]:
    """γ tokens copied from ``start`` on; a copy that reaches the end of ``seq`` runs on into the
    tokens it has copied (x_{len+j} = x_{start+j}), i.e. repeats the period len − start."""
    copied = seq[start:start + gamma]
    period = len(seq) - start
    while len(copied) < gamma:
        copied.append(copied[len(copied) - period])
    return copied


@dataclass
class NgramDrafter:
    """q(x | last r tokens) from corpus counts, backing off to the longest observed suffix."""

    vocab: int
    tables: list[dict] = field(repr=False)  # tables[r]: context tuple of length r -> counts (V,)
    name: str = "ngram"
    _laws: dict = field(default_factory=dict, init=False, repr=False)  # (Sampling, key) -> RowLaw

    @classmethod
    def from_tokens(cls, tokens, order: int, vocab: int) -> "NgramDrafter":
        if order < 1:
            raise UsageError(f"n-gram order {order} must be >= 1")
        tokens = np.asarray(tokens, dtype=np.int64)
        return cls(vocab, [context_counts(tokens, r, vocab) for r in range(order + 1)])

    def reset(self) -> None:
        return None

    def row(self, context: list[int]) -> np.ndarray:
        """Counts (V,) of the longest suffix of ``context`` seen in the corpus."""
        return self._backoff(context)[1]

    def _backoff(self, context: list[int]) -> tuple[tuple, np.ndarray]:
        for r in range(min(len(self.tables) - 1, len(context)), -1, -1):
            key = tuple(context[len(context) - r:])
            counts = self.tables[r].get(key)
            if counts is not None:
                return key, counts
        return (), np.ones(self.vocab)

    def propose(self, ctx: DraftContext) -> Draft:
        seq, tokens, rows = list(ctx.tokens), [], []
        for _ in range(ctx.gamma):
            law = self._law(seq, ctx.sampling)
            tokens.append(law.draw(uniform(ctx.generator)))
            rows.append(law.probs)
            seq.append(tokens[-1])
        return Draft(tokens, np.array(rows).reshape(len(tokens), self.vocab))

    def _law(self, context: list[int], sampling: Sampling) -> "RowLaw":
        """The sampling law of the backed-off row, transformed once per (row, sampling)."""
        key, counts = self._backoff(context)
        law = self._laws.get((sampling, key))
        if law is None:
            with np.errstate(divide="ignore"):
                law = RowLaw.of(sampling.probs(torch.from_numpy(np.log(counts))))
            self._laws[(sampling, key)] = law
        return law


# --- a small LM with its own KV cache ------------------------------------------------------------

class LMDrafter:
    """Draft by sampling a small LM; its cache keeps the longest prefix shared with the committed
    text while the text and the drafts fit its context, and past it each draft re-reads the last
    ``context`` tokens (the sliding window of ``sampling.generate``)."""

    name = "lm"

    def __init__(self, model, vocab: int):
        self.model, self.vocab = model.eval(), vocab
        self.reset()

    def reset(self) -> None:
        self.cache, self.fed = rollback_cache(self.model), []

    def propose(self, ctx: DraftContext) -> Draft:
        sliding = len(ctx.tokens) + ctx.gamma > self.model.context
        if not sliding:
            self._rollback(ctx.tokens)
        seq, tokens, rows = list(ctx.tokens), [], []
        for _ in range(ctx.gamma):
            logits = self._window(seq) if sliding else self._feed(seq[len(self.fed):])[-1]
            law = RowLaw.of(ctx.sampling.probs(logits))
            tokens.append(law.draw(uniform(ctx.generator)))
            rows.append(law.probs)
            seq.append(tokens[-1])
        return Draft(tokens, np.array(rows).reshape(len(tokens), self.vocab))

    def _rollback(self, committed: list[int]) -> None:
        shared = 0
        limit = min(len(self.fed), len(committed) - 1)  # the last committed token is always re-fed
        while shared < limit and self.fed[shared] == committed[shared]:
            shared += 1
        truncate_cache(self.cache, shared)
        del self.fed[shared:]

    def _feed(self, tokens: list[int]) -> torch.Tensor:
        idx = torch.tensor([tokens], dtype=torch.long, device=next(self.model.parameters()).device)
        with torch.inference_mode():
            logits = self.model(idx, cache=self.cache, start_pos=len(self.fed))[0]  # (T, V)
        self.fed += tokens
        return logits

    def _window(self, seq: list[int]) -> torch.Tensor:
        """Logits (V,) after the last ``context`` tokens of ``seq``, read without the cache."""
        with torch.inference_mode():
            return self.model(torch.tensor([seq[-self.model.context:]]))[0, -1]


# --- the hidden-state drafter (EAGLE-like) -------------------------------------------------------

class HiddenStateDrafter:
    """Draft ``x_{t+2..}`` from the target's ``h_t`` and ``x_{t+1}``, through the target's head.

    One draft step is ``ĥ = x + mlp(ln(x))`` with ``x = fuse([h, e_token]) = W_h h + (W_e e_token + b)``;
    the token half is a (V, d) table computed at ``reset`` (the weights are frozen during a run),
    so a step costs three matrix-vector products, a LayerNorm, a GELU and the target's head.
    """

    name = "head"

    def __init__(self, head: FeatureHead, target):
        self.head, self.target = head.eval(), target
        self.reset()

    def reset(self) -> None:
        fuse, d = self.head.fuse, self.head.dim
        with torch.inference_mode():
            self._w_hidden = fuse.weight[:, :d].contiguous()  # (d, d)
            self._by_token = nn.functional.linear(self.head.embed.weight, fuse.weight[:, d:], fuse.bias)

    def propose(self, ctx: DraftContext) -> Draft:
        if ctx.hidden is None:
            return _empty(self.head.vocab)
        h, token, tokens, rows = ctx.hidden, ctx.tokens[-1], [], []
        with torch.inference_mode():
            for _ in range(ctx.gamma):
                h = self._step(h, token)  # (d,): the predicted next hidden state
                law = RowLaw.of(ctx.sampling.probs(self.target.head(h)))
                token = law.draw(uniform(ctx.generator))
                tokens.append(token)
                rows.append(law.probs)
        return Draft(tokens, np.array(rows).reshape(len(tokens), self.head.vocab))

    def _step(self, h: torch.Tensor, token: int) -> torch.Tensor:
        x = nn.functional.linear(h, self._w_hidden) + self._by_token[token]  # (d,)
        return x + self.head.mlp(self.head.ln(x))

