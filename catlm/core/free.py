"""Equality in the free Markov category, decided on labelled hypergraphs (Fritz & Liang 2023).

Fritz & Liang (arXiv 2204.02284) describe the morphisms of the free gs-monoidal category on a
signature as isomorphism classes of cospans ``m -> H <- n`` of labelled hypergraphs: the wires of
a string diagram are the vertices of ``H``, its boxes the hyperedges; copying a wire is using its
vertex several times, deleting it is using it never (so the comonoid laws hold by construction),
``H`` is acyclic, every vertex is produced at most once (by the input interface or by one
hyperedge), and the input interface is injective. The free Markov category is its quotient by
discarding: a hyperedge none of whose outputs is used, directly or through other hyperedges,
by the output interface is removed (``f >> del == del``: every kernel is total).

A box declared ``deterministic`` satisfies one equation more, naturality of copy
(``f >> copy == copy >> (f @ f)``, Fritz 2020's definition of determinism): two applications of the same
deterministic box to the same input vertices are one application whose outputs are shared. This
is the maximal sharing of term graphs for cartesian (all-deterministic) signatures (Corradini &
Gadducci 1999), applied to the deterministic boxes only.

The normal form of a diagram is its hypergraph with discarded hyperedges removed and deterministic
applications merged; two diagrams are equal in the free Markov category with deterministic
generators exactly when their normal forms are isomorphic as labelled hypergraphs with ordered
interfaces. In a normal form every vertex has one producer and every hyperedge reaches the
outputs, so a walk from the outputs numbers it canonically and the isomorphism test is a
comparison of canonical forms, linear in the size; ``vf2pp_isomorphic`` asks networkx (VF2++)
the same question, and the tests check that the two agree.

>>> from catlm.core.diagram import Box, copy, delete, identity, swap
>>> from catlm.core.types import Finite, Ty
>>> A = Ty(Finite.range("A", 2))
>>> f, d = Box("f", A, A), Box("d", A, A, deterministic=True)
>>> markov_equal(copy(A) >> (delete(A) @ identity(A)), identity(A))
True
>>> markov_equal(f >> delete(A), delete(A)), markov_equal(copy(A) >> swap(A, A), copy(A))
(True, True)
>>> markov_equal(f >> copy(A), copy(A) >> (f @ f)), markov_equal(d >> copy(A), copy(A) >> (d @ d))
(False, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import networkx as nx

from catlm.core.diagram import Box, Composable, Copy, Delete, Diagram, Step, Swap
from catlm.core.types import Ob


Deterministic = Callable[[Box], bool]


@dataclass(frozen=True, slots=True)
class Hyperedge:
    """One application of ``box``: it reads the vertices ``ins`` and produces ``outs``."""

    box: Box
    ins: tuple[int, ...]
    outs: tuple[int, ...]


@dataclass(frozen=True)
class Hypergraph:
    """A cospan of labelled hypergraphs: vertex ``v`` carries ``vertices[v]``.

    ``inputs`` are distinct vertices; ``outputs`` may repeat a vertex (a copy) or name an input
    (a wire straight through); a vertex in neither and read by no hyperedge is deleted.
    ``edges`` are in a topological order.
    """

    vertices: tuple[Ob, ...]
    edges: tuple[Hyperedge, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    @property
    def boxes(self) -> tuple[Box, ...]:
        return tuple(dict.fromkeys(e.box for e in self.edges))


# --- reading a diagram as a hypergraph ------------------------------------------------------------

class _Reader:
    """Assigns a vertex to every wire of a diagram's wiring, one generator at a time."""

    def __init__(self, wires: tuple[Ob, ...]):
        self.wires = wires
        self.vertex: dict[int, int] = {}
        self.vertices: list[Ob] = []
        self.edges: list[Hyperedge] = []

    def fresh(self, wire: int) -> int:
        self.vertices.append(self.wires[wire])
        self.vertex[wire] = len(self.vertices) - 1
        return self.vertex[wire]

    def copy(self, step: Step) -> None:  # every copy is the one vertex
        self.vertex.update((w, self.vertex[step.ins[0]]) for w in step.outs)

    def delete(self, step: Step) -> None:
        """Deleting is not reading: the vertex simply has no reader, so there is nothing to record."""

    def swap(self, step: Step) -> None:
        perm = step.gen.permutation
        self.vertex.update((w, self.vertex[step.ins[perm[j]]]) for j, w in enumerate(step.outs))

    def box(self, step: Step) -> None:
        ins = tuple(self.vertex[w] for w in step.ins)
        self.edges.append(Hyperedge(step.gen, ins, tuple(self.fresh(w) for w in step.outs)))


