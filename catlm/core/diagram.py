"""String diagrams of a Markov category, as frozen port graphs on networkx.

A diagram is a directed acyclic multigraph. Its nodes are generators (a named kernel ``Box``,
``Copy``, ``Delete``, ``Swap``) plus two boundary nodes, ``"dom"`` and ``"cod"``; each edge is a
wire from an output port of one node to an input port of another and carries an object. Identity
is wiring alone. This is the free symmetric monoidal category with comonoids: two diagrams are
equal exactly when their graphs are isomorphic (Fritz & Liang 2023; Catlab's wiring diagrams).
Copying is wire reuse and deleting is wire non-use, as in Catlab's DSL.

>>> from catlm.core.types import Finite, Ty
>>> A, B = Ty(Finite.range("A", 2)), Ty(Finite.range("B", 3))
>>> f = Box("f", A, B)
>>> d = copy(A) >> (f @ f)
>>> d.dom, d.cod
(Ty(A), Ty(B, B))
>>> d == copy(A) >> (identity(A) @ f) >> (f @ identity(B))
True
>>> d == f >> copy(B)
False
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Union

import networkx as nx

from catlm.core.display import Drawable
from catlm.core.types import I, Ob, Ty
from catlm.errors import Span, WiringError

DOM, COD = "dom", "cod"


# --- generators ----------------------------------------------------------------------------------

class _Composable:
    """Lets a generator be written where a diagram is expected: ``f >> g``, ``f @ g``."""

    def __rshift__(self, other: "Composable") -> "Diagram":
        return Diagram.of(self) >> other

    def __matmul__(self, other: "Composable") -> "Diagram":
        return Diagram.of(self) @ other


@dataclass(frozen=True, slots=True)
class Literal:
    """Exact entries of a kernel, row-major over ``shape`` = dom sizes + cod sizes.

    Entries are ``int``, ``fractions.Fraction`` or sympy expressions in the spec's params; the
    backends build arrays from them (core itself imports no numerical library).
    """

    shape: tuple[int, ...]
    entries: tuple


@dataclass(frozen=True, slots=True)
class Implementation:
    """A kernel realised by a registered module, e.g. ``embedding(dim=256)``; args in order."""

    name: str
    args: tuple[tuple[str, object], ...] = ()

    @property
    def kwargs(self) -> dict[str, object]:
        return dict(self.args)


@dataclass(frozen=True, slots=True)
class Box(_Composable):
    """A named kernel ``name : dom -> cod``; ``deterministic`` is a promise a checker verifies.

    ``body`` is its literal entries or implementation (None: a parameter, supplied at compile
    time). Within one presentation names are unique, so the body takes no part in equality.
    """

    name: str
    dom: Ty
    cod: Ty
    deterministic: bool = False
    body: "Literal | Implementation | None" = field(default=None, compare=False, repr=False)
    span: Span | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Copy(_Composable):
    """The comonoid multiplication ``ob -> ob^n`` (n = 2 is Δ; n = 1 is the identity)."""

    ob: Ob
    n: int = 2

    @property
    def dom(self) -> Ty:
        return Ty(self.ob)

    @property
    def cod(self) -> Ty:
        return Ty(self.ob) ** self.n

    def __str__(self) -> str:
        return f"copy[{self.ob}]" if self.n == 2 else f"copy[{self.ob}, {self.n}]"


@dataclass(frozen=True, slots=True)
class Delete(_Composable):
    """The counit ``ob -> I`` (discard, written ``del``)."""

    ob: Ob

    @property
    def dom(self) -> Ty:
        return Ty(self.ob)

    @property
    def cod(self) -> Ty:
        return I

    def __str__(self) -> str:
        return f"del[{self.ob}]"


@dataclass(frozen=True, slots=True)
class Swap(_Composable):
    """The symmetry ``left @ right -> right @ left``."""

    left: Ty
    right: Ty

    @property
    def dom(self) -> Ty:
        return self.left @ self.right

    @property
    def cod(self) -> Ty:
        return self.right @ self.left

    def __str__(self) -> str:
        return f"swap[{self.left}, {self.right}]"


@dataclass(frozen=True, slots=True)
class Boundary:
    """The label of the boundary nodes ``"dom"`` and ``"cod"`` (so isomorphisms fix them)."""

    side: str
    ty: Ty


Generator = Union[Box, Copy, Delete, Swap]
Composable = Union["Diagram", Generator]


# --- the wiring a backend reads ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Step:
    """One generator application: it reads the wires ``ins`` and writes the wires ``outs``."""

    gen: Generator
    ins: tuple[int, ...]
    outs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Wiring:
    """A diagram as a straight-line program: wire ``i`` carries ``wires[i]``.

    ``inputs``/``outputs`` are the boundary wires in port order (a wire may run straight from
    input to output: that is an identity). ``steps`` are in a topological order.
    """

    wires: tuple[Ob, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    steps: tuple[Step, ...]


# --- diagrams ---------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Diagram(Drawable):
    """A frozen port graph from ``dom`` to ``cod``; ``expr`` is its text for messages."""

    graph: nx.MultiDiGraph
    dom: Ty
    cod: Ty
    expr: str = field(default="", compare=False)
    span: Span | None = field(default=None, compare=False, repr=False)

    # construction

    @staticmethod
    def of(gen: Composable, span: Span | None = None) -> "Diagram":
        """The diagram of one generator (a diagram is returned unchanged)."""
        if isinstance(gen, Diagram):
            return gen
        g = _boundaries(gen.dom, gen.cod)
        g.add_node(0, gen=gen)
        _wire_in(g, DOM, 0, gen.dom)
        _wire_out(g, 0, COD, gen.cod)
        return Diagram(nx.freeze(g), gen.dom, gen.cod, str(gen), span or getattr(gen, "span", None))

    @staticmethod
    def id(ty: Ty, span: Span | None = None) -> "Diagram":
        g = _boundaries(ty, ty)
        for i, ob in enumerate(ty):
            g.add_edge(DOM, COD, key=(i, i), src=i, tgt=i, ob=ob)
        return Diagram(nx.freeze(g), ty, ty, f"id[{ty}]", span)

    def then(self, other: Composable) -> "Diagram":
        """Diagrammatic composition ``self >> other``: first self, then other."""
        other = Diagram.of(other)
        if self.cod != other.dom:
            raise WiringError(
                f"cannot compose `{self.expr}` : {self.dom} -> {self.cod} with "
                f"`{other.expr}` : {other.dom} -> {other.cod}: {self.cod} is not {other.dom}",
                other.span or self.span, related=self.span if other.span else None,
                hint="the codomain of the first diagram must equal the domain of the second")
        left, right = _relabel(self.graph, 0), _relabel(other.graph, _size(self.graph))
        g = _boundaries(self.dom, other.cod)
        _add_interior(g, left, drop=(COD,))
        _add_interior(g, right, drop=(DOM,))
        ends = {d["tgt"]: (u, d["src"]) for u, _, d in left.in_edges(COD, data=True)}
        for _, v, d in right.out_edges(DOM, data=True):
            u, src = ends[d["src"]]
            g.add_edge(u, v, key=(src, d["tgt"]), src=src, tgt=d["tgt"], ob=d["ob"])
        return Diagram(nx.freeze(g), self.dom, other.cod,
                       f"{_paren(self.expr)} >> {_paren(other.expr)}", _join(self.span, other.span))

    def tensor(self, other: Composable) -> "Diagram":
        """The monoidal product ``self @ other``: side by side, self's wires first."""
        other = Diagram.of(other)
        left, right = _relabel(self.graph, 0), _relabel(other.graph, _size(self.graph))
        g = _boundaries(self.dom @ other.dom, self.cod @ other.cod)
        _add_interior(g, left, drop=())
        shift = {DOM: len(self.dom), COD: len(self.cod)}
        for u, v, d in right.edges(data=True):
            src = d["src"] + (shift[DOM] if u == DOM else 0)
            tgt = d["tgt"] + (shift[COD] if v == COD else 0)
            g.add_edge(u, v, key=(src, tgt), src=src, tgt=tgt, ob=d["ob"])
        for n, data in right.nodes(data=True):
            if n not in (DOM, COD):
                g.add_node(n, **data)
        return Diagram(nx.freeze(g), self.dom @ other.dom, self.cod @ other.cod,
                       f"{_paren(self.expr, '@')} @ {_paren(other.expr, '@')}",
                       _join(self.span, other.span))

    def __rshift__(self, other: Composable) -> "Diagram":
        return self.then(other)

    def __rrshift__(self, other: Composable) -> "Diagram":
        return Diagram.of(other).then(self)

    def __matmul__(self, other: Composable) -> "Diagram":
        return self.tensor(other)

    def __rmatmul__(self, other: Composable) -> "Diagram":
        return Diagram.of(other).tensor(self)

    def with_span(self, span: Span | None, expr: str | None = None) -> "Diagram":
        return Diagram(self.graph, self.dom, self.cod, expr or self.expr, span)

    # reading

    @cached_property
    def wiring(self) -> Wiring:
        """The diagram as wires and steps in a fixed topological order (what backends read)."""
        edges = sorted(self.graph.edges(keys=True, data=True), key=_edge_order)
        wire_of = {(u, v, k): i for i, (u, v, k, _) in enumerate(edges)}
        steps = tuple(Step(self.graph.nodes[n]["gen"], _ports(self.graph.in_edges(n, keys=True, data=True), "tgt", wire_of),
                           _ports(self.graph.out_edges(n, keys=True, data=True), "src", wire_of))
                      for n in self.order)
        return Wiring(tuple(d["ob"] for *_, d in edges),
                      _ports(self.graph.out_edges(DOM, keys=True, data=True), "src", wire_of),
                      _ports(self.graph.in_edges(COD, keys=True, data=True), "tgt", wire_of), steps)

    @cached_property
    def order(self) -> tuple[int, ...]:
        """Generator nodes in a deterministic topological order (the schedule)."""
        inner = self.graph.subgraph(n for n in self.graph if n not in (DOM, COD))
        return tuple(nx.lexicographical_topological_sort(inner))

    @property
    def generators(self) -> tuple[Generator, ...]:
        return tuple(self.graph.nodes[n]["gen"] for n in self.order)

    @property
    def boxes(self) -> tuple[Box, ...]:
        return tuple(g for g in self.generators if isinstance(g, Box))

    # equality up to isomorphism of port graphs

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Composable):
            other = Diagram.of(other)
        if not isinstance(other, Diagram):
            return NotImplemented
        if (self.dom, self.cod) != (other.dom, other.cod) or len(self.graph) != len(other.graph):
            return False
        return nx.is_isomorphic(self.graph, other.graph, node_match=_same_node, edge_match=_same_edges)

    def __hash__(self) -> int:
        return hash((self.dom, self.cod, tuple(sorted(map(repr, self.generators)))))

    def __repr__(self) -> str:
        return f"Diagram({self.expr} : {self.dom} -> {self.cod})"

    def __str__(self) -> str:
        return self.expr


