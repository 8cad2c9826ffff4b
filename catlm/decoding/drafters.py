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
  at feature level. ``train_feature_head`` fits it on the target's own outputs.

Token-only drafters see the text; the hidden-state drafter sees ``h_t``, which carries the
information surplus ``I(H_t; X_{t+2} | X_{t+1})`` (Zhang, arXiv 2507.19247, §4.1).

>>> import torch
>>> from catlm.decoding.drafters import DraftContext, PromptLookup, Sampling
>>> ctx = DraftContext([1, 2, 3, 4, 1, 2], None, 3, Sampling(), torch.Generator().manual_seed(0))
>>> PromptLookup(vocab=5).propose(ctx).tokens     # "1 2" occurred before, followed by 3 4 1
[3, 4, 1]
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import torch
from torch import nn

from catlm.decoding.rejection import inverse_cdf
from catlm.decoding.sampling import sampling_log_probs
from catlm.errors import BackendError, SpecError

__all__ = ["Sampling", "DraftContext", "Draft", "Drafter", "PromptLookup", "NgramDrafter",
           "LMDrafter", "FeatureHead", "HiddenStateDrafter", "HeadTraining", "target_samples",
           "train_feature_head", "save_head", "load_head", "Loaded", "load_gpt", "truncate_cache"]


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
    return inverse_cdf(q, float(torch.rand((), generator=generator, dtype=torch.float64)))


def _empty(vocab: int) -> Draft:
    return Draft([], np.zeros((0, vocab)))


def _point_masses(tokens: list[int], vocab: int) -> Draft:
    q = np.zeros((len(tokens), vocab))
    q[np.arange(len(tokens)), tokens] = 1.0
    return Draft(list(tokens), q)


# --- token-only drafters -------------------------------------------------------------------------

@dataclass
class PromptLookup:
    """Copy the continuation of the latest earlier match of the last n tokens, n = max_ngram..min_ngram."""

    vocab: int
    max_ngram: int = 3
    min_ngram: int = 1
    name: str = "lookup"

    def reset(self) -> None:
        return None

    def propose(self, ctx: DraftContext) -> Draft:
        seq = np.asarray(ctx.tokens)
        for n in range(min(self.max_ngram, len(seq) - 1), self.min_ngram - 1, -1):
            start = _latest_match(seq, n)
            if start is not None:
                return _point_masses(seq[start:start + ctx.gamma].tolist(), self.vocab)
        return _empty(self.vocab)


def _latest_match(seq: np.ndarray, n: int) -> int | None:
    """The position right after the latest earlier occurrence of seq[-n:], or None."""
    windows = np.lib.stride_tricks.sliding_window_view(seq[:-1], n)  # (len - n, n)
    hits = np.flatnonzero((windows == seq[-n:]).all(axis=1))
    return int(hits[-1]) + n if len(hits) else None


@dataclass
class NgramDrafter:
    """q(x | last r tokens) from corpus counts, backing off to the longest observed suffix."""

    vocab: int
    tables: list[dict] = field(repr=False)  # tables[r]: context tuple of length r -> counts (V,)
    name: str = "ngram"

    @classmethod
    def from_tokens(cls, tokens, order: int, vocab: int) -> "NgramDrafter":
        if order < 1:
            raise SpecError(f"n-gram order {order} must be >= 1")
        tokens = np.asarray(tokens, dtype=np.int64)
        return cls(vocab, [_counts(tokens, r, vocab) for r in range(order + 1)])

    def reset(self) -> None:
        return None

    def row(self, context: list[int]) -> np.ndarray:
        """Counts (V,) of the longest suffix of ``context`` seen in the corpus."""
        for r in range(min(len(self.tables) - 1, len(context)), -1, -1):
            counts = self.tables[r].get(tuple(context[len(context) - r:]))
            if counts is not None:
                return counts
        return np.ones(self.vocab)

    def propose(self, ctx: DraftContext) -> Draft:
        seq, tokens, rows = list(ctx.tokens), [], []
        for _ in range(ctx.gamma):
            with np.errstate(divide="ignore"):
                logits = torch.from_numpy(np.log(self.row(seq)))
            q = ctx.sampling.probs(logits)
            tokens.append(draw(q, ctx.generator))
            rows.append(q)
            seq.append(tokens[-1])
        return Draft(tokens, np.array(rows).reshape(len(tokens), self.vocab))