READ: dict[type, Callable[[_Reader, Step], None]] = {
    Copy: _Reader.copy, Delete: _Reader.delete, Swap: _Reader.swap, Box: _Reader.box}


def hypergraph(diagram: Composable) -> Hypergraph:
    """The gs-monoidal hypergraph of a diagram (Fritz & Liang): nothing is removed yet."""
    w = Diagram.of(getattr(diagram, "diagram", diagram)).wiring  # a TypedDiagram reads its diagram
    reader = _Reader(w.wires)
    inputs = tuple(reader.fresh(i) for i in w.inputs)
    for step in w.steps:
        READ[type(step.gen)](reader, step)
    return Hypergraph(tuple(reader.vertices), tuple(reader.edges), inputs,
                      tuple(reader.vertex[o] for o in w.outputs))


# --- the normal form ---------------------------------------------------------------------------------

def discard(h: Hypergraph) -> Hypergraph:
    """Remove every hyperedge whose outputs all go unused (causality: the free Markov category)."""
    live, kept = set(h.outputs), []
    for e in reversed(h.edges):  # reverse topological: a reader is seen before what it reads
        if live.intersection(e.outs):
            kept.append(e)
            live.update(e.ins)
    return _compact(Hypergraph(h.vertices, tuple(reversed(kept)), h.inputs, h.outputs))


def declared(box: Box) -> bool:
    """A box is deterministic when it is declared so (``kernel f : A -> B deterministic``)."""
    return box.deterministic


def share(h: Hypergraph, deterministic: Deterministic = declared) -> Hypergraph:
    """Merge applications of one deterministic box to the same vertices (copy naturality)."""
    same: dict[int, int] = {}
    first: dict[tuple, Hyperedge] = {}
    edges = []
    for e in h.edges:
        e = Hyperedge(e.box, tuple(same.get(v, v) for v in e.ins), e.outs)
        key = (e.box, e.ins)
        if key in first and deterministic(e.box):
            same.update(zip(e.outs, first[key].outs))
            continue
        first.setdefault(key, e)
        edges.append(e)
    return _compact(Hypergraph(h.vertices, tuple(edges), h.inputs,
                               tuple(same.get(v, v) for v in h.outputs)))


def normal_form(diagram: Composable | Hypergraph, deterministic: Deterministic = declared) -> Hypergraph:
    """The diagram's representative in the free Markov category with deterministic boxes
    (those for which ``deterministic`` says so)."""
    h = diagram if isinstance(diagram, Hypergraph) else hypergraph(diagram)
    return share(discard(h), deterministic)


def _compact(h: Hypergraph) -> Hypergraph:
    """Number the vertices still present (inputs and hyperedge outputs) 0, 1, ... in order."""
    keep = list(dict.fromkeys([*h.inputs, *(v for e in h.edges for v in e.outs)]))
    new = {v: i for i, v in enumerate(keep)}
    return Hypergraph(tuple(h.vertices[v] for v in keep),
                      tuple(Hyperedge(e.box, tuple(new[v] for v in e.ins), tuple(new[v] for v in e.outs))
                            for e in h.edges),
                      tuple(new[v] for v in h.inputs), tuple(new[v] for v in h.outputs))


# --- comparing normal forms ----------------------------------------------------------------------------

