"""Counter-models: small FinStoch interpretations that separate the two sides of an equation.

When ``catlm.core.free`` finds two diagrams different in the free Markov category, an equation
between them can still hold in every FinStoch interpretation only if FinStoch satisfies more than
the Markov axioms; a counter-model settles it: an interpretation of each object as a small set and
of each box as an exact rational kernel (deterministic boxes as functions), under which the two
sides differ. A box with a literal body keeps its entries (its objects keep their declared sizes;
its params take rational values), so a counter-model is a model of the spec. Sizes are tried
from 1 up, a few seeded draws each, and the first separating interpretation is returned: the
smallest found, not necessarily the smallest that exists.

The interpretation of a diagram is computed on its hypergraph (``catlm.core.free``): one einsum
over the box tensors, one index per vertex, exactly in Fractions.

>>> from catlm.core.diagram import Box, copy
>>> from catlm.core.types import Finite, Ty
>>> A = Ty(Finite.range("A", 2))
>>> f = Box("f", A, A)
>>> model = search(f >> copy(A), copy(A) >> (f @ f))
>>> dict(model.sets), model.difference
({'A': 2}, 'at (0) -> (0, 0): 3/5 vs 9/25')
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import prod
from string import ascii_letters
from typing import Iterator, Mapping

import numpy as np

from catlm.backends.params import Source, box_tensor
from catlm.backends.symbolic import FRACTION
from catlm.core.diagram import Box, Diagram, Literal
from catlm.core.free import Deterministic, Hypergraph, declared, normal_form
from catlm.core.types import Finite, Ob
from catlm.errors import CatlmError, SpecError

SIZES = (1, 2, 3)   # the sizes tried for an object no literal fixes
TRIES = 8           # seeded draws per size
WEIGHTS = 4         # a drawn row has integer weights 0..WEIGHTS-1, normalised


@dataclass(frozen=True)
class CounterModel:
    """An interpretation separating two diagrams: set sizes, drawn kernels, param values, and
    the first entry where the sides differ."""

    sets: tuple[tuple[str, int], ...]
    kernels: tuple[tuple[str, np.ndarray], ...]
    params: tuple[tuple[str, Fraction], ...]
    difference: str

    def as_json(self) -> dict:
        return {"sets": dict(self.sets), "params": {k: str(v) for k, v in self.params},
                "kernels": {name: _rows(t).tolist() for name, t in self.kernels},
                "difference": self.difference}

    def __str__(self) -> str:
        parts = [f"{ob} = fin {n}" for ob, n in self.sets]
        parts += [f"{name} = {_show(_rows(t))}" for name, t in self.kernels]
        parts += [f"{p} = {v}" for p, v in self.params]
        return "; ".join(parts + [self.difference])


def _rows(t: np.ndarray) -> np.ndarray:
    """A kernel as its matrix of rows, entries as strings (``'1/2'``)."""
    cols = t.shape[-1] if t.ndim else 1
    return np.vectorize(str, otypes=[object])(t.reshape(-1, cols) if t.ndim else t.reshape(1, 1))


def _show(rows: np.ndarray) -> str:
    return "[" + ", ".join("[" + ", ".join(row) + "]" for row in rows) + "]"


# --- the interpretation of a hypergraph -----------------------------------------------------------

def evaluate(h: Hypergraph, size: Mapping[Ob, int], tensor: Mapping[Box, np.ndarray]) -> np.ndarray:
    """The kernel of ``h``, shape input sizes + output sizes, exactly (one einsum over vertices)."""
    if len(h.vertices) > len(ascii_letters):
        raise ValueError(f"{len(h.vertices)} vertices: more than einsum has letters")
    letter = ascii_letters.__getitem__
    positions = (*h.inputs, *h.outputs)
    named = list(dict.fromkeys(positions))
    subscripts = ["".join(map(letter, (*e.ins, *e.outs))) for e in h.edges]
    operands = [tensor[e.box] for e in h.edges]
    for v in named:  # an interface vertex no box touches still carries its index
        subscripts.append(letter(v))
        operands.append(np.ones(size[h.vertices[v]], dtype=object))
    shape = tuple(size[h.vertices[v]] for v in positions)
    # boxes I -> I are scalars: numpy's optimised einsum fails on 0-d object operands, so they
    # multiply the result instead of entering the contraction
    scale = np.prod([np.asarray(t).item() for t, sub in zip(operands, subscripts) if not sub],
                    dtype=object)
    kept = [(sub, t) for sub, t in zip(subscripts, operands) if sub]
    if not kept:
        return np.full(shape, scale, dtype=object)
    joint = _contract([sub for sub, _ in kept], [t for _, t in kept], "".join(map(letter, named)))
    return _place(joint * scale, positions, named, shape)


def _contract(subscripts: list[str], operands: list, out: str) -> np.ndarray:
    """One exact einsum, pairwise along numpy's greedy path. numpy's own optimised einsum fails
    when an intermediate of an object array is a scalar, so each pair is contracted alone."""
    path = np.einsum_path(",".join(subscripts) + "->" + out, *operands, optimize="greedy")[0][1:]
    subscripts, operands = list(subscripts), [np.asarray(t, dtype=object) for t in operands]
    for pair in path:
        picked = [(subscripts.pop(i), operands.pop(i)) for i in sorted(pair, reverse=True)]
        rest = set("".join(subscripts)) | set(out)
        keep = "".join(dict.fromkeys(c for sub, _ in picked for c in sub if c in rest))
        equation = ",".join(sub for sub, _ in picked) + "->" + keep
        subscripts.append(keep)
        operands.append(np.asarray(np.einsum(equation, *(t for _, t in picked)), dtype=object))
    (last,), (result,) = subscripts, operands
    return np.asarray(np.einsum(f"{last}->{out}", result), dtype=object)


def _place(joint: np.ndarray, positions: tuple, named: list, shape: tuple) -> np.ndarray:
    """Spread the joint over the interface: a vertex at several positions is a diagonal."""
    index = np.indices(shape, dtype=np.intp) if shape else np.zeros((0,), dtype=np.intp)
    first = {v: positions.index(v) for v in named}
    agree = np.ones(shape, dtype=bool)
    for p, v in enumerate(positions):
        agree &= index[p] == index[first[v]]
    values = joint[tuple(index[first[v]] for v in named)] if named else joint
    return np.where(agree, values, Fraction(0)).astype(object)


# --- the search ----------------------------------------------------------------------------------------

def search(lhs: Diagram, rhs: Diagram, *, seed: int = 0, sizes: tuple[int, ...] = SIZES,
           tries: int = TRIES, deterministic: Deterministic = declared) -> CounterModel | None:
    """The first interpretation found (smallest sizes first) under which ``lhs`` and ``rhs``
    differ, or None. Boxes with literal bodies keep their entries; the rest are drawn, as
    functions where ``deterministic(box)``."""
    hl, hr = normal_form(lhs, deterministic), normal_form(rhs, deterministic)
    if max(len(hl.vertices), len(hr.vertices)) > len(ascii_letters):
        return None
    boxes = tuple(dict.fromkeys((*hl.boxes, *hr.boxes)))
    _one_box_per_name(boxes)
    literal = [b for b in boxes if isinstance(b.body, Literal)]
    fixed = {ob: ob.size for b in literal for ob in (*b.dom, *b.cod) if isinstance(ob, Finite)}
    if any(not ob.is_finite for b in literal for ob in (*b.dom, *b.cod)):
        return None
    free = [ob for ob in dict.fromkeys([*hl.vertices, *hr.vertices,
                                        *(ob for b in boxes for ob in (*b.dom, *b.cod))]) if ob not in fixed]
    for k in (sizes if free else sizes[:1]):
        size = {**fixed, **{ob: k for ob in free}}
        for t in range(tries):
            rng = np.random.default_rng([seed, k, t])
            drawn = _interpretation(boxes, size, rng, deterministic)
            if drawn is None:
                continue
            tensors, params = drawn
            a, b = evaluate(hl, size, tensors), evaluate(hr, size, tensors)
            where = next((i for i, (x, y) in enumerate(zip(a.ravel(), b.ravel())) if x != y), None)
            if where is not None:
                sets = tuple((ob.name, n) for ob, n in size.items() if ob in free)
                kernels = tuple((b.name, tensors[b]) for b in boxes if not isinstance(b.body, Literal))
                return CounterModel(sets, kernels, tuple(params.items()),
                                    _difference(a, b, where, lhs, size))
    return None


def _one_box_per_name(boxes: tuple[Box, ...]) -> None:
    """A counter-model interprets and reports boxes by name, so a name must mean one box: two
    boxes of one name (say one declared deterministic, one not) would be drawn apart and the
    report could not say which kernel is which."""
    seen: dict[str, Box] = {}
    for box in boxes:
        other = seen.setdefault(box.name, box)
        if other != box:
            raise SpecError(f"the name {box.name!r} names two different boxes: {_signature(other)} "
                            f"and {_signature(box)}", box.span, related=other.span,
                            hint="within one presentation each box has one name; rename one of them")


def _signature(box: Box) -> str:
    kind = " (deterministic)" if box.deterministic else ""
    return f"{box.name} : {box.dom} -> {box.cod}{kind}"


def _interpretation(boxes, size: dict, rng: np.random.Generator, deterministic: Deterministic):
    """Tensors for every box (None when no valid param values were drawn) and the param values."""
    params = _draw_params(boxes, rng)
    tensors = {}
    for box in boxes:
        if isinstance(box.body, Literal):
            try:
                tensors[box] = box_tensor(box, Source(FRACTION, subs={k: str(v) for k, v in params.items()}))
            except CatlmError:  # these param values make a literal row leave the simplex
                return None
        else:
            tensors[box] = _draw_kernel(box, size, rng, deterministic(box))
    return tensors, params


def _draw_params(boxes, rng: np.random.Generator) -> dict[str, Fraction]:
    names = sorted({str(s) for b in boxes if isinstance(b.body, Literal)
                    for x in b.body.entries for s in getattr(x, "free_symbols", ())})
    return {name: Fraction(int(rng.integers(1, 8)), 8) for name in names}


def _draw_kernel(box: Box, size: dict, rng: np.random.Generator, function: bool) -> np.ndarray:
    dom, cod = tuple(size[ob] for ob in box.dom), tuple(size[ob] for ob in box.cod)
    rows, cols = prod(dom), prod(cod)
    out = np.zeros((rows, cols), dtype=object)
    for r in range(rows):
        if function:
            weights = np.eye(cols, dtype=np.int64)[rng.integers(cols)]
        else:
            weights = rng.integers(0, WEIGHTS, size=cols)
            weights[rng.integers(cols)] += weights.sum() == 0  # never an empty row
        out[r] = [Fraction(int(w), int(weights.sum())) for w in weights]
    return out.reshape(dom + cod)


def _difference(a: np.ndarray, b: np.ndarray, where: int, lhs: Diagram, size: dict) -> str:
    index = np.unravel_index(where, a.shape) if a.ndim else ()
    n = len(lhs.dom)
    names = lambda obs, idx: "(" + ", ".join(_element(ob, size[ob], i) for ob, i in zip(obs, idx)) + ")"  # noqa: E731
    return f"at {names(lhs.dom, index[:n])} -> {names(lhs.cod, index[n:])}: " \
           f"{a.ravel()[where]} vs {b.ravel()[where]}"


def _element(ob: Ob, n: int, i: int) -> str:
    """The element's declared name when the set keeps its declared size, else its index."""
    return ob.elements[i] if isinstance(ob, Finite) and ob.size == n else str(i)


def assignments(names: tuple[str, ...], seed: int = 0, count: int = 24) -> Iterator[dict[str, Fraction]]:
    """Rational values for params, 1/3 for all first, then seeded draws in (0, 1)."""
    yield {name: Fraction(1, 3) for name in names}
    rng = np.random.default_rng([seed, len(names)])
    for _ in range(count - 1):
        yield {name: Fraction(int(rng.integers(1, 9)), 9) for name in names}
