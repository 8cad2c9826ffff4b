"""Memory that autograd keeps for backward: the bytes of the tensors saved by a forward pass.

Peak training memory of a language-model head is dominated by what forward saves for backward
(the (N, V) logits or log-probabilities of a naive cross-entropy). ``saved_tensor_bytes`` counts it
with ``torch.autograd.graph.saved_tensors_hooks``: every distinct storage once, leaving out the
storages of ``exclude`` (e.g. the parameters, which exist anyway). Device-independent, unlike RSS.

>>> import torch
>>> x = torch.randn(1000, requires_grad=True)
>>> saved_tensor_bytes(lambda: (x.exp() * 2).sum(), exclude=[x])  # exp saves its output
4000
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch


def saved_tensor_bytes(fn: Callable[[], object], exclude: Iterable[torch.Tensor] = ()) -> int:
    """Run ``fn()`` and return the bytes of the distinct storages autograd saved for backward."""
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def head_memory(n: int, dim: int, vocab: int, chunk: int) -> dict[str, int]:
    """Saved bytes of the naive ``F.cross_entropy(h @ W.T)`` and of ``chunked_cross_entropy``.

    h (n, dim) is the activation; the (vocab, dim) weight is a parameter and is not counted.
    """
    import torch.nn.functional as F
    from catlm.models.heads import chunked_cross_entropy

    h = torch.randn(n, dim, requires_grad=True)
    W = torch.nn.Parameter(torch.randn(vocab, dim) * 0.02)
    y = torch.randint(0, vocab, (n,))
    naive = saved_tensor_bytes(lambda: F.cross_entropy(h @ W.T, y), exclude=[W])
    chunked = saved_tensor_bytes(lambda: chunked_cross_entropy(h, W, None, y, chunk), exclude=[W])
    return {"naive": naive, "chunked": chunked, "logits": n * vocab * h.element_size()}
