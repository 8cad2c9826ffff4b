"""A KV cache for speculative decoding: preallocated buffers and a length pointer, O(1) rollback.

The target of a speculative run appends the keys and values of γ+1 positions per call and keeps
only the accepted prefix. ``catlm.models.transformer.KVCache`` grows by concatenation (a copy of
the whole cache per call) and rolls back by slicing; ``RollbackCache`` is a drop-in subclass (the
transformer only calls ``length`` and ``extend``) that writes into buffers of the model's full
context, allocated at the first call, and rolls back by moving a pointer, so rejected positions
are simply overwritten by the next call. The keys and values a layer reads are views of the
buffers, ``(B, heads, length, d_head)`` as before, so the outputs are those of ``KVCache``.

>>> import torch
>>> from catlm.models.transformer import Transformer
>>> bb = Transformer(dim=8, layers=2, heads=2, context=16).eval()
>>> x = torch.randn(1, 6, 8)
>>> cache = RollbackCache(layers=2, capacity=16)
>>> _ = bb(x[:, :4], cache=cache)
>>> _ = bb(torch.randn(1, 2, 8), cache=cache, start_pos=4)   # drafts, then rejected
>>> cache.truncate(4)
>>> step = bb(x[:, 4:], cache=cache, start_pos=4)
>>> bool(torch.allclose(step, bb(x)[:, 4:], atol=1e-6)), cache.length
(True, 6)
"""
from __future__ import annotations

import torch

from catlm.errors import BackendError
from catlm.models.transformer import KVCache

__all__ = ["RollbackCache", "rollback_cache", "truncate_cache"]


class RollbackCache(KVCache):
    """Keys and values in buffers (layers, B, heads, capacity, d_head); ``length`` is a pointer."""

    def __init__(self, layers: int, capacity: int):
        super().__init__(layers)
        self.layers, self.capacity, self._length = layers, capacity, 0
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return self._length

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new positions after ``length``; the pointer moves once the last layer wrote."""
        start, end = self._length, self._length + k.shape[-2]
        if self._k is None:
            self._allocate(k)
        if end > self.capacity:
            raise BackendError(f"{end} positions exceed the cache's capacity of {self.capacity}",
                               hint="create the cache with the model's context as capacity")
        self._k[layer, ..., start:end, :] = k
        self._v[layer, ..., start:end, :] = v
        if layer == self.layers - 1:
            self._length = end
        return self._k[layer, ..., :end, :], self._v[layer, ..., :end, :]

    def truncate(self, length: int) -> None:
        """Keep the first ``length`` positions: O(1), later calls overwrite the rest."""
        self._length = min(self._length, length)

    def _allocate(self, k: torch.Tensor) -> None:
        B, heads, _, d_head = k.shape
        shape = (self.layers, B, heads, self.capacity, d_head)
        self._k = torch.empty(shape, dtype=k.dtype, device=k.device)
        self._v = torch.empty(shape, dtype=k.dtype, device=k.device)


def rollback_cache(model) -> RollbackCache:
    """A ``RollbackCache`` for a GPT (``model.bb.layers``) or a bare transformer, of its context."""
    backbone = getattr(model, "bb", model)
    return RollbackCache(backbone.layers, backbone.context)


def truncate_cache(cache: KVCache, length: int) -> None:
    """Roll a KV cache back to its first ``length`` positions (every layer's keys and values)."""
    if isinstance(cache, RollbackCache):
        cache.truncate(length)
        return
    for layer, (k, v) in enumerate(zip(cache.keys, cache.values)):
        if k is not None:
            cache.keys[layer], cache.values[layer] = k[..., :length, :], v[..., :length, :]
