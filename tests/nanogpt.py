"""``NanoGPT``: the test oracle of ``catlm.models.gpt.GPT``, a plain hand-written GPT.

It lives with the tests, not in the package: ``tests/test_models.py`` checks equal logits on
copied weights, and ``benchmarks/torch_lm.py`` times the two against each other from here.

A direct transcription of nanoGPT's ``model.py`` (https://github.com/karpathy/nanoGPT): one class
per block, naive ``F.cross_entropy`` on the full (B, T, V) logits, no registry and no cache. Its
parameters map one-to-one onto ``catlm.models.gpt.GPT`` (``from_gpt``), so the two can be checked
for equal logits and timed against each other on identical weights.

>>> import torch
>>> from catlm.models.gpt import GPT, GPTConfig
>>> gpt = GPT(GPTConfig(vocab=11, context=8, layers=1, heads=2, dim=8))
>>> idx = torch.randint(0, 11, (1, 8))
>>> bool(torch.allclose(from_gpt(gpt)(idx)[0], gpt(idx), atol=1e-6))
True
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NanoAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.n_head = heads
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class NanoMLP(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.c_proj = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class NanoBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(dim), NanoAttention(dim, heads)
        self.ln_2, self.mlp = nn.LayerNorm(dim), NanoMLP(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    """idx (B, T) -> (logits (B, T, V), mean cross-entropy or None); tied weights, no head bias."""

    def __init__(self, vocab: int, context: int, layers: int, heads: int, dim: int):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab, dim), wpe=nn.Embedding(context, dim),
            h=nn.ModuleList(NanoBlock(dim, heads) for _ in range(layers)), ln_f=nn.LayerNorm(dim)))
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


# GPT parameter name prefix -> NanoGPT prefix; the rest of each name is the same
RENAMES = {"emb.wte.": "transformer.wte.", "emb.wpe.": "transformer.wpe.", "bb.h.": "transformer.h.",
           "bb.ln_f.": "transformer.ln_f.", "head.weight": "lm_head.weight"}


def from_gpt(gpt: nn.Module) -> NanoGPT:
    """A NanoGPT with a copy of ``gpt``'s weights (``gpt`` must be tied, learned positions, no bias)."""
    c = gpt.config
    nano = NanoGPT(c.vocab, c.context, c.layers, c.heads, c.dim).to(next(gpt.parameters()).dtype)
    state = {_rename(k): v.detach().clone() for k, v in gpt.state_dict().items()}
    nano.load_state_dict(state, strict=True)
    return nano


def _rename(key: str) -> str:
    prefix = next(p for p in RENAMES if key.startswith(p))
    return RENAMES[prefix] + key[len(prefix):]
