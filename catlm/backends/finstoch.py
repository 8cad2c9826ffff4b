"""FinStoch: a typed diagram as ONE tensor contraction (numpy, planned by ``catlm.backends.contraction``).

The target category of the exact backends is FinStoch (the paper, Def. 2.2): objects are finite sets,
a kernel ``f : X1 @ X2 -> Y1 @ Y2`` is an array of shape ``(|X1|, |X2|, |Y1|, |Y2|)`` summing to 1
over the codomain axes. A whole diagram is read off its ``Wiring`` as an einsum, following
Catlab's reading of Markov diagrams as programs: every wire is an index, copying is index reuse
(union-find over the wires a copy joins), deleting is summation (an index in no output), a swap
permutes indices, and an identity makes an input index an output index. No ``f @ id`` and no
Kronecker product is ever built; an index the output repeats (a copy straight to the output) is
placed on the diagonal by index arithmetic after the contraction.

The index plan is cached per wiring, and the contraction order (``catlm.backends.contraction``,
shared with the torch backend) per contraction, so a second evaluation of the same diagram only
gathers tensors and contracts. Operands come in the schedule's topological order, which the
planner uses: a chain or a tree contracts along its frontier.

>>> import numpy as np
>>> from catlm.core.types import Finite, Ty
>>> from catlm.core.diagram import Box, copy
>>> from catlm.core.check import typecheck
>>> A = Ty(Finite.range("A", 2))
>>> d = typecheck(copy(A) >> (Box("f", A, A) @ Box("g", A, A)))
>>> plan = plan_of(d.wiring)
>>> plan.equation, plan.axes
('ab,ac->abc', 'abc')
>>> f = np.array([[0.5, 0.5], [0.0, 1.0]])
>>> contract(plan, lambda box: {"f": f, "g": np.eye(2)}[box.name])[1]
array([[0., 0.],
       [0., 1.]])
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from math import prod
from typing import Callable

import numpy as np
import opt_einsum as oe

from catlm.backends import contraction as cn
from catlm.core.diagram import Box, Copy, Delete, Step, Swap, Wiring
from catlm.errors import BackendError

DEFAULT_BUDGET = 2 ** 31           # bytes: 2 GiB
EXACT_ENTRY_BYTES = 64             # a pointer plus a small Fraction, a conservative estimate
PLAN_CACHE_SIZE = 512


@dataclass(frozen=True, slots=True)
class Operand:
    """One tensor of the contraction: a box's tensor (``box`` set) or a vector of ones."""

    indices: str
    shape: tuple[int, ...]
    box: Box | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """The einsum of a wiring: ``operands`` contract to ``reduced``; ``axes`` is the result.

    ``axes`` has one index per dom axis then per cod axis and may repeat an index (a copy or an
    identity wire to the output); ``reduced`` lists each index of ``axes`` once.
    """

    operands: tuple[Operand, ...]
    reduced: str
    axes: str
    sizes: tuple[tuple[str, int], ...]
    contraction: cn.Contraction

    @property
    def equation(self) -> str:
        return ",".join(op.indices for op in self.operands) + "->" + self.reduced

    @property
    def shape(self) -> tuple[int, ...]:
        size = dict(self.sizes)
        return tuple(size[i] for i in self.axes)


@dataclass
class CacheInfo:
    """Counters of the cache of index plans per wiring (contraction orders: ``contraction.CACHE``)."""

    plan_hits: int = 0
    plan_misses: int = 0


CACHE = CacheInfo()
_PLANS: OrderedDict[int, tuple[Wiring, Plan]] = OrderedDict()


# --- the index plan ------------------------------------------------------------------------------

class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)


def _join_copy(uf: _UnionFind, step: Step) -> None:
    for out in step.outs:
        uf.union(out, step.ins[0])


def _join_swap(uf: _UnionFind, step: Step) -> None:
    k = len(step.gen.left)
    for out, src in zip(step.outs, step.ins[k:] + step.ins[:k]):
        uf.union(out, src)


def _join_nothing(uf: _UnionFind, step: Step) -> None:
    return None


# generator type -> how it identifies wires: the whole semantics of copy, delete and swap
JOIN = {Copy: _join_copy, Swap: _join_swap, Delete: _join_nothing, Box: _join_nothing}


def wire_classes(wiring: Wiring) -> list[int]:
    """The class of each wire: wires a copy or a swap joins share one class (one einsum index)."""
    uf = _UnionFind(len(wiring.wires))
    for step in wiring.steps:
        JOIN[type(step.gen)](uf, step)
    roots: dict[int, int] = {}
    return [roots.setdefault(uf.find(w), len(roots)) for w in range(len(wiring.wires))]