def _counts(tokens: np.ndarray, r: int, vocab: int) -> dict:
    """{context tuple of length r: next-token counts (V,)} over the (r+1)-grams of tokens."""
    if len(tokens) <= r:
        return {}
    windows = np.lib.stride_tricks.sliding_window_view(tokens, r + 1)  # (N - r, r + 1)
    keys, inverse = np.unique(windows[:, :r], axis=0, return_inverse=True)
    counts = np.zeros((len(keys), vocab))
    np.add.at(counts, (inverse.ravel(), windows[:, r]), 1.0)
    return {tuple(int(t) for t in key): row for key, row in zip(keys, counts)}


# --- a small LM with its own KV cache ------------------------------------------------------------

def truncate_cache(cache, length: int) -> None:
    """Roll a KV cache back to its first ``length`` positions (every layer's keys and values)."""
    for layer, (k, v) in enumerate(zip(cache.keys, cache.values)):
        if k is not None:
            cache.keys[layer], cache.values[layer] = k[..., :length, :], v[..., :length, :]


class LMDrafter:
    """Draft by sampling a small LM; its cache keeps the longest prefix shared with the committed text."""

    name = "lm"

    def __init__(self, model, vocab: int):
        self.model, self.vocab = model.eval(), vocab
        self.reset()

    def reset(self) -> None:
        self.cache, self.fed = self.model.new_cache(), []

    def propose(self, ctx: DraftContext) -> Draft:
        self._rollback(ctx.tokens)
        tokens, rows = [], []
        pending = ctx.tokens[len(self.fed):]
        for i in range(ctx.gamma):
            q = ctx.sampling.probs(self._feed(pending)[-1])
            tokens.append(draw(q, ctx.generator))
            rows.append(q)
            pending = tokens[-1:]
        return Draft(tokens, np.array(rows).reshape(len(tokens), self.vocab))

    def _rollback(self, committed: list[int]) -> None:
        shared = 0
        limit = min(len(self.fed), len(committed) - 1)  # the last committed token is always re-fed
        while shared < limit and self.fed[shared] == committed[shared]:
            shared += 1
        truncate_cache(self.cache, shared)
        self.fed = self.fed[:shared]

    def _feed(self, tokens: list[int]) -> torch.Tensor:
        idx = torch.tensor([tokens], dtype=torch.long)
        logits = self.model(idx, cache=self.cache, start_pos=len(self.fed))[0]  # (T, V)
        self.fed = self.fed + list(tokens)
        return logits


# --- the hidden-state drafter (EAGLE-like) -------------------------------------------------------

class FeatureHead(nn.Module):
    """g(h_t, x_{t+1}) -> ĥ_{t+1}: (.., d) and (..) -> (.., d); a fused input and one residual MLP."""

    def __init__(self, dim: int, vocab: int):
        super().__init__()
        self.dim, self.vocab = dim, vocab
        self.embed = nn.Embedding(vocab, dim)
        self.fuse = nn.Linear(2 * dim, dim)
        self.ln = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, h: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        x = self.fuse(torch.cat([h, self.embed(token)], dim=-1))  # (.., d)
        return x + self.mlp(self.ln(x))


class HiddenStateDrafter:
    """Draft ``x_{t+2..}`` from the target's ``h_t`` and ``x_{t+1}``, through the target's head."""

    name = "head"

    def __init__(self, head: FeatureHead, target):
        self.head, self.target = head.eval(), target

    def reset(self) -> None:
        return None

    def propose(self, ctx: DraftContext) -> Draft:
        if ctx.hidden is None:
            return _empty(self.head.vocab)
        h, token, tokens, rows = ctx.hidden, torch.tensor(ctx.tokens[-1]), [], []
        for _ in range(ctx.gamma):
            h = self.head(h, token)  # (d,): the predicted next hidden state
            q = ctx.sampling.probs(self.target.head(h))
            tokens.append(draw(q, ctx.generator))
            rows.append(q)
            token = torch.tensor(tokens[-1])
        return Draft(tokens, np.array(rows).reshape(len(tokens), self.head.vocab))


@dataclass(frozen=True, slots=True)
class HeadTraining:
    steps: int = 400
    batch: int = 32
    lr: float = 3e-3
    feature_weight: float = 1.0   # EAGLE's regression of ĥ onto the true next hidden state
    seed: int = 0