def labelled(h: Hypergraph) -> nx.DiGraph:
    """``h`` as a node-labelled digraph: vertices carry their object and interface positions;
    each port of a hyperedge is a node labelled by its index, so the order of ports is kept."""
    g = nx.DiGraph()
    for v, ob in enumerate(h.vertices):
        at_out = tuple(i for i, o in enumerate(h.outputs) if o == v)
        at_in = h.inputs.index(v) if v in h.inputs else -1
        g.add_node(("v", v), label=("vertex", ob, at_in, at_out))
    for j, e in enumerate(h.edges):
        g.add_node(("e", j), label=("box", e.box))
        for i, v in enumerate(e.ins):
            g.add_node(("in", j, i), label=("in", i))
            g.add_edges_from([(("v", v), ("in", j, i)), (("in", j, i), ("e", j))])
        for i, v in enumerate(e.outs):
            g.add_node(("out", j, i), label=("out", i))
            g.add_edges_from([(("e", j), ("out", j, i)), (("out", j, i), ("v", v))])
    return g


def canonical(h: Hypergraph) -> tuple | None:
    """A complete invariant of a normal form, or None if some hyperedge does not reach the outputs.

    Every vertex has one producer (an input position, or a hyperedge and its output port) and,
    after ``discard``, every hyperedge is read on the way back from the outputs; so a depth-first
    walk from the outputs in order, through each hyperedge's inputs in port order, numbers the
    hyperedges the same way in any two isomorphic hypergraphs, and the hypergraph written with
    those numbers is equal for two hypergraphs exactly when they are isomorphic.
    """
    producer = {v: ("in", i) for i, v in enumerate(h.inputs)}
    producer.update(((v, (j, p)) for j, e in enumerate(h.edges) for p, v in enumerate(e.outs)))
    number: dict[int, int] = {}
    stack = list(reversed(h.outputs))
    while stack:
        made = producer[stack.pop()]
        if made[0] != "in" and made[0] not in number:
            number[made[0]] = len(number)
            stack.extend(reversed(h.edges[made[0]].ins))
    if len(number) != len(h.edges):
        return None
    name = lambda v: producer[v] if producer[v][0] == "in" else (number[producer[v][0]], producer[v][1])  # noqa: E731
    edges = sorted((number[j], e.box, tuple(map(name, e.ins)), len(e.outs)) for j, e in enumerate(h.edges))
    return tuple(h.vertices[v] for v in h.inputs), tuple(map(name, h.outputs)), tuple(edges)


def isomorphic(a: Hypergraph, b: Hypergraph) -> bool:
    """Isomorphism of labelled hypergraphs that preserves both interfaces in order: the canonical
    forms compared in linear time, or networkx's VF2++ on ``labelled`` when a hypergraph has a
    hyperedge that does not reach its outputs (not a normal form)."""
    if (len(a.vertices), len(a.edges), len(a.inputs), len(a.outputs)) != \
            (len(b.vertices), len(b.edges), len(b.inputs), len(b.outputs)):
        return False
    ca, cb = canonical(a), canonical(b)
    if ca is not None and cb is not None:
        return ca == cb
    return vf2pp_isomorphic(a, b)


def vf2pp_isomorphic(a: Hypergraph, b: Hypergraph) -> bool:
    """The same question put to networkx (VF2++ on ``labelled``): general, and slower."""
    ga, gb = labelled(a), labelled(b)
    labels = lambda g: sorted(map(repr, nx.get_node_attributes(g, "label").values()))  # noqa: E731
    if labels(ga) != labels(gb):
        return False
    if len(ga) == 0:  # VF2++ answers False on two empty graphs
        return True
    return nx.vf2pp_is_isomorphic(ga, gb, node_label="label")


def markov_equal(lhs: Composable, rhs: Composable, deterministic: Deterministic = declared) -> bool:
    """Whether ``lhs == rhs`` in the free Markov category on their boxes (deterministic ones
    natural for copy): true exactly when the equation holds in every Markov category, for every
    interpretation of the boxes that keeps the deterministic ones deterministic. Which boxes are
    deterministic is ``deterministic(box)``: by default, those declared so."""
    lhs, rhs = (Diagram.of(getattr(x, "diagram", x)) for x in (lhs, rhs))
    if (lhs.dom, lhs.cod) != (rhs.dom, rhs.cod):
        return False
    return isomorphic(normal_form(lhs, deterministic), normal_form(rhs, deterministic))
