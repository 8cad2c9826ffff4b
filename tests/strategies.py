"""Hypothesis strategies shared by the tests: finite objects, rational kernels, diagram terms.

A random diagram is drawn as a small term tree so that other tests can print the same term as
.cat text or build it in another library:

    ('then', a, b)  ('tensor', a, b)  ('box', name)  ('copy', ob, n)  ('del', ob)
    ('swap', left, right)  ('id', ob)

``left``/``right`` of a swap and ``ob`` of an identity are tuples of objects (a type); ``ob`` of a
copy or delete is one object. Boxes are listed in a signature ``{name: (dom, cod)}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import prod

import numpy as np
from hypothesis import strategies as st

from catlm.core.diagram import Box, copy, delete, identity, swap
from catlm.core.types import Finite, Ty

NAMES = "ABCDE"


@st.composite
def finite_objects(draw, name: str | None = None) -> Finite:
    """A finite set of 1 to 4 elements."""
    return Finite.range(name or draw(st.sampled_from(NAMES)), draw(st.integers(1, 4)))


@st.composite
def object_pools(draw, min_size: int = 1, max_size: int = 3) -> tuple[Finite, ...]:
    """Distinct objects A, B, ... with random sizes (one size per name, so types compose)."""
    n = draw(st.integers(min_size, max_size))
    return tuple(draw(finite_objects(NAMES[i])) for i in range(n))


@st.composite
def rational_kernels(draw, dom: tuple[int, ...], cod: tuple[int, ...], deterministic: bool = False):
    """An exact kernel of shape dom + cod: Fractions, rows summing to 1, with some zeros."""
    rows, cols = prod(dom), prod(cod)
    out = np.empty((rows, cols), dtype=object)
    for r in range(rows):
        if deterministic:
            weights = [0] * cols
            weights[draw(st.integers(0, cols - 1))] = 1
        else:
            weights = draw(st.lists(st.integers(0, 3), min_size=cols, max_size=cols).filter(any))
        out[r] = [Fraction(w, sum(weights)) for w in weights]
    return out.reshape(dom + cod)


@dataclass
class _Namer:
    count: int = 0

    def fresh(self) -> str:
        self.count += 1
        return f"f{self.count}"


def _split(draw, ty: tuple) -> tuple[tuple, tuple]:
    k = draw(st.integers(0, len(ty)))
    return ty[:k], ty[k:]


@st.composite
def terms(draw, pool: tuple[Finite, ...], dom: tuple[Finite, ...], depth: int, signature: dict,
          namer: _Namer):
    """A term from ``dom``; returns (term, cod). ``signature`` collects the boxes it uses."""
    choices = ["box", "id"] + (["copy", "del"] if len(dom) == 1 else []) + \
              (["swap"] if len(dom) >= 2 else []) + (["then", "tensor"] if depth > 0 else [])
    kind = draw(st.sampled_from(choices))
    return draw(RULES[kind](pool, dom, depth, signature, namer))


@st.composite
def _box(draw, pool, dom, depth, signature, namer):
    cod = tuple(draw(st.lists(st.sampled_from(pool), min_size=0 if dom else 1, max_size=2)))
    name = namer.fresh()
    signature[name] = (dom, cod)
    return ("box", name), cod


def _id(pool, dom, depth, signature, namer):
    return st.just((("id", dom), dom))


@st.composite
def _copy(draw, pool, dom, depth, signature, namer):
    n = draw(st.integers(0, 3))
    return ("copy", dom[0], n), dom * n


def _del(pool, dom, depth, signature, namer):
    return st.just((("del", dom[0]), ()))


@st.composite
def _swap(draw, pool, dom, depth, signature, namer):
    left, right = _split(draw, dom)
    return ("swap", left, right), right + left


@st.composite
def _then(draw, pool, dom, depth, signature, namer):
    a, mid = draw(terms(pool, dom, depth - 1, signature, namer))
    if len(mid) > 3:  # keep tensors small: close the middle with a box
        name = namer.fresh()
        signature[name] = (mid, mid[:1])
        return ("then", a, ("box", name)), mid[:1]
    b, cod = draw(terms(pool, mid, depth - 1, signature, namer))
    return ("then", a, b), cod


@st.composite
def _tensor(draw, pool, dom, depth, signature, namer):
    left, right = _split(draw, dom)
    a, cod_a = draw(terms(pool, left, depth - 1, signature, namer))
    b, cod_b = draw(terms(pool, right, depth - 1, signature, namer))
    return ("tensor", a, b), cod_a + cod_b


RULES = {"box": _box, "id": _id, "copy": _copy, "del": _del, "swap": _swap, "then": _then,
         "tensor": _tensor}


@dataclass(frozen=True)
class Example:
    """A random diagram: its term, dom and cod, its boxes' types and exact entries."""

    term: tuple
    dom: tuple[Finite, ...]
    cod: tuple[Finite, ...]
    signature: dict
    kernels: dict

    def diagram(self):
        return build(self.term, self.signature)


@st.composite
def examples(draw, max_depth: int = 3, deterministic: bool = False) -> Example:
    """A random well-typed diagram over a random pool of objects, with exact kernels."""
    pool = draw(object_pools())
    dom = tuple(draw(st.lists(st.sampled_from(pool), min_size=0, max_size=2)))
    signature: dict = {}
    term, cod = draw(terms(pool, dom, draw(st.integers(0, max_depth)), signature, _Namer()))
    kernels = {name: draw(rational_kernels(_sizes(d), _sizes(c), deterministic))
               for name, (d, c) in signature.items()}
    return Example(term, dom, cod, signature, kernels)


def _sizes(ty: tuple[Finite, ...]) -> tuple[int, ...]:
    return tuple(ob.size for ob in ty)


def build(term: tuple, signature: dict):
    """The catlm Diagram of a term."""
    return BUILD[term[0]](term, signature)


BUILD = {
    "then": lambda t, s: build(t[1], s) >> build(t[2], s),
    "tensor": lambda t, s: build(t[1], s) @ build(t[2], s),
    "box": lambda t, s: identity(Ty(*s[t[1]][0])) >> Box(t[1], Ty(*s[t[1]][0]), Ty(*s[t[1]][1])),
    "copy": lambda t, s: copy(Ty(t[1]), t[2]),
    "del": lambda t, s: delete(Ty(t[1])),
    "swap": lambda t, s: swap(Ty(*t[1]), Ty(*t[2])),
    "id": lambda t, s: identity(Ty(*t[1])),
}
