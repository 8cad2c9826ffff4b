"""A multilayer perceptron: a deterministic kernel ``real n -> real m`` (a measurable function).

``layers`` affine maps with GELU between them; on a sequence (B, T, n) it acts position-wise.

>>> import torch
>>> f = MLP(3, 2, hidden=8, layers=2)
>>> f(torch.zeros(5, 3)).shape
torch.Size([5, 2])
"""
from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """(..., d_in) -> (..., d_out) through ``layers`` Linear maps of width ``hidden``."""

    def __init__(self, d_in: int, d_out: int, hidden: int, layers: int = 2):
        super().__init__()
        widths = [d_in] + [hidden] * (layers - 1) + [d_out]
        maps: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            maps += [nn.Linear(a, b)] + ([nn.GELU()] if i < layers - 1 else [])
        self.net = nn.Sequential(*maps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
