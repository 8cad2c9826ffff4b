"""Values on the wires of a compiled diagram, and the exact marginal as one einsum (torch).

The object map of ``catlm.backends.torch``: a finite object's value is an int64 index tensor of any
batch shape, ``real d`` a (..., d) tensor, ``A*`` a sequence (B, T, ...). ``event_ndim`` says how many
trailing axes belong to the point itself; the rest is batch. Batch shapes align on the LEFT, so a
per-sequence value (B,) meets a per-prefix value (B, T) as (B, 1). ``contract`` sums a product of
factors over internal finite wires (the wire classes of ``catlm.backends.finstoch``) in the order
and under the budget of ``catlm.backends.contraction``, the planner numpy uses too; ``place`` puts a copy to the output on
the diagonal, like ``finstoch.place``.

>>> import torch
>>> left_broadcast([(3,), (3, 5)]), align(torch.arange(3), (3, 5), 0).shape
((3, 5), torch.Size([3, 5]))
>>> ravel([torch.tensor(1), torch.tensor(2)], (2, 3), (), None), unravel(torch.tensor(5), (2, 3))
(tensor(5), [tensor(1), tensor(2)])
>>> place(torch.tensor([0.25, 0.75]), "a", "aa", (2, 2)).tolist()
[[0.25, 0.0], [0.0, 0.75]]
"""
from __future__ import annotations

from math import prod
from typing import Sequence

import torch

from catlm.backends import contraction as cn
from catlm.core.types import Finite, Ob, Real, Seq
from catlm.errors import BackendError


def event_ndim(ob: Ob) -> int:
    """Trailing axes of a value that belong to the point itself: 0 finite, 1 real, +1 per ``*``."""
    return EVENT[type(ob)](ob)


EVENT = {Finite: lambda ob: 0, Real: lambda ob: 1, Seq: lambda ob: 1 + event_ndim(ob.base),
         Ob: lambda ob: 0}


def left_broadcast(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """Batch shapes aligned on the left: (B,) and (B, T) give (B, T) (a sequence's every prefix)."""
    k = max((len(s) for s in shapes), default=0)
    padded = [tuple(s) + (1,) * (k - len(s)) for s in shapes]
    try:
        return tuple(torch.broadcast_shapes(*padded)) if padded else ()
    except RuntimeError:
        raise BackendError(f"batch shapes {', '.join(map(str, shapes))} do not broadcast",
                           hint="give inputs and outputs the same leading batch axes") from None


def align(t: torch.Tensor, batch: tuple[int, ...], event: int) -> torch.Tensor:
    """``t`` (b..., e...) expanded to (batch..., e...), its batch axes aligned on the left."""
    b = t.dim() - event
    view = t.reshape(t.shape[:b] + (1,) * (len(batch) - b) + t.shape[b:])
    return view.expand(batch + t.shape[b:])


def ravel(xs: Sequence[torch.Tensor], sizes: tuple[int, ...], batch: tuple, device) -> torch.Tensor:
    """Indices of finite objects of ``sizes`` as one row-major index; no objects: index 0 of ``I``."""
    if not xs:
        return torch.zeros(batch, dtype=torch.long, device=device)
    shape = left_broadcast([x.shape for x in xs])
    flat = torch.zeros(shape, dtype=torch.long, device=xs[0].device)
    for x, n in zip(xs, sizes):
        flat = flat * n + align(x, shape, 0)
    return flat


def unravel(flat: torch.Tensor, sizes: tuple[int, ...] | None) -> list[torch.Tensor]:
    """The inverse of ``ravel``; ``sizes`` None: a single value that is not finite, as it is."""
    if sizes is None:
        return [flat]
    outs = []
    for n in reversed(sizes):
        outs.append(flat % n)
        flat = flat // n
    return outs[::-1]


def agree(a: torch.Tensor, b: torch.Tensor, ob: Ob, dtype: torch.dtype) -> torch.Tensor:
    """log 1{a == b}: 0 where two values of one wire agree, -inf where they differ."""
    same = a == b
    for _ in range(event_ndim(ob)):
        same = same.all(-1)
    return torch.zeros(same.shape, dtype=dtype, device=a.device).masked_fill(~same, float("-inf"))


def place(reduced: torch.Tensor, reduced_axes: Sequence, axes: Sequence, shape: tuple[int, ...]) -> torch.Tensor:
    """Put ``reduced`` on the diagonal of the result where ``axes`` repeats an index (a copy to the output)."""
    if axes == reduced_axes:
        return reduced
    grids = torch.meshgrid(*(torch.arange(n, device=reduced.device) for n in reduced.shape), indexing="ij")
    index = tuple(grids[reduced_axes.index(i)] for i in axes)
    return reduced.new_zeros(shape).index_put(index, reduced)


def contract(factors: list, outputs: Sequence[int], batch: tuple[int, ...], budget: int,
             name: str) -> torch.Tensor:
    """Sum the product of ``factors`` over every wire class not in ``outputs``: (batch..., outputs...).

    A factor is (tensor (b..., n1, n2, ...), b, classes (c1, c2, ...)); its batch axes are aligned
    on the left and broadcast to ``batch``. ``outputs`` may repeat a class (a copy to the output).
    The order and the budget are those of ``catlm.backends.contraction``, as for numpy.
    """
    classes = dict.fromkeys(c for _, _, cs in factors for c in cs)
    index = {c: len(batch) + i for i, c in enumerate(classes)}
    front = tuple(range(len(batch)))
    axes = front + tuple(index[c] for c in outputs)
    reduced = tuple(dict.fromkeys(axes))
    ops = [align(t, batch, t.dim() - b) for t, b, _ in factors]
    size = list(batch) + [0] * len(classes)
    for t, b, cs in factors:
        for c, n in zip(cs, t.shape[b:]):
            size[index[c]] = n
    shape = tuple(size[i] for i in axes)
    if not ops:
        return torch.ones(shape)
    c = cn.Contraction(tuple(front + tuple(index[k] for k in cs) for _, _, cs in factors), reduced, tuple(size))
    path = cn.plan(c)
    placed = prod(shape) if axes != reduced else 0
    cn.check_budget(path, placed, ops[0].element_size(), budget, f"the exact marginal of `{name}`",
                    hint="estimate it with sample(...), or raise budget={need}")
    return place(cn.contract(c, path, ops, torch.einsum), reduced, axes, shape)
