"""A free stochastic matrix ``X -> Y`` between finite objects: the general FinStoch kernel.

The parameter is a logit table (|X|, |Y|); row ``x`` of ``softmax(logits)`` is the distribution
``k(- | x)``, so every value of the parameter is a Markov kernel (rows are positive and sum to 1).
Products ``X1 @ X2`` are flattened in row-major order (the numpy backend's axis order).

>>> import torch
>>> k = Table(3, 2)
>>> k.probs().shape, bool(torch.allclose(k.probs().sum(dim=1), torch.ones(3)))
(torch.Size([3, 2]), True)
"""
from __future__ import annotations

import torch
from torch import nn


class Table(nn.Module):
    """Input indices (...) int64 in [0, |X|) -> logits (..., |Y|)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.logits = nn.Parameter(torch.randn(n_in, n_out) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[x]

    def probs(self) -> torch.Tensor:
        """The stochastic matrix (|X|, |Y|)."""
        return torch.softmax(self.logits, dim=-1)
