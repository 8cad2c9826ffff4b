"""Ancestral sampling from a language model: temperature, top-k, top-p, and a KV cache.

The sampling law at one step is a kernel ``H -> Tok`` derived from the head's logits z:
``softmax(z / T)`` restricted to the top-k tokens (ties with the k-th kept, as in nanoGPT) and then
to the smallest prefix of the sorted distribution whose mass reaches p (Holtzman et al. 2020,
https://arxiv.org/abs/1904.09751), renormalised; temperature 0 is the point mass on argmax z.
``generate`` composes this kernel with the model step after step (ancestral sampling in the
schedule order), feeding one new token at a time through the model's KV cache.

The model protocol: ``model(idx, cache=None, start_pos=0) -> logits (B, T, V)``,
``model.new_cache()`` and ``model.context`` (``catlm.models.gpt.GPT`` follows it).

>>> import torch
>>> z = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
>>> sampling_log_probs(z, top_p=0.8).exp().round(decimals=4).tolist()
[[0.625, 0.375, 0.0, 0.0]]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from catlm.errors import BackendError

if TYPE_CHECKING:  # torch is imported inside the functions: catlm.decoding loads without it
    import torch


@dataclass(frozen=True)
class Generation:
    """The prompt (B, T0), the sampled tokens (B, n) and their log-probabilities under the sampling law."""

    prompt: "torch.Tensor"
    tokens: "torch.Tensor"
    logprobs: "torch.Tensor"

    @property
    def sequence(self) -> "torch.Tensor":
        import torch
        return torch.cat([self.prompt, self.tokens], dim=1)  # (B, T0 + n)


def sampling_log_probs(logits: "torch.Tensor", temperature: float = 1.0, top_k: int | None = None,
                       top_p: float | None = None) -> "torch.Tensor":
    """Log-probabilities (..., V) of the sampling law; excluded tokens get -inf."""
    import torch
    _check_options(temperature, top_k, top_p)
    z = logits.double()
    if temperature == 0:
        return torch.where(_argmax_mask(z), 0.0, float("-inf"))
    z = z / temperature
    if top_k is not None and top_k < z.shape[-1]:
        kth = torch.topk(z, top_k, dim=-1).values[..., -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        z = z.masked_fill(~_nucleus(z, top_p), float("-inf"))
    return torch.log_softmax(z, dim=-1)


def _argmax_mask(z: "torch.Tensor") -> "torch.Tensor":
    import torch
    return torch.zeros_like(z, dtype=torch.bool).scatter_(-1, z.argmax(-1, keepdim=True), True)


def _nucleus(z: "torch.Tensor", top_p: float) -> "torch.Tensor":
    """The smallest top set whose mass reaches top_p: a token stays if the mass before it is < top_p."""
    import torch
    p, order = torch.sort(torch.softmax(z, dim=-1), dim=-1, descending=True, stable=True)
    before = torch.cumsum(p, dim=-1) - p  # mass strictly ahead of each sorted token
    return torch.zeros_like(z, dtype=torch.bool).scatter_(-1, order, before < top_p)


def _check_options(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if temperature < 0:
        raise BackendError(f"temperature={temperature} is negative", hint="use 0 for greedy decoding")
    if top_k is not None and top_k < 1:
        raise BackendError(f"top_k={top_k} keeps no token", hint="use top_k >= 1 or None")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise BackendError(f"top_p={top_p} is outside (0, 1]", hint="use e.g. top_p=0.9, or None")


def sample_next(logits: "torch.Tensor", temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: "torch.Generator | None" = None):
    """Draw one token per row of logits (B, V); returns (tokens (B,), log-probabilities (B,)).

    Inverse-CDF sampling with one uniform per row, so runs that agree on the generator agree on the
    tokens even when their logits differ in the last bits.
    """
    import torch
    logp = sampling_log_probs(logits, temperature, top_k, top_p)  # (B, V) float64
    u = torch.rand(logp.shape[:-1] + (1,), generator=generator, dtype=torch.float64,
                   device=logp.device)
    cdf = torch.cumsum(logp.exp(), dim=-1)
    tokens = torch.searchsorted(cdf, u * cdf[..., -1:], right=True).clamp_max(logp.shape[-1] - 1)
    tokens = _skip_excluded(tokens, logp)
    return tokens.squeeze(-1), logp.gather(-1, tokens).squeeze(-1)


def _skip_excluded(tokens: "torch.Tensor", logp: "torch.Tensor") -> "torch.Tensor":
    """Rounding can land u on a zero-probability slot; move it to the last allowed token before it."""
    import torch
    allowed = torch.isfinite(logp)
    if bool(allowed.gather(-1, tokens).all()):
        return tokens
    index = torch.arange(logp.shape[-1], device=logp.device).expand_as(logp)
    last = torch.where(allowed & (index <= tokens), index, -1).amax(-1, keepdim=True)
    first = torch.where(allowed, index, logp.shape[-1]).amin(-1, keepdim=True)
    return torch.where(last >= 0, last, first)


def generate(model, prompt_idx: "torch.Tensor", max_new: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: "torch.Generator | None" = None, use_cache: bool = True) -> Generation:
    """Sample ``max_new`` tokens after prompt_idx (B, T0), one model call per token with the cache.

    Past the model's context, the window slides: the last ``context`` tokens are re-encoded from
    scratch each step (learned positions cannot be shifted inside a cache).
    """
    import torch
    _check_options(temperature, top_k, top_p)
    if prompt_idx.dim() != 2 or prompt_idx.shape[1] == 0:
        raise BackendError(f"the prompt must be (batch, T0) token ids with T0 >= 1, not of shape "
                           f"{tuple(prompt_idx.shape)}", hint="start from e.g. torch.tensor([[0]])")
    seq, tokens, logps = prompt_idx, [], []
    step = CachedSteps(model) if use_cache else _UncachedSteps(model)
    with torch.no_grad():
        for _ in range(max_new):
            logits = step(seq)[:, -1, :]  # (B, V)
            token, logp = sample_next(logits, temperature, top_k, top_p, generator)
            seq = torch.cat([seq, token[:, None]], dim=1)
            tokens.append(token)
            logps.append(logp)
    stack = (lambda xs, dt: torch.stack(xs, 1) if xs else torch.empty(seq.shape[0], 0, dtype=dt))
    return Generation(prompt_idx, stack(tokens, torch.long), stack(logps, torch.float64))


class _UncachedSteps:
    """Each step re-reads the last ``context`` tokens: nanoGPT's ``generate``."""

    def __init__(self, model):
        self.model = model

    def __call__(self, seq: "torch.Tensor") -> "torch.Tensor":
        return self.model(seq[:, -self.model.context:])


class CachedSteps:
    """Feed only the tokens the cache has not seen; restart the cache when the window slides."""

    def __init__(self, model):
        self.model, self.cache = model, model.new_cache()

    def __call__(self, seq: "torch.Tensor") -> "torch.Tensor":
        if seq.shape[1] > self.model.context:
            self.cache = self.model.new_cache()
            return self.model(seq[:, -self.model.context:])
        start = self.cache.length
        return self.model(seq[:, start:], cache=self.cache, start_pos=start)
