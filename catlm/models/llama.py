"""The llama backbone ``k_bb : E* -> H``: RMSNorm, rotary positions, grouped-query attention, SwiGLU.

The deterministic kernel of the llama family (Touvron et al. 2023, https://arxiv.org/abs/2302.13971;
SmolLM2 is one), read at every prefix like ``catlm.models.transformer.Transformer``: row ``t`` of the
output is the hidden state of ``x[:t+1]``. A block is ``x + attn(norm(x))``, ``x + mlp(norm(x))``
with

* RMSNorm (Zhang & Sennrich 2019): ``x / sqrt(mean(x²) + eps) * w``, computed in float32;
* rotary positions (Su et al. 2021, https://arxiv.org/abs/2104.09864) in the half-split layout of
  HF transformers' ``rotate_half``: dimension i pairs with i + d_head/2, frequency ``base^(-2i/d)``;
* grouped-query attention (Ainslie et al. 2023, https://arxiv.org/abs/2305.13245): ``kv_heads``
  key/value heads, each shared by ``heads / kv_heads`` query heads; the KV cache keeps only the
  ``kv_heads`` (B, kv_heads, length, d_head), so it is ``heads / kv_heads`` times smaller;
* the SwiGLU MLP (Shazeer 2020, https://arxiv.org/abs/2002.05202): ``down(silu(gate(x)) * up(x))``.

Positions enter only through the rotation of queries and keys, so a cached key keeps its rotation
and decoding one token costs one row of attention. Parameter names follow HF's ``LlamaModel``
(``layers.N.self_attn.q_proj``...), so a checkpoint maps onto this module name by name.

>>> import torch
>>> bb = Llama(dim=8, layers=2, heads=4, kv_heads=2, ffn=16, context=16).eval()
>>> x = torch.randn(1, 5, 8)
>>> cache = bb.new_cache()
>>> step = torch.cat([bb(x[:, :3], cache=cache), bb(x[:, 3:], cache=cache, start_pos=3)], dim=1)
>>> bool(torch.allclose(bb(x), step, atol=1e-6)), tuple(cache.keys[0].shape)
(True, (1, 2, 5, 2))
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from catlm.errors import BackendError
from catlm.models.transformer import KVCache, _check_positions, _offset_mask


class RMSNorm(nn.Module):
    """(..., d) -> (..., d): divide by the root mean square, scale by a learned gain."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()  # the mean square in float32 even for bfloat16 weights, as HF does
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


class Rotary(nn.Module):
    """The rotation of position t: cos and sin of ``t * base^(-2i/d)``, each (T, d_head)."""

    def __init__(self, d_head: int, base: float):
        super().__init__()
        inv_freq = 1.0 / base ** (torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)
        self.register_buffer("inv_freq", inv_freq, persistent=False)  # (d_head/2,)

    def forward(self, start: int, T: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.arange(start, start + T, device=device, dtype=torch.float32)
        angles = torch.outer(t, self.inv_freq.to(device))  # (T, d_head/2)
        angles = torch.cat([angles, angles], dim=-1)  # (T, d_head): dimension i and i + d/2 share
        return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x_i, x_{i+d/2}) of x (B, h, T, d_head) by its position's angle."""
    half = x.shape[-1] // 2
    rotated_half = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x * cos + rotated_half * sin).to(x.dtype)


class GroupedQueryAttention(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int):
        super().__init__()
        self.heads, self.kv_heads, self.d_head = heads, kv_heads, dim // heads
        self.q_proj = nn.Linear(dim, heads * self.d_head, bias=False)
        self.k_proj = nn.Linear(dim, kv_heads * self.d_head, bias=False)
        self.v_proj = nn.Linear(dim, kv_heads * self.d_head, bias=False)
        self.o_proj = nn.Linear(heads * self.d_head, dim, bias=False)

    def forward(self, x: torch.Tensor, rotation: tuple[torch.Tensor, torch.Tensor], cache: KVCache | None,
                layer: int) -> torch.Tensor:
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.heads, self.d_head).transpose(1, 2)       # (B, h, T, dh)
        k = self.k_proj(x).view(B, T, self.kv_heads, self.d_head).transpose(1, 2)    # (B, kv, T, dh)
        v = self.v_proj(x).view(B, T, self.kv_heads, self.d_head).transpose(1, 2)
        q, k = rotate(q, *rotation), rotate(k, *rotation)
        if cache is not None:
            k, v = cache.extend(layer, k, v)  # (B, kv, past + T, dh): keys cached already rotated
        past = k.shape[-2] - T
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=_offset_mask(past, T, x.device),
                                           is_causal=past == 0 and T > 1,
                                           enable_gqa=self.heads != self.kv_heads)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))  # (B, T, d)


class SwiGLU(nn.Module):
    """(..., d) -> (..., d): ``down(silu(gate(x)) * up(x))`` through ``ffn`` hidden units."""

    def __init__(self, dim: int, ffn: int):
        super().__init__()
        self.gate_proj = nn.Linear(dim, ffn, bias=False)
        self.up_proj = nn.Linear(dim, ffn, bias=False)
        self.down_proj = nn.Linear(ffn, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int, ffn: int, eps: float):
        super().__init__()
        self.input_layernorm = RMSNorm(dim, eps)
        self.self_attn = GroupedQueryAttention(dim, heads, kv_heads)
        self.post_attention_layernorm = RMSNorm(dim, eps)
        self.mlp = SwiGLU(dim, ffn)

    def forward(self, x: torch.Tensor, rotation: tuple[torch.Tensor, torch.Tensor], cache: KVCache | None,
                layer: int) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rotation, cache, layer)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    """E* (B, T, dim) -> H at every prefix (B, T, dim); causal, positions by rotation only."""

    def __init__(self, dim: int, layers: int, heads: int, kv_heads: int, ffn: int, context: int,
                 rope_base: float = 10000.0, eps: float = 1e-5):
        super().__init__()
        _check_heads(dim, heads, kv_heads)
        self.dim, self.layers, self.heads, self.kv_heads, self.context = dim, layers, heads, kv_heads, context
        self.blocks = nn.ModuleList(LlamaBlock(dim, heads, kv_heads, ffn, eps) for _ in range(layers))
        self.rotary = Rotary(dim // heads, rope_base)  # shared: every layer rotates by the same angles
        self.norm = RMSNorm(dim, eps)
        self.apply(_init_weights)

    def new_cache(self) -> KVCache:
        return KVCache(self.layers)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, start_pos: int = 0) -> torch.Tensor:
        _check_positions(self, x.shape[1], cache, start_pos)
        rotation = self.rotary(start_pos, x.shape[1], x.device)  # once per call, not once per layer
        for layer, block in enumerate(self.blocks):
            x = block(x, rotation, cache, layer)
        return self.norm(x)  # (B, T, d)


def _check_heads(dim: int, heads: int, kv_heads: int) -> None:
    if dim % heads:
        raise BackendError(f"dim {dim} is not divisible by heads={heads}",
                           hint="choose heads dividing the hidden dimension")
    if (dim // heads) % 2:
        raise BackendError(f"the head dimension {dim // heads} is odd; rotary positions rotate pairs",
                           hint="choose heads so that dim / heads is even")
    if heads % kv_heads:
        raise BackendError(f"kv_heads={kv_heads} does not divide heads={heads}",
                           hint="each key/value head serves the same number of query heads")


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
