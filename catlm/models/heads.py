"""Stochastic heads ``k_head : H -> Tok``: logits of a categorical, trained by chunked cross-entropy.

``LinearSoftmax`` is the kernel ``h |-> softmax(W h + b)``; the module returns the logits, the kernel
is their softmax. With a large vocabulary the (N, V) logits dominate training memory, so the loss
``chunked_cross_entropy`` runs over vocabulary chunks of ``chunk`` columns with an online logsumexp
(Milakov & Gimelshein 2018, https://arxiv.org/abs/1805.02867) and recomputes each chunk's
logits in backward: besides the parameters it saves h (N, d), the targets and the logsumexp (N,),
and its working memory is O(N x chunk).

>>> import torch, torch.nn.functional as F
>>> h, W = torch.randn(6, 4, dtype=torch.float64), torch.randn(50, 4, dtype=torch.float64)
>>> b, y = torch.zeros(50, dtype=torch.float64), torch.randint(0, 50, (6,))
>>> loss = chunked_cross_entropy(h, W, b, y, chunk=16)
>>> bool(torch.allclose(loss, F.cross_entropy(h @ W.T + b, y)))
True
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from catlm.errors import BackendError

DEFAULT_CHUNK = 8192


class LinearSoftmax(nn.Module):
    """H (..., d) -> logits over Tok (..., V); ``tied`` shares an embedding's (V, d) table."""

    def __init__(self, dim: int, vocab: int, bias: bool = False, tied: nn.Parameter | None = None):
        super().__init__()
        self.dim, self.vocab = dim, vocab
        self.weight = tied if tied is not None else nn.Parameter(torch.randn(vocab, dim) * 0.02)
        self.bias = nn.Parameter(torch.zeros(vocab)) if bias else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(h, self.weight, self.bias)  # (..., V)

    def loss(self, h: torch.Tensor, targets: torch.Tensor, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
        """Mean NLL in nats of ``targets`` (...) under softmax(logits(h)) (..., V).

        A vocabulary that fits in one chunk takes torch's fused cross-entropy: the logits are then
        no larger than one chunk, and the fused kernel is what nanoGPT runs.
        """
        h, targets = h.reshape(-1, self.dim), targets.reshape(-1)
        if self.vocab <= chunk:
            _check_targets(targets, self.vocab, h.shape[0])
            return F.cross_entropy(self(h), targets)
        return chunked_cross_entropy(h, self.weight, self.bias, targets, chunk=chunk)


def chunked_cross_entropy(h: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None,
                          targets: torch.Tensor, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """``F.cross_entropy(h @ W.T + b, targets)`` (mean) without materialising the (N, V) logits.

    h (N, d), W (V, d), b (V,) or None, targets (N,) int64 in [0, V).
    """
    _check_targets(targets, W.shape[0], h.shape[0])
    if chunk < 1:
        raise BackendError(f"chunk={chunk} must be a positive number of vocabulary columns")
    return _ChunkedCrossEntropy.apply(h, W, b, targets, chunk)


def _check_targets(targets: torch.Tensor, V: int, N: int) -> None:
    if targets.shape != (N,):
        raise BackendError(f"targets of shape {tuple(targets.shape)} do not match {N} hidden states")
    if N and (int(targets.min()) < 0 or int(targets.max()) >= V):
        raise BackendError(f"a target is outside the vocabulary [0, {V})",
                           hint="check that the tokenizer and the head agree on the vocabulary size")


def _chunk_logits(h, W, b, start, stop):
    # (N, c) in at least float32, so that half-precision hidden states keep an exact logsumexp
    logits = h @ W[start:stop].T if b is None else torch.addmm(b[start:stop], h, W[start:stop].T)
    return logits.to(torch.promote_types(h.dtype, torch.float32))


class _ChunkedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, W, b, targets, chunk):
        N, V = h.shape[0], W.shape[0]
        dtype = torch.promote_types(h.dtype, torch.float32)
        lse = torch.full((N,), float("-inf"), dtype=dtype, device=h.device)
        picked = torch.zeros(N, dtype=dtype, device=h.device)
        for start in range(0, V, chunk):
            logits = _chunk_logits(h, W, b, start, min(start + chunk, V))  # (N, c)
            lse = torch.logaddexp(lse, torch.logsumexp(logits, dim=1))
            inside = (targets >= start) & (targets < start + logits.shape[1])
            rows = inside.nonzero().squeeze(1)
            picked[rows] = logits[rows, targets[rows] - start]
        ctx.save_for_backward(h, W, b, targets, lse)
        ctx.chunk = chunk
        return (lse - picked).mean().to(h.dtype)

    @staticmethod
    def backward(ctx, grad):
        h, W, b, targets, lse = ctx.saved_tensors
        N, V = h.shape[0], W.shape[0]
        scale = grad / max(N, 1)
        grad_h, grad_W = torch.zeros_like(h), torch.zeros_like(W)
        grad_b = torch.zeros_like(b) if b is not None else None
        for start in range(0, V, ctx.chunk):
            stop = min(start + ctx.chunk, V)
            g = _chunk_logits(h, W, b, start, stop).sub_(lse[:, None]).exp_()  # softmax (N, c), in place
            inside = ((targets >= start) & (targets < stop)).nonzero().squeeze(1)
            g[inside, targets[inside] - start] -= 1.0
            g = g.mul_(scale).to(h.dtype)
            grad_h += g @ W[start:stop]
            grad_W[start:stop] = g.T @ h
            if grad_b is not None:
                grad_b[start:stop] = g.sum(0)
        return grad_h, grad_W, grad_b, None, None