def target_samples(target, count: int, length: int, seed: int = 0,
                   prompts: torch.Tensor | None = None) -> torch.Tensor:
    """(count, length) sequences the target samples at temperature 1 from ``prompts`` (count, T0),
    by default one uniformly random token each: the training data of a hidden-state head."""
    from catlm.decoding.sampling import generate
    gen = torch.Generator().manual_seed(seed)
    if prompts is None:
        prompts = torch.randint(target.config.vocab, (count, 1), generator=gen)
    return generate(target.eval(), prompts, length - prompts.shape[1], generator=gen).sequence


def train_feature_head(target, sequences: torch.Tensor, config: HeadTraining = HeadTraining()
                       ) -> tuple[FeatureHead, list[float]]:
    """Fit a ``FeatureHead`` on sequences (N, T) the target sampled (its own outputs).

    Loss per position t: the expected NLL ``−Σ_x p(x | h_{t+1}) log q(x | ĥ_{t+1})`` of the target's
    next-token law (the mean of the NLL of its sampled tokens) plus ``feature_weight`` times the
    smooth-L1 distance of ĥ_{t+1} to h_{t+1}, so that ĥ can be fed back for the next draft.
    """
    torch.manual_seed(config.seed)
    with torch.no_grad():
        hidden = target.hidden(sequences)  # (N, T, d)
        target_logp = torch.log_softmax(target.head(hidden).double(), dim=-1).float()
    head = FeatureHead(hidden.shape[-1], target_logp.shape[-1])
    opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=0.0)
    gen, losses = torch.Generator().manual_seed(config.seed), []
    for _ in range(config.steps):
        rows = torch.randint(len(sequences), (config.batch,), generator=gen)
        loss = _head_loss(head, target, hidden[rows], sequences[rows], target_logp[rows], config)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return head.eval(), losses


def _head_loss(head, target, hidden, tokens, target_logp, config: HeadTraining) -> torch.Tensor:
    predicted = head(hidden[:, :-1], tokens[:, 1:])  # ĥ_{t+1} from (h_t, x_{t+1}): (B, T-1, d)
    logq = torch.log_softmax(target.head(predicted), dim=-1)
    nll = -(target_logp[:, 1:].exp() * logq).sum(-1).mean()
    feature = nn.functional.smooth_l1_loss(predicted, hidden[:, 1:])
    return nll + config.feature_weight * feature


def save_head(head: FeatureHead, path: str | Path) -> Path:
    """A folder with ``head.safetensors`` and ``head.json`` (dim, vocab)."""
    from safetensors.torch import save_model
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_model(head, str(path / "head.safetensors"))
    (path / "head.json").write_text(json.dumps({"kind": "feature_head", "dim": head.dim,
                                                "vocab": head.vocab}))
    return path


def load_head(path: str | Path) -> FeatureHead:
    from safetensors.torch import load_model
    path = Path(path)
    if not (path / "head.json").is_file():
        raise BackendError(f"no drafter head at {str(path)!r} (head.json missing)",
                           hint="train one with catlm.decoding.drafters.train_feature_head and save_head")
    meta = json.loads((path / "head.json").read_text())
    head = FeatureHead(meta["dim"], meta["vocab"])
    load_model(head, str(path / "head.safetensors"))
    return head.eval()


class Loaded(NamedTuple):
    model: nn.Module
    tokenizer: object | None
    folder: Path
    meta: dict


def load_gpt(path: str | Path) -> Loaded:
    """A GPT, its tokenizer and metadata from a checkpoint folder or a training output folder."""
    from catlm.data.tokenizers import tokenizer_from_json
    from catlm.models.checkpoint import latest_checkpoint, load_checkpoint, restore
    from catlm.models.gpt import GPT, GPTConfig
    path = Path(path)
    folder = path if (path / "state.json").is_file() else latest_checkpoint(path)
    if folder is None:
        raise BackendError(f"no catlm checkpoint at {str(path)!r}",
                           hint="pass a folder written by catlm's trainer (it holds checkpoint.json)")
    ckpt = load_checkpoint(folder)
    if not ckpt.state.get("model_config"):
        raise BackendError(f"checkpoint {folder} has no model_config", hint="save a GPT with train()")
    model = GPT(GPTConfig(**ckpt.state["model_config"]))
    restore(ckpt, model, None)
    text = ckpt.state.get("tokenizer")
    return Loaded(model.eval(), tokenizer_from_json(text) if text else None, folder,
                  ckpt.state.get("meta") or {})
