"""Token embedding: the deterministic kernel ``k_emb : Tok* -> E*`` of the paper's ``k_gen``.

A Dirac kernel in Stoch that sends a token sequence to a sequence of vectors, one per position:
a lookup table ``wte`` (|Tok|, d) plus, optionally, learned absolute positions ``wpe`` (context, d),
as in GPT-2 and nanoGPT (https://github.com/karpathy/nanoGPT, ``model.py``).

>>> import torch
>>> emb = Embedding(vocab=10, dim=4, positions="learned", context=8)
>>> emb(torch.tensor([[1, 2, 3]])).shape
torch.Size([1, 3, 4])
"""
from __future__ import annotations

import torch
from torch import nn

from catlm.errors import BackendError


class Embedding(nn.Module):
    """Tok* (B, T) int64 -> E* (B, T, dim); position ``t`` of the output is token ``t`` plus its place."""

    def __init__(self, vocab: int, dim: int, positions: str = "learned", context: int = 1024,
                 dropout: float = 0.0):
        super().__init__()
        self.vocab, self.dim, self.positions, self.context = vocab, dim, positions, context
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(context, dim) if positions == "learned" else None
        self.drop = nn.Dropout(dropout)
        nn.init.normal_(self.wte.weight, mean=0.0, std=0.02)
        if self.wpe is not None:
            nn.init.normal_(self.wpe.weight, mean=0.0, std=0.02)

    @property
    def weight(self) -> nn.Parameter:
        """The token table (|Tok|, dim); a ``linear_softmax(tie=...)`` head shares it."""
        return self.wte.weight

    def forward(self, idx: torch.Tensor, start_pos: int = 0) -> torch.Tensor:
        x = self.wte(idx)  # (B, T, d)
        if self.wpe is None:
            return self.drop(x)
        end = start_pos + idx.shape[-1]
        if end > self.context:
            raise BackendError(f"position {end - 1} is past the embedding's context of {self.context}",
                               hint="crop the input to the last `context` tokens or raise context=")
        pos = torch.arange(start_pos, end, device=idx.device)  # (T,)
        return self.drop(x + self.wpe(pos))