# --- the structural diagrams of a Markov category --------------------------------------------------

def _as_ty(x: Ob | Ty) -> Ty:
    return x if isinstance(x, Ty) else Ty(x)


def identity(ty: Ob | Ty) -> Diagram:
    """``id[ty]``: wires only."""
    return Diagram.id(_as_ty(ty))


def copy(ty: Ob | Ty, n: int = 2) -> Diagram:
    """``copy[ty, n] : ty -> ty^n``; a product is copied object-wise with crossing wires."""
    ty = _as_ty(ty)
    g = _boundaries(ty, ty ** n)
    for i, ob in enumerate(ty):
        g.add_node(i, gen=Copy(ob, n))
        g.add_edge(DOM, i, key=(i, 0), src=i, tgt=0, ob=ob)
        for j in range(n):
            port = j * len(ty) + i
            g.add_edge(i, COD, key=(j, port), src=j, tgt=port, ob=ob)
    return Diagram(nx.freeze(g), ty, ty ** n, f"copy[{ty}]" if n == 2 else f"copy[{ty}, {n}]")


def delete(ty: Ob | Ty) -> Diagram:
    """``del[ty] : ty -> I``; a product is deleted object-wise."""
    ty = _as_ty(ty)
    g = _boundaries(ty, I)
    for i, ob in enumerate(ty):
        g.add_node(i, gen=Delete(ob))
        g.add_edge(DOM, i, key=(i, 0), src=i, tgt=0, ob=ob)
    return Diagram(nx.freeze(g), ty, I, f"del[{ty}]")


