"""Speculative decoding at run time (torch): KV-cached target, drafters, exact verification, statistics.

One target call per block: the target scores the last committed token and the k <= γ drafts in
one forward pass with its KV cache, giving the rows ``p_1..p_{k+1}`` (B = 1, (k+1, V)). The block
is verified by ``catlm.decoding.rejection.verify`` (Leviathan et al. 2023, Algorithm 1, proved
exact by enumeration in ``catlm.decoding.blocks``) on the *sampling* laws: temperature, top-k and
top-p applied identically to p and q. Point-mass drafts (prompt lookup) are accepted with
probability p(x) and rejected to ``norm(p with x removed)``, the deterministic-candidate rule;
at temperature 0 every law is a point mass, so a draft is accepted iff it is the target's argmax.
On rejection the target's cache is truncated to the accepted prefix, so keys and values of
rejected drafts never reach a later call. Past the model's context the window slides exactly as in
``sampling.generate`` (each row reads the last ``context`` tokens; ``_Target``), so prompt + new
tokens may exceed the context. One sequence at a time: a batch of prompts is a ``UsageError``.

Statistics follow vLLM's speculative-decoding metrics: acceptance rate = accepted / drafted;
*tokens per call counts the bonus token* (= emitted tokens / target calls, vLLM's mean acceptance
length, Spec-Bench's MAT, EAGLE's τ); the prefill call is not counted. Each tested draft also adds
``α_i = Σ_x min(p_i(x), q_i(x))``, the exact probability that it is accepted given its context, so
the measured acceptance of tested drafts can be compared with its prediction on the same contexts.
Every emitted token also gets a randomised PIT value ``F(x−1) + v·p(x)``, uniform on [0, 1) and
independent across tokens iff the tokens follow the target's sampling law (Rosenblatt 1952);
``pit_test`` is a χ² test of them.

>>> import torch
>>> from catlm.models.gpt import GPT, GPTConfig
>>> from catlm.decoding.drafters import PromptLookup, Sampling
>>> target = GPT(GPTConfig(vocab=8, context=32, layers=1, heads=1, dim=8)).eval()
>>> prompt = [1, 2, 3, 1, 2]
>>> spec = speculative_generate(target, PromptLookup(8), 3, prompt, 12, Sampling(0.0))
>>> plain = plain_generate(target, prompt, 12, Sampling(0.0))
>>> spec.tokens == plain.tokens, spec.stats.emitted, spec.stats.blocks <= 12
(True, 12, True)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from catlm.decoding.chisquare import ChiSquare, uniformity_test
from catlm.decoding.drafters import Draft, DraftContext, Drafter, RowLaw, Sampling, uniform
from catlm.decoding.kvcache import rollback_cache
from catlm.decoding.rejection import inverse_cdf
from catlm.decoding.scalars import RESIDUAL_TOL
from catlm.errors import UsageError

__all__ = ["SpecStats", "SpecResult", "speculative_generate", "plain_generate", "fast_verify",
           "pit_test", "forward_cost_ratio", "one_prompt"]


@dataclass
class SpecStats:
    """Counts of one run; the derived rates are properties."""

    gamma: int
    blocks: int = 0              # target calls after the prefill, one per block
    drafted: int = 0             # drafted tokens
    accepted: int = 0            # accepted drafts
    tested: int = 0              # drafts that reached the test (up to the first rejection)
    predicted: float = 0.0       # Σ α_i over tested drafts
    emitted: int = 0             # tokens emitted (accepted drafts + corrections + bonus tokens)
    seconds: float = 0.0         # wall clock of the whole run, prefill included
    draft_seconds: float = 0.0   # of which spent in the drafter
    target_seconds: float = 0.0  # of which spent in the target's forward calls (prefill included)
    position_drafted: list[int] = field(default_factory=list)   # blocks with >= i drafts
    position_accepted: list[int] = field(default_factory=list)  # blocks whose i-th draft was accepted

    @property
    def acceptance_rate(self) -> float:
        """Accepted / drafted tokens (vLLM's draft acceptance rate)."""
        return self.accepted / self.drafted if self.drafted else 0.0

    @property
    def tested_acceptance(self) -> float:
        """Accepted / tested drafts: the measured counterpart of ``predicted_acceptance``."""
        return self.accepted / self.tested if self.tested else 0.0

    @property
    def predicted_acceptance(self) -> float:
        """Mean of Σ_x min(p_i, q_i) over the tested drafts' contexts."""
        return self.predicted / self.tested if self.tested else 0.0

    @property
    def tokens_per_call(self) -> float:
        """Emitted tokens per target call, the bonus token counted (1 for plain sampling)."""
        return self.emitted / self.blocks if self.blocks else 0.0

    @property
    def mean_accepted_length(self) -> float:
        """vLLM's mean acceptance length 1 + accepted / blocks (bonus counted)."""
        return 1.0 + self.accepted / self.blocks if self.blocks else 0.0

    @property
    def per_position_rate(self) -> list[float]:
        """rate_i = blocks whose i-th draft was accepted / blocks that drafted at least i tokens."""
        return [a / d if d else 0.0 for a, d in zip(self.position_accepted, self.position_drafted)]

    @property
    def tokens_per_s(self) -> float:
        return self.emitted / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        derived = ("acceptance_rate", "tested_acceptance", "predicted_acceptance", "tokens_per_call",
                   "mean_accepted_length", "per_position_rate", "tokens_per_s")
        return {**{k: v for k, v in vars(self).items()}, **{k: getattr(self, k) for k in derived}}


@dataclass(frozen=True)
class SpecResult:
    """The prompt, the emitted tokens, their PIT values and the run's statistics."""

    prompt: list[int]
    tokens: list[int]
    pit: np.ndarray
    stats: SpecStats
    rows: tuple = ()  # with record_rows: (p_i, q_i) float64 (V,) pairs of every tested draft


Verifier = Callable[[np.ndarray, np.ndarray, list, np.random.Generator], np.ndarray]


def fast_verify(p_rows: np.ndarray, q_rows: np.ndarray, drafted: list[int],
                rng: np.random.Generator) -> list[int]:
    """``rejection.verify`` on rows the runtime built itself: the same uniforms, the same tokens.

    The γ accept tests ``u_i < min(1, p_i(x_i)/q_i(x_i))`` are one vectorised comparison and the
    correction is ``inverse_cdf(residual(p_i, q_i), u_{γ+1})`` as in ``verify`` (with
    ``exact.residual`` specialised to one float row); ``verify``'s input checks are skipped: the
    rows are sampling laws and ``q_i(x_i) > 0`` holds by construction.
    """
    k = len(drafted)
    u = rng.random(k + 1)
    if k:
        at = np.arange(k)
        accepted = u[:k] < np.minimum(p_rows[at, drafted] / q_rows[at, drafted], 1.0)
        rejected = np.flatnonzero(~accepted)
        if len(rejected):
            i = int(rejected[0])
            return [*drafted[:i], inverse_cdf(_residual(p_rows[i], q_rows[i]), u[-1])]
    return [*drafted, inverse_cdf(p_rows[k], u[-1])]


def _residual(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``exact.residual`` of one float row: norm(max(0, p − q)), or p where that mass is ~0."""
    surplus = np.maximum(p - q, 0.0)
    mass = surplus.sum()
    return p if mass <= RESIDUAL_TOL else surplus / mass


def _ids(rows: list[list[int]], model) -> torch.Tensor:
    """Token ids (rows, T) on the model's device."""
    return torch.tensor(rows, device=next(model.parameters()).device)


class _Target:
    """The target's rollback KV cache and the hidden state at the position before the last token.

    While the text fits the model's context, one block is one cached forward over the last
    committed token and the drafts. Past it, the window slides as in ``sampling.generate``: the
    row that predicts token j+1 re-reads the last ``context`` tokens up to j (learned positions
    cannot be shifted inside a cache), and the k+1 rows of a block are one batched forward of
    k+1 windows. A block never straddles the edge (``room``), so each row is exactly the row that
    plain sampling computes for the same text.
    """

    def __init__(self, model, prompt: list[int], stats: SpecStats):
        self.model, self.context = model, model.context
        self.cache, self.hidden = rollback_cache(model), None
        if len(prompt) > 1:
            started = time.perf_counter()
            if len(prompt) <= self.context:
                self.hidden = model.hidden(_ids([prompt[:-1]], model), cache=self.cache)[0, -1]
            else:
                self.hidden = self._windows(prompt[:-1], 1)[0]
            stats.target_seconds += time.perf_counter() - started

    def room(self, committed: int, k: int) -> int:
        """Drafts a block may carry: all k past the edge, else only as many as still fit."""
        return k if committed >= self.context else min(k, self.context - committed)

    def score(self, tokens: list[int], drafts: list[int], stats: SpecStats) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden (k+1, d) and logits (k+1, V) at the last committed token and each draft."""
        started = time.perf_counter()
        if len(tokens) + len(drafts) <= self.context:
            fed = _ids([[tokens[-1], *drafts]], self.model)
            h = self.model.hidden(fed, cache=self.cache, start_pos=self.cache.length)[0]
        else:
            h = self._windows(tokens + drafts, len(drafts) + 1)
        logits = self.model.head(h)
        stats.target_seconds += time.perf_counter() - started
        return h, logits

    def _windows(self, seq: list[int], rows: int) -> torch.Tensor:
        """Hidden states (rows, d) at the last ``rows`` positions of ``seq``, each read from the
        ``context`` tokens ending there (every window is full: ``len(seq) - rows + 1 >= context``)."""
        ends = range(len(seq) - rows + 1, len(seq) + 1)
        windows = _ids([seq[max(0, end - self.context):end] for end in ends], self.model)  # (rows, C)
        return self.model.hidden(windows)[:, -1]

    def commit(self, kept: int, hidden: torch.Tensor) -> None:
        """Keep the first ``kept`` positions of the cache (the accepted prefix): a pointer move."""
        self.cache.truncate(kept)
        self.hidden = hidden


@dataclass
class _Run:
    """The mutable state of one run: statistics, committed tokens, PIT values, tested rows."""

    stats: SpecStats
    tokens: list[int]
    sampling: Sampling
    verifier: Verifier
    rng: np.random.Generator
    pits: list[np.ndarray] = field(default_factory=list)
    rows: list = field(default_factory=list)


def _check_run(prompt: list[int], max_new: int, gamma: int) -> None:
    if not prompt:
        raise UsageError("the prompt is empty", hint="give at least one token")
    if gamma < 0 or max_new < 0:
        raise UsageError(f"gamma={gamma} and max_new={max_new} must be >= 0")


def one_prompt(prompt) -> list[int]:
    """The token ids of one prompt (a list, 1-D array or 1-D tensor); a batch is refused."""
    tokens = prompt.tolist() if hasattr(prompt, "tolist") else list(prompt)
    if any(hasattr(t, "__len__") for t in tokens):
        raise UsageError(f"the prompt is a batch of {len(tokens)} sequences; speculative decoding "
                         "runs one sequence at a time",
                         hint="pass one prompt as a list or 1-D tensor of token ids, and loop over a batch")
    return [int(t) for t in tokens]


def speculative_generate(target, drafter: Drafter, gamma: int, prompt, max_new: int,
                         sampling: Sampling = Sampling(), seed: int = 0,
                         verifier: Verifier = fast_verify, record_rows: bool = False,
                         until: Callable[[list[int]], bool] | None = None) -> SpecResult:
    """Emit ``max_new`` tokens after ``prompt`` (token ids) distributed as the target's sampling law.

    ``until(emitted)``, called after each block, stops the run early when it returns True (a stop
    string or an end-of-text token; ``catlm.decoding.generate`` also streams the text from it).

    ``target`` has ``hidden(idx, cache, start_pos) -> (1, T, d)``, ``head(h) -> logits``, ``bb``
    (its transformer, with ``layers``) and ``context`` (``catlm.models.GPT``). ``verifier``
    defaults to ``fast_verify``, which emits what ``rejection.verify`` emits on the same uniforms.
    """
    prompt = one_prompt(prompt)
    _check_run(prompt, max_new, gamma)
    torch_gen = torch.Generator().manual_seed(seed)
    run = _Run(SpecStats(gamma), list(prompt), sampling, verifier, np.random.default_rng(seed))
    started, end = time.perf_counter(), len(prompt) + max_new
    drafter.reset()
    with torch.inference_mode():
        state = _Target(target, prompt, run.stats)
        while len(run.tokens) < end:
            k = state.room(len(run.tokens), min(gamma, end - len(run.tokens) - 1))  # emits <= k + 1
            ctx = DraftContext(run.tokens, state.hidden, k, sampling, torch_gen)
            _block(state, _propose(drafter, ctx, run.stats), run)
            if until is not None and until(run.tokens[len(prompt):]):
                break
    run.stats.seconds = time.perf_counter() - started
    return SpecResult(prompt, run.tokens[len(prompt):], np.concatenate([np.zeros(0)] + run.pits),
                      run.stats, tuple(run.rows) if record_rows else ())


def _propose(drafter: Drafter, ctx: DraftContext, stats: SpecStats) -> Draft:
    if ctx.gamma == 0:
        return Draft([], np.zeros((0, 0)))
    started = time.perf_counter()
    draft = drafter.propose(ctx)
    stats.draft_seconds += time.perf_counter() - started
    return draft


def _block(state: _Target, draft: Draft, run: _Run) -> None:
    """Score, verify and commit one block: one target call, the sampling transform once per row."""
    start = state.cache.length
    hidden, logits = state.score(run.tokens, draft.tokens, run.stats)
    p = run.sampling.probs(logits)  # (k+1, V) float64
    q = draft.q if len(draft.tokens) else np.zeros((0, p.shape[-1]))
    emitted = [int(x) for x in run.verifier(p, q, draft.tokens, run.rng)]
    n = len(emitted) - 1  # accepted drafts
    state.commit(start + 1 + n, hidden[n])
    _count(run.stats, p, q, len(draft.tokens), n, run.rows)
    run.pits.append(_pits(p[:n + 1], emitted, run.rng))
    run.tokens += emitted


def _count(stats: SpecStats, p: np.ndarray, q: np.ndarray, k: int, n: int, rows: list) -> None:
    tested = min(n + 1, k)
    stats.blocks += 1
    stats.drafted, stats.accepted, stats.tested = stats.drafted + k, stats.accepted + n, stats.tested + tested
    stats.emitted += n + 1
    stats.predicted += float(np.minimum(p[:tested], q[:tested]).sum())
    rows += [(p[i], q[i]) for i in range(tested)]
    _grow(stats.position_drafted, k)
    _grow(stats.position_accepted, n)


def _grow(counts: list[int], upto: int) -> None:
    counts.extend([0] * max(0, upto - len(counts)))
    for i in range(upto):
        counts[i] += 1


def _pits(p: np.ndarray, emitted: list[int], rng: np.random.Generator) -> np.ndarray:
    """Randomised PITs ``F(x−1) + v·p(x)`` of the emitted tokens (n,) under their rows (n, V)."""
    at = np.arange(len(emitted))
    mass = p[at, emitted]
    return np.cumsum(p, axis=-1)[at, emitted] - mass + rng.random(len(emitted)) * mass


def plain_generate(target, prompt, max_new: int, sampling: Sampling = Sampling(),
                   seed: int = 0) -> SpecResult:
    """Target-only ancestral sampling, one cached call per token, through the same cache, sampling
    transform, sliding window and inverse-CDF draw as ``speculative_generate``: the baseline of
    its speedup."""
    prompt = one_prompt(prompt)
    _check_run(prompt, max_new, 0)
    gen, tokens = torch.Generator().manual_seed(seed), list(prompt)
    started = time.perf_counter()
    stats = SpecStats(0, blocks=max_new, emitted=max_new)
    with torch.inference_mode():
        cache = rollback_cache(target)
        for _ in range(max_new):
            called = time.perf_counter()
            logits = _next_logits(target, tokens, cache)  # (V,)
            stats.target_seconds += time.perf_counter() - called
            tokens.append(RowLaw.of(sampling.probs(logits)).draw(uniform(gen)))
    stats.seconds = time.perf_counter() - started
    return SpecResult(prompt, tokens[len(prompt):], np.zeros(0), stats)


def _next_logits(target, tokens: list[int], cache) -> torch.Tensor:
    """The logits after ``tokens``: through the cache while they fit the context, else from the
    last ``context`` tokens re-read (``sampling.generate``'s sliding window)."""
    if len(tokens) > target.context:
        return target(_ids([tokens[-target.context:]], target))[0, -1]
    fed = _ids([tokens[cache.length:]], target)
    return target(fed, cache=cache, start_pos=cache.length)[0, -1]


def pit_test(pits, bins: int = 10) -> ChiSquare:
    """χ² test that PIT values are uniform on [0, 1): at most ``bins`` equal cells, fewer for a
    short run; under 10 values ``pvalue`` is None ("not enough samples"), never a vacuous 1."""
    return uniformity_test(pits, bins)


def forward_cost_ratio(target, gamma: int, past: int = 64, repeats: int = 30) -> dict:
    """Median seconds of a cached target forward over 1 and over γ+1 new tokens after ``past``
    positions, and their ratio; the two widths alternate so that load drifts hit both alike."""
    times: dict[int, list[float]] = {1: [], gamma + 1: []}
    with torch.inference_mode():
        cache = rollback_cache(target)
        target(_ids([[0] * past], target), cache=cache)
        for _ in range(repeats):
            for width, seen in times.items():
                cache.truncate(past)
                started = time.perf_counter()
                target(_ids([[0] * width], target), cache=cache, start_pos=past)
                seen.append(time.perf_counter() - started)
    one, block = float(np.median(times[1])), float(np.median(times[gamma + 1]))
    return {"one_token_s": one, "block_s": block, "ratio": block / one}
