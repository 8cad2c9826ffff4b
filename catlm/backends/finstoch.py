"""FinStoch: a typed diagram as ONE tensor contraction (numpy + opt_einsum).

The target category of the exact backends is FinStoch (PAPER.md §1.2): objects are finite sets,
a kernel ``f : X1 @ X2 -> Y1 @ Y2`` is an array of shape ``(|X1|, |X2|, |Y1|, |Y2|)`` summing to 1
over the codomain axes. A whole diagram is read off its ``Wiring`` as an einsum, following
Catlab's reading of Markov diagrams as programs: every wire is an index, copying is index reuse
(union-find over the wires a copy joins), deleting is summation (an index in no output), a swap
permutes indices, and an identity makes an input index an output index. No ``f @ id`` and no
Kronecker product is ever built; an index the output repeats (a copy straight to the output) is
placed on the diagonal by index arithmetic after the contraction.

The index plan is cached per wiring and the ``opt_einsum.contract_expression`` per (equation,
shapes), so a second evaluation of the same diagram only gathers tensors and contracts.

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

from catlm.core.diagram import Box, Copy, Delete, Step, Swap, Wiring
from catlm.errors import BackendError, BudgetError, format_bytes

DEFAULT_BUDGET = 2 ** 31           # bytes: 2 GiB
EXACT_ENTRY_BYTES = 64             # a pointer plus a small Fraction, a conservative estimate
OPTIMAL_MAX, DP_MAX = 4, 64        # path search by operand count (see _path)
PLAN_CACHE_SIZE, EXPR_CACHE_SIZE = 512, 512


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

    @property
    def equation(self) -> str:
        return ",".join(op.indices for op in self.operands) + "->" + self.reduced

    @property
    def shape(self) -> tuple[int, ...]:
        size = dict(self.sizes)
        return tuple(size[i] for i in self.axes)


@dataclass
class CacheInfo:
    """Counters of the two caches (plans per wiring, contract expressions per equation)."""

    plan_hits: int = 0
    plan_misses: int = 0
    expr_hits: int = 0
    expr_misses: int = 0


CACHE = CacheInfo()
_PLANS: OrderedDict[int, tuple[Wiring, Plan]] = OrderedDict()
_EXPRS: OrderedDict[tuple, tuple[oe.contract.ContractExpression, object]] = OrderedDict()


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
    return Plan(tuple(operands), reduced, axes, tuple(sorted(size.items())))


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


# --- the contraction path and the budget ---------------------------------------------------------

def _sequential(n: int) -> list[tuple[int, int]]:
    """Contract in schedule order: the running result absorbs the next operand (a state first)."""
    return [(0, 1)] + [(0, n - 2 - k) for k in range(n - 2)]


def _path(equation: str, shapes: tuple) -> tuple[list, object]:
    """``optimal`` for few operands, ``dp`` up to DP_MAX, else the cheaper of greedy and sequential.

    ``dp`` is exact on chains (a state through 16 kernels: 22 ms vs 4.1 s with greedy at n = 2048)
    but its search grows quickly, hence the fallback for long diagrams.
    """
    n = len(shapes)
    if n < 2:
        return oe.contract_path(equation, *shapes, shapes=True, optimize="auto")
    if n <= DP_MAX:
        return oe.contract_path(equation, *shapes, shapes=True,
                                optimize="optimal" if n <= OPTIMAL_MAX else "dp")
    tries = [oe.contract_path(equation, *shapes, shapes=True, optimize=opt)
             for opt in ("greedy", _sequential(n))]
    return min(tries, key=lambda t: (t[1].opt_cost, t[1].largest_intermediate))


def expression(plan: Plan) -> tuple[oe.contract.ContractExpression, object]:
    """The cached contract expression of a plan and opt_einsum's path info (FLOPs, sizes)."""
    key = (plan.equation, tuple(op.shape for op in plan.operands))
    hit = _EXPRS.get(key)
    if hit is not None:
        CACHE.expr_hits += 1
        return hit
    CACHE.expr_misses += 1
    path, info = _path(*key)
    value = (oe.contract_expression(key[0], *key[1], optimize=path), info)
    _remember(_EXPRS, key, value, EXPR_CACHE_SIZE)
    return value


def predicted_bytes(plan: Plan, info, exact: bool) -> int:
    """Peak bytes of the contraction: its largest intermediate, plus the placed diagonal output."""
    entry = EXACT_ENTRY_BYTES if exact else 8
    placed = prod(plan.shape) if plan.axes != plan.reduced else 0
    return (int(info.largest_intermediate) + placed) * entry


def check_budget(plan: Plan, info, exact: bool, budget: int, name: str) -> None:
    need = predicted_bytes(plan, info, exact)
    if need > budget:
        raise BudgetError(
            f"evaluating `{name}` would need {format_bytes(need)} (largest intermediate "
            f"{int(info.largest_intermediate):,} entries, {float(info.opt_cost):.3g} FLOPs), "
            f"over the budget of {format_bytes(budget)}",
            hint=f"raise it with budget={need} in Python or --budget {need} on the command line")


# --- evaluation -----------------------------------------------------------------------------------

def contract(plan: Plan, tensor_of: Callable[[Box], np.ndarray], *, exact: bool = False,
             budget: int = DEFAULT_BUDGET, name: str = "diagram") -> np.ndarray:
    """Contract the plan with ``tensor_of(box)`` for each box; object dtype when ``exact``.

    The budget is checked before any box tensor is asked for, so nothing large is drawn first.
    """
    dtype = object if exact else np.float64
    if not plan.operands:  # no box and no wire: the scalar 1 of I -> I
        return np.ones((), dtype)
    expr, info = expression(plan)
    check_budget(plan, info, exact, budget, name)
    ops = [tensor_of(op.box) if op.box is not None else np.ones(op.shape, dtype)
           for op in plan.operands]
    reduced = expr(*ops, backend="object") if exact else expr(*ops)
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
    """Forget every cached plan and expression and reset the counters."""
    _PLANS.clear()
    _EXPRS.clear()
    CACHE.__init__()