def swap(left: Ob | Ty, right: Ob | Ty) -> Diagram:
    """``swap[left, right] : left @ right -> right @ left``."""
    return Diagram.of(Swap(_as_ty(left), _as_ty(right)))


# --- graph plumbing ----------------------------------------------------------------------------------

def _boundaries(dom: Ty, cod: Ty) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    g.add_node(DOM, gen=Boundary(DOM, dom))
    g.add_node(COD, gen=Boundary(COD, cod))
    return g


def _wire_in(g: nx.MultiDiGraph, source: str, node: int, ty: Ty) -> None:
    for i, ob in enumerate(ty):
        g.add_edge(source, node, key=(i, i), src=i, tgt=i, ob=ob)


def _wire_out(g: nx.MultiDiGraph, node: int, target: str, ty: Ty) -> None:
    for i, ob in enumerate(ty):
        g.add_edge(node, target, key=(i, i), src=i, tgt=i, ob=ob)


def _size(g: nx.MultiDiGraph) -> int:
    return len(g) - 2


def _relabel(g: nx.MultiDiGraph, offset: int) -> nx.MultiDiGraph:
    if offset == 0:
        return g
    return nx.relabel_nodes(g, {n: n + offset for n in g if n not in (DOM, COD)}, copy=True)


def _add_interior(g: nx.MultiDiGraph, part: nx.MultiDiGraph, drop: tuple[str, ...]) -> None:
    """Copy the nodes of ``part`` and the edges that avoid the boundary nodes in ``drop``."""
    for n, data in part.nodes(data=True):
        if n not in (DOM, COD):
            g.add_node(n, **data)
    for u, v, k, d in part.edges(keys=True, data=True):
        if u not in drop and v not in drop:
            g.add_edge(u, v, key=k, **d)


