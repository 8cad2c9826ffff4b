"""String diagrams of a Markov category: terms built in linear time, read as port graphs.

A diagram is built as a term (generators and identities under ``>>`` and ``@``), which costs
constant time per operation, and read as a port graph on networkx when first asked. The port
graph is a directed acyclic multigraph: its nodes are the generators (a named kernel ``Box``,
``Copy``, ``Delete``) plus two boundary nodes, ``"dom"`` and ``"cod"``; each edge is a wire from
an output port of one node to an input port of another and carries an object. Identities and
symmetries are wiring alone: a ``Swap`` is a permutation of wires, not a node. So two diagrams are
equal (``==``) exactly when their port graphs are isomorphic with the boundaries fixed, which is
equality in the free symmetric monoidal category on the generators (Joyal & Street 1991; Selinger
2011): the interchange law, associativity, ``swap >> swap == id`` and the naturality of the
symmetry hold by construction. Copy and delete are generators here; the comonoid laws and
discarding are decided in the free Markov category by ``catlm.core.free``.

>>> from catlm.core.types import Finite, Ty
>>> A, B = Ty(Finite.range("A", 2)), Ty(Finite.range("B", 3))
>>> f, g = Box("f", A, B), Box("g", B, A)
>>> d = copy(A) >> (f @ f)
>>> d.dom, d.cod
(Ty(A), Ty(B, B))
>>> d == copy(A) >> (identity(A) @ f) >> (f @ identity(B))
True
>>> d == f >> copy(B)
False
>>> swap(A, B) >> swap(B, A) == identity(A @ B), (f @ g) >> swap(B, A) == swap(A, B) >> (g @ f)
(True, True)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Union

import networkx as nx

from catlm.core.display import Drawable
from catlm.core.types import I, Ob, Ty
from catlm.errors import Span, WiringError

DOM, COD = "dom", "cod"


class Kind(Enum):
    """What a kernel promises: a function (a Dirac kernel, natural for copy) or any kernel."""

    DETERMINISTIC = "deterministic"
    STOCHASTIC = "stochastic"

    def __str__(self) -> str:
        return self.value


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

    @property
    def kind(self) -> Kind:
        return Kind.DETERMINISTIC if self.deterministic else Kind.STOCHASTIC

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
    """The symmetry ``left @ right -> right @ left``: in a port graph, crossing wires."""

    left: Ty
    right: Ty

    @property
    def dom(self) -> Ty:
        return self.left @ self.right

    @property
    def cod(self) -> Ty:
        return self.right @ self.left

    @property
    def permutation(self) -> tuple[int, ...]:
        """Output port ``j`` carries input port ``permutation[j]``."""
        k, n = len(self.left), len(self.left) + len(self.right)
        return tuple(range(k, n)) + tuple(range(k))

    def __str__(self) -> str:
        return f"swap[{self.left}, {self.right}]"


@dataclass(frozen=True, slots=True)
class Boundary:
    """The label of the boundary nodes ``"dom"`` and ``"cod"`` (so isomorphisms fix them)."""

    side: str
    ty: Ty


Generator = Union[Box, Copy, Delete, Swap]
Composable = Union["Diagram", Generator]


# --- terms: what a diagram is built as ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Gen:
    """One generator."""

    gen: Generator


@dataclass(frozen=True, slots=True)
class Wires:
    """Wiring alone: output port ``j`` carries input port ``permutation[j]`` (identity, swap)."""

    permutation: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Then:
    """``left >> right``."""

    left: "Diagram"
    right: "Diagram"


@dataclass(frozen=True, slots=True)
class Tensor:
    """``left @ right``."""

    left: "Diagram"
    right: "Diagram"


@dataclass(frozen=True, slots=True)
class Given:
    """A port graph given as it is (``Diagram.from_graph``): taken whole, checked by typecheck."""

    graph: nx.MultiDiGraph


Term = Union[Gen, Wires, Then, Tensor, Given]


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
    input to output: that is an identity or a symmetry). ``steps`` are in a topological order.
    """

    wires: tuple[Ob, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    steps: tuple[Step, ...]


# --- diagrams ---------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Diagram(Drawable):
    """A diagram ``dom -> cod`` built as a ``term``; ``label`` names it in messages (else the term).

    Composition and tensor make a new term node over the two operands in constant time; the port
    graph, its wiring and the text ``expr`` are read from the term once, in time linear in the
    size of the diagram, when first asked for.
    """

    term: Term
    dom: Ty
    cod: Ty
    label: str | None = field(default=None, compare=False)
    span: Span | None = field(default=None, compare=False, repr=False)

    # construction

    @staticmethod
    def of(gen: Composable, span: Span | None = None) -> "Diagram":
        """The diagram of one generator (a diagram is returned unchanged)."""
        if isinstance(gen, Diagram):
            return gen
        return Diagram(Gen(gen), gen.dom, gen.cod, None, span or getattr(gen, "span", None))

    @staticmethod
    def id(ty: Ty, span: Span | None = None) -> "Diagram":
        return Diagram(Wires(tuple(range(len(ty)))), ty, ty, f"id[{ty}]", span)

    @staticmethod
    def from_graph(graph: nx.MultiDiGraph, dom: Ty, cod: Ty, label: str = "") -> "Diagram":
        """A diagram whose port graph is ``graph`` as it is (``typecheck`` decides if it is one)."""
        return Diagram(Given(nx.freeze(graph)), dom, cod, label)

    def then(self, other: Composable) -> "Diagram":
        """Diagrammatic composition ``self >> other``: first self, then other."""
        other = Diagram.of(other)
        if self.cod != other.dom:
            raise WiringError(
                f"cannot compose `{self.expr}` : {self.dom} -> {self.cod} with "
                f"`{other.expr}` : {other.dom} -> {other.cod}: {self.cod} is not {other.dom}",
                other.span or self.span, related=self.span if other.span else None,
                hint="the codomain of the first diagram must equal the domain of the second")
        return Diagram(Then(self, other), self.dom, other.cod, None, _join(self.span, other.span))

    def tensor(self, other: Composable) -> "Diagram":
        """The monoidal product ``self @ other``: side by side, self's wires first."""
        other = Diagram.of(other)
        return Diagram(Tensor(self, other), self.dom @ other.dom, self.cod @ other.cod, None,
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
        return Diagram(self.term, self.dom, self.cod, expr or self.label, span)

    # reading

    @cached_property
    def expr(self) -> str:
        """The diagram's text: its label, or its term written with the fewest parentheses."""
        return self.label if self.label is not None else _text(self)

    @cached_property
    def graph(self) -> nx.MultiDiGraph:
        """The port graph: generators as nodes, identities and symmetries as wiring."""
        if isinstance(self.term, Given):
            return self.term.graph
        return _PortGraph(self.dom, self.cod, swaps_as_nodes=False).build(self)

    @cached_property
    def drawn(self) -> "Diagram":
        """The same diagram with each ``Swap`` kept as a node, for drawing its crossing in place."""
        if isinstance(self.term, Given):
            return self
        graph = _PortGraph(self.dom, self.cod, swaps_as_nodes=True).build(self)
        return Diagram(Given(graph), self.dom, self.cod, self.expr, self.span)

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
        """Generator nodes in a deterministic topological order (the schedule): the least node
        first among those ready. A graph read from a term numbers its nodes as it emits them,
        which is already such an order."""
        if not isinstance(self.term, Given):
            return tuple(range(len(self.graph) - 2))
        inner = self.graph.subgraph(n for n in self.graph if n not in (DOM, COD))
        return tuple(nx.lexicographical_topological_sort(inner))

    @property
    def generators(self) -> tuple[Generator, ...]:
        return tuple(self.graph.nodes[n]["gen"] for n in self.order)

    @property
    def boxes(self) -> tuple[Box, ...]:
        return tuple(g for g in self.generators if isinstance(g, Box))

    # equality in the free symmetric monoidal category: isomorphism of port graphs

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Composable):
            other = Diagram.of(other)
        if not isinstance(other, Diagram):
            return NotImplemented
        if (self.dom, self.cod) != (other.dom, other.cod) or len(self.graph) != len(other.graph) \
                or self.graph.number_of_edges() != other.graph.number_of_edges():
            return False
        return _isomorphic(self.graph, other.graph)

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
    label = f"copy[{ty}]" if n == 2 else f"copy[{ty}, {n}]"
    if len(ty) == 1:
        return Diagram(Gen(Copy(ty[0], n)), ty, ty ** n, label)
    each = _tensor_all([Diagram.of(Copy(ob, n)) for ob in ty], I)
    # each object's n copies sit side by side; the wiring deals them out round-robin
    k = len(ty)
    deal = tuple(i * n + j for j in range(n) for i in range(k))
    return Diagram(Then(each, Diagram(Wires(deal), each.cod, ty ** n)), ty, ty ** n, label)


def delete(ty: Ob | Ty) -> Diagram:
    """``del[ty] : ty -> I``; a product is deleted object-wise."""
    ty = _as_ty(ty)
    if len(ty) == 1:
        return Diagram(Gen(Delete(ty[0])), ty, I, f"del[{ty}]")
    return _tensor_all([Diagram.of(Delete(ob)) for ob in ty], ty).with_span(None, f"del[{ty}]")


def swap(left: Ob | Ty, right: Ob | Ty) -> Diagram:
    """``swap[left, right] : left @ right -> right @ left``."""
    return Diagram.of(Swap(_as_ty(left), _as_ty(right)))


def _tensor_all(parts: list[Diagram], unit: Ty) -> Diagram:
    if not parts:
        return Diagram.id(unit)
    out = parts[0]
    for p in parts[1:]:
        out = out @ p
    return out


# --- reading a term: the port graph, the text ------------------------------------------------------

def _flatten(d: Diagram, op: type, named: bool = False) -> list[Diagram]:
    """The operands of a nest of ``op`` nodes, left to right (iteratively: chains are long).

    With ``named``, a labelled operand (a named kernel) stays whole, as its text does.
    """
    out, stack = [], [d]
    while stack:
        x = stack.pop()
        if isinstance(x.term, op) and not (named and x is not d and x.label is not None):
            stack += (x.term.right, x.term.left)
        else:
            out.append(x)
    return out


_VISIT, _THEN, _JOIN = "visit", "then", "join"  # the tasks of _PortGraph.emit


class _PortGraph:
    """Builds one port graph from a term in a single pass; an end is ``(node, port, ob)``."""

    def __init__(self, dom: Ty, cod: Ty, swaps_as_nodes: bool):
        self.g = _boundaries(dom, cod)
        self.nodes = 0
        self.swaps_as_nodes = swaps_as_nodes

    def build(self, d: Diagram) -> nx.MultiDiGraph:
        ends = self.emit(d, [(DOM, i, ob) for i, ob in enumerate(d.dom)])
        self.connect(ends, COD)
        return nx.freeze(self.g)

    def emit(self, d: Diagram, ins: list) -> list:
        """The output ends of ``d`` fed with ``ins``, depth first and left to right, with an explicit
        stack: a diagram built in a loop such as ``x = (x @ f) >> g`` nests as deep as the loop runs."""
        values: list[list] = []
        work: list[tuple] = [(_VISIT, d, ins)]
        while work:
            task = work.pop()
            if task[0] is _THEN:  # the next operand of a chain reads the last one's outputs
                parts, at = task[1], task[2]
                if at + 1 < len(parts):
                    work.append((_THEN, parts, at + 1))
                work.append((_VISIT, parts[at], values.pop()))
            elif task[0] is _JOIN:  # a tensor's operands are done: their outputs side by side
                done = values[len(values) - task[1]:]
                del values[len(values) - task[1]:]
                values.append([end for outs in done for end in outs])
            else:
                self.visit(task[1], task[2], values, work)
        return values.pop()

    def visit(self, d: Diagram, ins: list, values: list, work: list) -> None:
        term = d.term
        if isinstance(term, Then):
            parts = _flatten(d, Then)
            values.append(ins)
            work.append((_THEN, parts, 0))
        elif isinstance(term, Tensor):
            parts = _flatten(d, Tensor)
            work.append((_JOIN, len(parts)))
            at, slices = 0, []
            for part in parts:
                slices.append((_VISIT, part, ins[at:at + len(part.dom)]))
                at += len(part.dom)
            work.extend(reversed(slices))
        elif isinstance(term, Wires):
            values.append([ins[i] for i in term.permutation])
        elif isinstance(term, Given):
            values.append(self.splice(term.graph, ins))
        else:
            values.append(self.apply(term.gen, ins))

    def apply(self, gen: Generator, ins: list) -> list:
        if isinstance(gen, Swap) and not self.swaps_as_nodes:
            return [ins[i] for i in gen.permutation]
        node, self.nodes = self.nodes, self.nodes + 1
        self.g.add_node(node, gen=gen)
        self.connect(ins, node)
        return [(node, j, ob) for j, ob in enumerate(gen.cod)]

    def connect(self, ends: list, node) -> None:
        for tgt, (u, src, ob) in enumerate(ends):
            self.g.add_edge(u, node, key=(src, tgt), src=src, tgt=tgt, ob=ob)

    def splice(self, graph: nx.MultiDiGraph, ins: list) -> list:
        """Re-emit a given port graph's generators in topological order, reading its wires."""
        ends = {(DOM, i): e for i, e in enumerate(ins)}
        inner = graph.subgraph(n for n in graph if n not in (DOM, COD))
        for n in nx.lexicographical_topological_sort(inner):
            outs = self.apply(graph.nodes[n]["gen"], _inputs_of(graph, n, ends))
            ends.update(((n, j), e) for j, e in enumerate(outs))
        return _inputs_of(graph, COD, ends)


def _inputs_of(graph: nx.MultiDiGraph, node, ends: dict) -> list:
    edges = sorted(graph.in_edges(node, data=True), key=lambda e: e[2]["tgt"])
    return [ends[(u, d["src"])] for u, _, d in edges]


def _text(d: Diagram) -> str:
    """``a >> b >> c`` and ``a @ b``, parenthesising a composite inside a tensor. The texts of
    nested composites are made first, innermost first, so no recursion runs as deep as the term."""
    pending, stack = [], [d]
    while stack:
        x = stack.pop()
        pending.append(x)
        if isinstance(x.term, (Then, Tensor)):
            stack += [p for p in _flatten(x, type(x.term), named=True) if "expr" not in p.__dict__
                      and p.label is None and isinstance(p.term, (Then, Tensor))]
    for x in reversed(pending[1:]):
        x.expr  # noqa: B018  cached, its operands' texts already made
    return _own_text(d)


def _own_text(d: Diagram) -> str:
    if isinstance(d.term, Then):
        return " >> ".join(part.expr for part in _flatten(d, Then, named=True))
    if isinstance(d.term, Tensor):
        return " @ ".join(_paren(part.expr) for part in _flatten(d, Tensor, named=True))
    if isinstance(d.term, Gen):
        return str(d.term.gen)
    return "diagram"


# --- graph plumbing ----------------------------------------------------------------------------------

def _boundaries(dom: Ty, cod: Ty) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    g.add_node(DOM, gen=Boundary(DOM, dom))
    g.add_node(COD, gen=Boundary(COD, cod))
    return g


def _ports(edges, port: str, wire_of: dict) -> tuple[int, ...]:
    ordered = sorted(edges, key=lambda e: e[3][port])
    return tuple(wire_of[(u, v, k)] for u, v, k, _ in ordered)


def _edge_order(edge) -> tuple:
    u, v, _, d = edge
    rank = {DOM: -1, COD: 1 << 30}
    return (rank.get(u, u), d["src"], rank.get(v, v), d["tgt"])


def _refined(g: nx.MultiDiGraph) -> dict:
    """A label per node that every isomorphism fixing the boundaries preserves: its generator with
    what feeds it (port by port, from the inputs on) and what it feeds (from the outputs back)."""
    order = list(nx.topological_sort(g))
    ins = lambda n: sorted(g.in_edges(n, data=True), key=lambda e: e[2]["tgt"])  # noqa: E731
    outs = lambda n: sorted(g.out_edges(n, data=True), key=lambda e: e[2]["src"])  # noqa: E731
    forward: dict = {}
    for n in order:
        forward[n] = hash((g.nodes[n]["gen"], tuple((forward[u], d["src"], d["ob"]) for u, _, d in ins(n))))
    backward: dict = {}
    for n in reversed(order):
        backward[n] = hash((g.nodes[n]["gen"], tuple((backward[v], d["tgt"]) for _, v, d in outs(n))))
    return {n: (forward[n], backward[n]) for n in g}


def _isomorphic(a: nx.MultiDiGraph, b: nx.MultiDiGraph) -> bool:
    """Isomorphism of port graphs fixing the boundaries. Nodes are told apart by ``_refined``
    labels; when every label is unique (chains, most diagrams) the only candidate map is checked
    edge by edge in linear time, else networkx searches among the maps that keep the labels."""
    la, lb = _refined(a), _refined(b)
    if sorted(la.values()) != sorted(lb.values()):
        return False
    if len(set(la.values())) == len(la):
        at = {label: n for n, label in lb.items()}
        image = {n: at[label] for n, label in la.items()}
        wires = lambda g, m: sorted((repr(m(u)), repr(m(v)), d["src"], d["tgt"], repr(d["ob"]))  # noqa: E731
                                    for u, v, d in g.edges(data=True))
        return wires(a, image.__getitem__) == wires(b, lambda n: n)
    ga, gb = nx.MultiDiGraph(a), nx.MultiDiGraph(b)
    nx.set_node_attributes(ga, la, "label")
    nx.set_node_attributes(gb, lb, "label")
    return nx.is_isomorphic(ga, gb, node_match=_same_node, edge_match=_same_edges)


def _same_node(a: dict, b: dict) -> bool:
    return a["gen"] == b["gen"] and a.get("label") == b.get("label")


def _same_edges(a: dict, b: dict) -> bool:
    """Parallel edges match as multisets of (output port, input port, object)."""
    key = lambda d: (d["src"], d["tgt"], d["ob"].name)  # noqa: E731
    return sorted(map(key, a.values())) == sorted(map(key, b.values())) and \
        all(x["ob"] == y["ob"] for x, y in zip(sorted(a.values(), key=key), sorted(b.values(), key=key)))


def _paren(expr: str) -> str:
    """Parenthesise a composite inside a tensor (``>>`` is associative and binds loosest)."""
    return f"({expr})" if " >> " in expr else expr


def _join(a: Span | None, b: Span | None) -> Span | None:
    if a is None or b is None or a.file != b.file:
        return a or b
    return Span(a.file, a.line, a.column, b.end_line, b.end_column)