def _build_plan(wiring: Wiring) -> Plan:
    _require_finite(wiring)
    cls = wire_classes(wiring)
    sym = lambda w: oe.get_symbol(cls[w])  # noqa: E731
    size = {sym(w): ob.size for w, ob in enumerate(wiring.wires)}
    operands = [Operand("".join(map(sym, s.ins + s.outs)), tuple(size[sym(w)] for w in s.ins + s.outs), s.gen)
                for s in wiring.steps if isinstance(s.gen, Box)]
    axes = "".join(map(sym, wiring.inputs + wiring.outputs))
    reduced = "".join(dict.fromkeys(axes))
    covered = set("".join(op.indices for op in operands))
    operands += [Operand(i, (size[i],)) for i in reduced if i not in covered]
    return Plan(tuple(operands), reduced, axes, tuple(sorted(size.items())),
                _contraction(operands, reduced, size))


def _contraction(operands: list[Operand], reduced: str, size: dict[str, int]) -> cn.Contraction:
    """The plan's einsum with integer index ids, as the planner takes it."""
    ids = {i: k for k, i in enumerate(size)}
    return cn.Contraction(tuple(tuple(ids[i] for i in op.indices) for op in operands),
                          tuple(ids[i] for i in reduced), tuple(size.values()))


def _require_finite(wiring: Wiring) -> None:
    for ob in wiring.wires:
        if not ob.is_finite:
            raise BackendError(f"object {ob} is not a finite set; FinStoch has only finite objects",
                               hint='compile it with backend="torch"')


def plan_of(wiring: Wiring) -> Plan:
    """The cached index plan of a wiring (the cache holds the wiring, so ids are never reused)."""
    hit = _PLANS.get(id(wiring))
    if hit is not None and hit[0] is wiring:
        CACHE.plan_hits += 1
        _PLANS.move_to_end(id(wiring))
        return hit[1]
    CACHE.plan_misses += 1
    plan = _build_plan(wiring)
    _remember(_PLANS, id(wiring), (wiring, plan), PLAN_CACHE_SIZE)
    return plan


def _remember(cache: OrderedDict, key, value, limit: int) -> None:
    cache[key] = value
    if len(cache) > limit:
        cache.popitem(last=False)


# --- the budget and the contraction ------------------------------------------------------------

def entry_bytes(exact: bool) -> int:
    return EXACT_ENTRY_BYTES if exact else 8


def placed_entries(plan: Plan) -> int:
    """Entries of the output placed on a diagonal after the contraction (0 when none is)."""
    return prod(plan.shape) if plan.axes != plan.reduced else 0


def check_budget(plan: Plan, path: cn.Path, exact: bool, budget: int, name: str) -> None:
    cn.check_budget(path, placed_entries(plan), entry_bytes(exact), budget, f"evaluating `{name}`",
                    hint="raise it with budget={need} in Python or --budget {need} on the command line")


def _einsum(equation: str, *tensors: np.ndarray) -> np.ndarray:
    """One step: numpy's C einsum when small, opt_einsum's (BLAS, broadcasting) where it pays off."""
    dtype = np.result_type(*tensors)
    if _flops(equation, tensors) > 1 << 16:
        out = oe.contract(equation, *tensors, backend="object" if dtype == object else "numpy")
    else:
        out = np.einsum(equation, *tensors)
    return np.asarray(out, dtype=dtype)  # object einsum gives a bare scalar for ()


def _flops(equation: str, tensors) -> int:
    """The product of the sizes of every index of one step: the multiplications it does."""
    size = {i: n for term, t in zip(equation.split("->")[0].split(","), tensors) for i, n in zip(term, np.shape(t))}
    return prod(size.values())


# --- evaluation -----------------------------------------------------------------------------------

def contract(plan: Plan, tensor_of: Callable[[Box], np.ndarray], *, exact: bool = False,
             budget: int = DEFAULT_BUDGET, name: str = "diagram") -> np.ndarray:
    """Contract the plan with ``tensor_of(box)`` for each box; object dtype when ``exact``.

    The budget is checked before any box tensor is asked for, so nothing large is drawn first.
    """
    dtype = object if exact else np.float64
    if not plan.operands:  # no box and no wire: the scalar 1 of I -> I
        return np.ones((), dtype)
    path = cn.plan(plan.contraction)
    check_budget(plan, path, exact, budget, name)
    ops = [tensor_of(op.box) if op.box is not None else np.ones(op.shape, dtype)
           for op in plan.operands]
    reduced = cn.contract(plan.contraction, path, ops, _einsum)
    return place(plan, np.asarray(reduced, dtype=dtype))


def place(plan: Plan, reduced: np.ndarray) -> np.ndarray:
    """Put ``reduced`` (axes ``plan.reduced``) on the diagonal of the result (axes ``plan.axes``).

    Only the output and the reduced tensor are allocated: the copy's δ is index arithmetic.
    """
    if plan.axes == plan.reduced:
        return reduced
    out = np.zeros(plan.shape, dtype=reduced.dtype)
    grids = np.ix_(*(np.arange(n) for n in reduced.shape))
    out[tuple(grids[plan.reduced.index(i)] for i in plan.axes)] = reduced
    return out


def clear_caches() -> None:
    """Forget every cached index plan and contraction order and reset the counters."""
    _PLANS.clear()
    CACHE.__init__()
    cn.clear_cache()