def _ports(edges, port: str, wire_of: dict) -> tuple[int, ...]:
    ordered = sorted(edges, key=lambda e: e[3][port])
    return tuple(wire_of[(u, v, k)] for u, v, k, _ in ordered)


def _edge_order(edge) -> tuple:
    u, v, _, d = edge
    rank = {DOM: -1, COD: 1 << 30}
    return (rank.get(u, u), d["src"], rank.get(v, v), d["tgt"])


def _same_node(a: dict, b: dict) -> bool:
    return a["gen"] == b["gen"]


def _same_edges(a: dict, b: dict) -> bool:
    """Parallel edges match as multisets of (output port, input port, object)."""
    key = lambda d: (d["src"], d["tgt"], d["ob"].name)  # noqa: E731
    return sorted(map(key, a.values())) == sorted(map(key, b.values())) and \
        all(x["ob"] == y["ob"] for x, y in zip(sorted(a.values(), key=key), sorted(b.values(), key=key)))


def _paren(expr: str, op: str = ">>") -> str:
    """Parenthesise a composite inside a tensor (``>>`` is associative and binds loosest)."""
    return f"({expr})" if op == "@" and " >> " in expr else expr


def _join(a: Span | None, b: Span | None) -> Span | None:
    if a is None or b is None or a.file != b.file:
        return a or b
    return Span(a.file, a.line, a.column, b.end_line, b.end_column)
