"""Scoring a text: log p(x_t | x_<t) of every token after the first, NLL in nats/token and bits/byte.

The measurement every LM user runs first. ``score`` reads the tokens in windows of the model's
context (or ``window``): the first window scores its tokens 1..W-1, each later one advances by
``stride`` and scores only the tokens no window scored yet, each with at least ``W - stride``
tokens of context (HF's strided perplexity). With a window as long as the text this is one
forward pass and the log-probabilities are exact. Bits per byte divides the total NLL in bits by the
UTF-8 bytes of the scored text (the text after the first token), so models with different
tokenizers compare.

>>> import torch
>>> from catlm.models.gpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab=5, context=8, layers=1, heads=1, dim=4)).eval()
>>> tokens = [1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
>>> full = score(model, tokens, window=8, stride=3)
>>> len(full.logprobs), bool(torch.allclose(full.logprobs_tensor[:7],
...     score(model, tokens[:8]).logprobs_tensor, atol=1e-6))
(10, True)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from catlm.errors import SpecError


@dataclass(frozen=True)
class Scores:
    """The token ids, log p of tokens[1:] (nats), and the UTF-8 bytes those tokens cover."""

    tokens: list[int]
    logprobs: list[float]
    bytes: int | None = None

    @property
    def logprobs_tensor(self):
        import torch
        return torch.tensor(self.logprobs, dtype=torch.float64)

    @property
    def nll(self) -> float:
        """Mean negative log-likelihood in nats per scored token."""
        return -math.fsum(self.logprobs) / len(self.logprobs)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll)

    @property
    def bits_per_byte(self) -> float | None:
        if not self.bytes:
            return None
        return -math.fsum(self.logprobs) / math.log(2) / self.bytes

    def as_dict(self) -> dict:
        return {"tokens": self.tokens, "logprobs": self.logprobs, "scored_tokens": len(self.logprobs),
                "nll_nats_per_token": self.nll, "perplexity": self.perplexity,
                "bytes": self.bytes, "bits_per_byte": self.bits_per_byte}


def score(model, tokens: list[int], window: int | None = None, stride: int | None = None,
          text_bytes: int | None = None) -> Scores:
    """log p(tokens[t] | tokens[:t]) for t >= 1, computed on the model's device in windows."""
    import torch
    tokens = [int(t) for t in tokens]
    window = min(window or model.context, model.context)
    stride = stride or max(1, window // 2)
    if len(tokens) < 2:
        raise SpecError("scoring needs at least two tokens: the first is only context",
                        hint="give a longer text")
    if not 0 < stride <= window - 1 or window < 2:
        raise SpecError(f"stride {stride} must lie in [1, window - 1] for window {window}")
    device = _device(model)
    out: list[float] = []
    with torch.inference_mode():
        for start, first, stop in _windows(len(tokens), window, stride):
            idx = torch.tensor([tokens[start:stop]], device=device)
            logits = model(idx)[0, :-1].float()  # (T-1, V): one more (T, V) copy would double the memory
            picked = logits.gather(-1, idx[0, 1:, None])[:, 0] - torch.logsumexp(logits, dim=-1)
            out += picked.double()[first - start - 1:].tolist()  # log p(x_{t+1} | x_<=t)
    return Scores(tokens, out, text_bytes)


def _windows(n: int, window: int, stride: int):
    """(start, first scored, stop) of each window; together they score positions 1..n-1 once."""
    stop = min(window, n)
    yield 0, 1, stop
    while stop < n:
        end = min(stop + stride, n)
        yield max(0, end - window), stop, end
        stop = end


def _device(model):
    return next(model.parameters()).device
