"""The backbone ``k_bb : E* -> H``: a causal pre-LayerNorm transformer, read at every prefix.

A deterministic kernel: the hidden state of the prefix ``x[:t+1]`` is row ``t`` of the output, so one
call gives ``k_bb`` at all T prefixes (B, T, d). Blocks follow GPT-2 / nanoGPT
(https://github.com/karpathy/nanoGPT, ``model.py``): ``x + attn(ln(x))``, ``x + mlp(ln(x))``, GELU,
``F.scaled_dot_product_attention``, a final LayerNorm. ``gelu="tanh"`` is the tanh approximation of
GELU that GPT-2 itself uses (HF ``gelu_new``); the default is the exact erf form. A ``KVCache`` holds past keys and values so
that decoding one token costs one row of attention.

>>> import torch
>>> bb = Transformer(dim=8, layers=2, heads=2, context=16).eval()
>>> x = torch.randn(1, 5, 8)
>>> cache = bb.new_cache()
>>> full = bb(x)
>>> step = torch.cat([bb(x[:, :4], cache=cache), bb(x[:, 4:], cache=cache, start_pos=4)], dim=1)
>>> bool(torch.allclose(full, step, atol=1e-6)), cache.length
(True, 5)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from catlm.errors import BackendError


class KVCache:
    """Keys and values of the positions seen so far, per layer: each (B, heads, length, d_head)."""

    def __init__(self, layers: int):
        self.keys: list[torch.Tensor | None] = [None] * layers
        self.values: list[torch.Tensor | None] = [None] * layers

    @property
    def length(self) -> int:
        return 0 if self.keys[0] is None else self.keys[0].shape[-2]

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new positions' keys and values; return all of them for this layer."""
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=-2)
            v = torch.cat([self.values[layer], v], dim=-2)
        self.keys[layer], self.values[layer] = k, v
        return k, v


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (t.view(B, T, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.extend(layer, k, v)  # (B, h, past + T, d_head)
        past = k.shape[-2] - T
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=_offset_mask(past, T, x.device),
                                           dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=past == 0 and T > 1)
        y = y.transpose(1, 2).contiguous().view(B, T, d)  # (B, T, d)
        return self.resid_drop(self.c_proj(y))


def _offset_mask(past: int, T: int, device: torch.device) -> torch.Tensor | None:
    """Query i (position past + i) sees keys 0..past + i; None where ``is_causal`` or no mask will do."""
    if past == 0 or T == 1:
        return None
    keys = torch.arange(past + T, device=device)
    return keys[None, :] <= (past + torch.arange(T, device=device))[:, None]  # (T, past + T)


APPROXIMATE = {"exact": "none", "tanh": "tanh"}  # the spec's gelu= -> nn.GELU(approximate=...)


class MLP(nn.Module):
    """The block's position-wise GELU network d -> 4d -> d."""

    def __init__(self, dim: int, dropout: float = 0.0, gelu: str = "exact"):
        super().__init__()
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.gelu = nn.GELU(approximate=APPROXIMATE[gelu])
        self.c_proj = nn.Linear(4 * dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0, gelu: str = "exact"):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, dropout, gelu)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """E* (B, T, dim) -> H at every prefix (B, T, dim); causal, so row t reads positions 0..t only."""

    def __init__(self, dim: int, layers: int, heads: int, context: int, dropout: float = 0.0,
                 gelu: str = "exact"):
        super().__init__()
        if dim % heads:
            raise BackendError(f"dim {dim} is not divisible by heads={heads}",
                               hint="choose heads dividing the hidden dimension")
        self.dim, self.layers, self.heads, self.context = dim, layers, heads, context
        self.h = nn.ModuleList(Block(dim, heads, dropout, gelu) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        self.apply(_init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    def new_cache(self) -> KVCache:
        return KVCache(self.layers)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, start_pos: int = 0) -> torch.Tensor:
        _check_positions(self, x.shape[1], cache, start_pos)
        for layer, block in enumerate(self.h):
            x = block(x, cache, layer)
        return self.ln_f(x)  # (B, T, d)


def _check_positions(bb: Transformer, T: int, cache: KVCache | None, start_pos: int) -> None:
    if cache is not None and cache.length != start_pos:
        raise BackendError(f"start_pos={start_pos} but the KV cache holds {cache.length} positions",
                           hint="pass start_pos=cache.length, or a fresh cache from new_cache()")
    if start_pos + T > bb.context:
        raise BackendError(f"{start_pos + T} positions exceed the transformer's context of {bb.context}",
                           hint="crop the input to the last `context` tokens or raise context=")


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        nn.init.zeros_(module.bias)
