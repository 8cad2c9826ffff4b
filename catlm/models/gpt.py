"""``GPT``: the paper's ``k_gen = k_head ∘ k_bb ∘ k_emb`` as a torch module, assembled from the registry.

The reference language model of catlm's torch backend: the three kernels of ``examples/lm.cat``
built by ``catlm.models.registry.build`` exactly as the compiler builds them, composed in
``forward`` as head ∘ backbone ∘ embedding. Hyperparameters follow nanoGPT's ``GPTConfig``
(https://github.com/karpathy/nanoGPT). ``loss`` scores every prefix of every sequence at once
with the chunked cross-entropy of ``heads``. Sampling from it is decoding's business
(``catlm.decoding.sampling.generate(model, prompt, max_new)``): models never import decoding.

>>> import torch
>>> model = GPT(GPTConfig(vocab=65, context=16, layers=1, heads=2, dim=8))
>>> idx = torch.randint(0, 65, (2, 10))
>>> model(idx).shape, model.loss(idx[:, :-1], idx[:, 1:]).shape
(torch.Size([2, 10, 65]), torch.Size([]))
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from catlm.core.types import Finite, Real, Seq
from catlm.models.heads import DEFAULT_CHUNK
from catlm.models.registry import build
from catlm.models.transformer import KVCache


@dataclass(frozen=True, slots=True)
class GPTConfig:
    vocab: int = 65
    context: int = 256
    layers: int = 4
    heads: int = 4
    dim: int = 128
    dropout: float = 0.0
    tie: bool = True
    bias: bool = False        # a bias on the head's logits
    positions: str = "learned"
    chunk: int = DEFAULT_CHUNK  # vocabulary columns per chunk of the training loss

    def to_dict(self) -> dict:
        return asdict(self)


class GPT(nn.Module):
    """Tok* (B, T) -> logits of the next token after every prefix (B, T, V)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        tok, E, H = Finite.range("Tok", config.vocab), Real("E", config.dim), Real("H", config.dim)
        self.emb = build("embedding", {"dim": config.dim, "positions": config.positions,
                                       "context": config.context, "dropout": config.dropout},
                         Seq("Tok*", tok), Seq("E*", E), kernel="emb")
        self.bb = build("transformer", {"layers": config.layers, "heads": config.heads,
                                        "context": config.context, "dropout": config.dropout},
                        Seq("E*", E), H, kernel="bb")
        self.head = build("linear_softmax", {"tie": "emb" if config.tie else "none", "bias": config.bias},
                          H, tok, kernel="head", modules={"emb": self.emb})

    @property
    def context(self) -> int:
        return self.config.context

    def new_cache(self) -> KVCache:
        return self.bb.new_cache()

    def hidden(self, idx: torch.Tensor, cache: KVCache | None = None, start_pos: int = 0) -> torch.Tensor:
        """k_bb ∘ k_emb at every prefix: (B, T) -> (B, T, d)."""
        return self.bb(self.emb(idx, start_pos), cache, start_pos)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None, start_pos: int = 0) -> torch.Tensor:
        return self.head(self.hidden(idx, cache, start_pos))  # (B, T, V)

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean NLL (nats/token) of targets (B, T) after each prefix of idx (B, T)."""
        return self.head.loss(self.hidden(idx), targets, chunk=self.config.chunk)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
