"""The one einsum planner of the exact backends: an order of pairwise contractions, its cost, the budget.

A diagram of FinStoch is read as a sum of products (``catlm.backends.finstoch``): operands carry
index ids, and indices in no output are summed. The order in which operands are contracted decides
the sizes of the intermediate tensors, and a general optimal order is NP-hard to find, so the planner
starts from the diagram's own structure: operands come in the schedule's topological order, and
absorbing them one by one keeps, at each step, only the wires that cross the cut between what is
done and what is left. On chains and trees this is the frontier of the diagram (a state through a
chain of kernels is vector-matrix products, never matrix-matrix). It is compared with opt_einsum's
greedy order, for a few operands with the optimal order, and, where these leave an intermediate
larger than the output and every input, with a random-greedy search bounded by ``SEARCH_SECONDS``;
the plan with the smaller largest intermediate (then fewer FLOPs) wins. Plans
are cached per contraction, and numpy (``catlm.backends.finstoch``) and torch
(``catlm.backends.torch_values``) execute the same plan and check the same budget formula,
``budget_bytes``.

>>> c = Contraction(inputs=((0,), (0, 1), (1, 2)), output=(2,), sizes=(4, 4, 4))
>>> path = plan(c)
>>> [(s.left, s.right, s.keep) for s in path.steps], path.largest
([(0, 1, (1,)), (3, 2, (2,))], 4)
>>> import numpy as np
>>> v, m = np.full(4, 0.25), np.full((4, 4), 0.25)
>>> contract(c, path, [v, m, m], np.einsum).tolist()
[0.25, 0.25, 0.25, 0.25]
"""
from __future__ import annotations

import string
from collections import Counter, OrderedDict
from dataclasses import dataclass
from math import prod
from typing import Callable, Sequence

import opt_einsum as oe

from catlm.errors import BackendError, BudgetError, format_bytes

OPTIMAL_MAX = 4          # operands: opt_einsum's exhaustive search is cheap up to here
SEARCH_MAX = 64          # operands: a random-greedy search, bounded by time, up to here
SEARCH_SECONDS = 0.05    # the time bound of that search, per contraction (then cached)
GREEDY_MAX = 512         # operands: opt_einsum's greedy order (O(n^2) here) is compared up to here
PLAN_CACHE_SIZE = 512
LETTERS = string.ascii_letters  # one pairwise step is written with at most 52 letters


@dataclass(frozen=True, slots=True)
class Contraction:
    """Operands with index ids ``inputs`` (an id may repeat: a diagonal), summed to ``output``.

    ``sizes[i]`` is the size of index ``i``; ``output`` lists distinct ids.
    """

    inputs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]
    sizes: tuple[int, ...]

    @property
    def output_size(self) -> int:
        return prod(self.sizes[i] for i in self.output)


@dataclass(frozen=True, slots=True)
class Step:
    """Contract the tensors ``left`` and ``right`` (SSA ids: inputs first, then each step's result)."""

    left: int
    right: int
    keep: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Path:
    """Pairwise steps, the entries of the largest tensor they make, their FLOPs and where they came from."""

    steps: tuple[Step, ...]
    largest: int
    flops: int
    strategy: str


@dataclass
class CacheInfo:
    hits: int = 0
    misses: int = 0


CACHE = CacheInfo()
_PLANS: OrderedDict[Contraction, Path] = OrderedDict()


# --- the cost of an order ---------------------------------------------------------------------------

def cost(c: Contraction, pairs: Sequence[tuple[int, int]], strategy: str) -> Path:
    """The ``Path`` of SSA pairs: each result keeps the indices that the output or a later operand needs."""
    live = Counter(i for term in c.inputs for i in term) + Counter(c.output)
    terms = list(c.inputs)
    steps, largest, flops = [], c.output_size, 0
    for left, right in pairs:
        union = tuple(dict.fromkeys(terms[left] + terms[right]))
        live.subtract(terms[left] + terms[right])
        keep = tuple(i for i in union if live[i] > 0)
        live.update(keep)
        terms.append(keep)
        steps.append(Step(left, right, keep))
        largest = max(largest, prod(c.sizes[i] for i in keep))
        flops += prod(c.sizes[i] for i in union)
    return Path(tuple(steps), largest, flops, strategy)


# --- candidate orders -----------------------------------------------------------------------------

def sequential(c: Contraction) -> list[tuple[int, int]]:
    """The schedule's order: the running result absorbs the next operand (topological for a diagram)."""
    n = len(c.inputs)
    return [(0, 1)] + [(n + k, k + 2) for k in range(n - 2)] if n > 1 else []


def _opt_einsum(optimizer) -> Callable[[Contraction], list[tuple[int, int]]]:
    def order(c: Contraction) -> list[tuple[int, int]]:
        inputs = [frozenset(term) for term in c.inputs]
        sizes = dict(enumerate(c.sizes))
        linear = optimizer(inputs, frozenset(c.output), sizes)
        return _ssa(linear, len(inputs))
    return order


def _random_greedy(inputs, output, sizes):
    return oe.RandomGreedy(max_repeats=32, max_time=SEARCH_SECONDS)(inputs, output, sizes)


def _ssa(linear, n: int) -> list[tuple[int, int]]:
    """opt_einsum's linear path (positions in a shrinking list) as SSA pairs."""
    ids, pairs, fresh = list(range(n)), [], n
    for step in linear:
        if len(step) == 1:  # a single-operand step only sums: the next pair does that too
            ids.append(ids.pop(step[0]))
            continue
        i, j = sorted(step)
        pairs.append((ids[i], ids[j]))
        del ids[j], ids[i]
        ids.append(fresh)
        fresh += 1
    return pairs


STRATEGIES = {"sequential": sequential, "greedy": _opt_einsum(oe.paths.greedy),
              "optimal": _opt_einsum(oe.paths.optimal), "random-greedy": _opt_einsum(_random_greedy)}


def _candidates(n: int) -> tuple[str, ...]:
    """The orders always tried for ``n`` operands: each is cheap, or exhaustive only when n is tiny."""
    if n <= OPTIMAL_MAX:
        return ("sequential", "optimal")
    return ("sequential", "greedy") if n <= GREEDY_MAX else ("sequential",)


def _floor(c: Contraction) -> int:
    """A plan no larger than this is as small as it matters: the output, or the largest input."""
    return max([c.output_size] + [prod(c.sizes[i] for i in term) for term in c.inputs])


def plan(c: Contraction) -> Path:
    """The cached best order: smallest largest intermediate, then fewest FLOPs.

    The time-bounded search runs only where the cheap orders leave a largest intermediate above
    ``_floor`` (a chain or an HMM never needs it).
    """
    hit = _PLANS.get(c)
    if hit is not None:
        CACHE.hits += 1
        _PLANS.move_to_end(c)
        return hit
    CACHE.misses += 1
    key = lambda p: (p.largest, p.flops)  # noqa: E731
    best = min((cost(c, STRATEGIES[name](c), name) for name in _candidates(len(c.inputs))), key=key)
    if OPTIMAL_MAX < len(c.inputs) <= SEARCH_MAX and best.largest > _floor(c):
        best = min(best, cost(c, STRATEGIES["random-greedy"](c), "random-greedy"), key=key)
    _PLANS[c] = best
    if len(_PLANS) > PLAN_CACHE_SIZE:
        _PLANS.popitem(last=False)
    return best


def clear_cache() -> None:
    _PLANS.clear()
    CACHE.__init__()


# --- the budget: one formula for every backend --------------------------------------------------

def budget_bytes(path: Path, placed: int, entry_bytes: int) -> int:
    """Peak bytes: the largest tensor of the plan plus the output placed on a diagonal (0 if none)."""
    return (path.largest + placed) * entry_bytes


def check_budget(path: Path, placed: int, entry_bytes: int, budget: int, what: str, hint: str) -> None:
    """Refuse, before any tensor is made, a plan whose peak exceeds ``budget`` bytes.

    ``hint`` may name the needed bytes as ``{need}``.
    """
    need = budget_bytes(path, placed, entry_bytes)
    if need > budget:
        raise BudgetError(f"{what} would need {format_bytes(need)} (largest intermediate "
                          f"{path.largest:,} entries, {float(path.flops):.3g} FLOPs), over the budget "
                          f"of {format_bytes(budget)}", hint=hint.format(need=need))


# --- execution --------------------------------------------------------------------------------------

Einsum = Callable[..., object]  # np.einsum, torch.einsum or a wrapper: (equation, *tensors) -> tensor


def contract(c: Contraction, path: Path, tensors: Sequence, einsum: Einsum):
    """Run the plan: one pairwise ``einsum`` per step, then the result's axes in ``c.output`` order.

    Each operand is dropped as soon as it is used, so the peak is what ``budget_bytes`` predicts.
    """
    values, terms = list(tensors), list(c.inputs)
    for step in path.steps:
        left, right = values[step.left], values[step.right]
        values[step.left] = values[step.right] = None
        values.append(einsum(_equation((terms[step.left], terms[step.right]), step.keep), left, right))
        terms.append(step.keep)
    if terms[-1] == c.output:  # already the result, axes in order
        return values[-1]
    return einsum(_equation((terms[-1],), c.output), values[-1])


def _equation(terms: tuple[tuple[int, ...], ...], out: tuple[int, ...]) -> str:
    """``terms -> out`` in letters local to this step (ids can be many; one step's are few)."""
    letter: dict[int, str] = {}
    for i in (i for term in terms for i in term):
        letter.setdefault(i, LETTERS[len(letter)] if len(letter) < len(LETTERS) else "")
    if "" in letter.values():
        raise BackendError(f"one contraction step joins {len(letter)} wires, more than einsum's "
                           f"{len(LETTERS)} letters", hint="split the diagram into named parts")
    spell = lambda term: "".join(letter[i] for i in term)  # noqa: E731
    return ",".join(map(spell, terms)) + "->" + spell(out)
