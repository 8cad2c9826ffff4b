"""The type checker: the one stage that turns a ``Diagram`` into a ``TypedDiagram``.

A typed diagram is well formed: every port of every generator and of both boundaries is wired
exactly once, each wire carries the object of both ports it joins, the graph is acyclic, and the
boundary types equal the declared type. Backends accept only typed diagrams (the hand-off of
JAX's ``typecheck`` and torch.fx's lint, one stage earlier than evaluation).

>>> from catlm.core.types import Finite, Ty
>>> from catlm.core.diagram import Box, copy
>>> A = Ty(Finite.range("A", 2))
>>> typecheck(copy(A) >> (Box("f", A, A) @ Box("g", A, A)), name="k")
TypedDiagram(k : A -> A @ A)
>>> typecheck(Box("f", A, A) >> Box("g", A, A), dom=A @ A)
Traceback (most recent call last):
  ...
catlm.errors.WiringError: the body has type A -> A but it is declared as A @ A -> A (make the declaration and the body agree)
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import networkx as nx

from catlm.core.diagram import COD, DOM, Diagram, Gen, Given, Tensor, Then, Wiring
from catlm.core.display import Drawable
from catlm.core.types import Ty
from catlm.errors import BudgetError, Span, WiringError

_WITNESS = object()  # only typecheck holds it, so only typecheck makes a TypedDiagram


@dataclass(frozen=True, eq=False)
class TypedDiagram(Drawable):
    """A diagram that has passed ``typecheck``; ``name`` is the kernel it defines, if any."""

    diagram: Diagram
    name: str | None = None
    span: Span | None = field(default=None, repr=False)
    _witness: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self._witness is not _WITNESS:
            raise TypeError("a TypedDiagram is made by catlm.typecheck(diagram), not directly")

    @property
    def dom(self) -> Ty:
        return self.diagram.dom

    @property
    def cod(self) -> Ty:
        return self.diagram.cod

    @property
    def wiring(self) -> Wiring:
        return self.diagram.wiring

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TypedDiagram):
            return NotImplemented
        return self.diagram == other.diagram

    def __hash__(self) -> int:
        return hash(self.diagram)

    def __repr__(self) -> str:
        return f"TypedDiagram({self.name or self.diagram.expr} : {self.dom} -> {self.cod})"

    def __str__(self) -> str:
        return f"{self.name or self.diagram.expr} : {self.dom} -> {self.cod}"


def typecheck(diagram: Diagram, *, dom: Ty | None = None, cod: Ty | None = None,
              name: str | None = None, span: Span | None = None) -> TypedDiagram:
    """Check ``diagram`` (against a declared ``dom -> cod`` when given) or raise ``WiringError``.

    A diagram that expands to more than ``MAX_GENERATORS`` generators is a ``BudgetError``.
    """
    diagram = Diagram.of(diagram)
    parts, counts = _walk(diagram)
    for part in parts:
        _check_graph(part)
    _remember(counts)
    _check_declared(diagram, dom, cod, span)
    _check_size(diagram, counts[id(diagram.term)][1], name, span)
    return TypedDiagram(diagram, name, span or diagram.span, _WITNESS)


MAX_GENERATORS = 50_000  # a diagram's expansion; named kernels share parts, so a few lines can
                         # describe 2^60 generators, which no later stage could read
KNOWN_SIZE = 1 << 16

# Terms already verified, with their generator counts (each term is kept alive here, so its id is
# never reused): a named kernel used in the next definition is not walked again, and 2,000
# definitions each extending the last check in linear time, not quadratic.
_KNOWN: OrderedDict[int, tuple[object, int]] = OrderedDict()


def generator_count(diagram: Diagram) -> int:
    """How many generators ``diagram`` expands to, counted on its term, shared parts once."""
    return _walk(diagram)[1][id(diagram.term)][1]


def _walk(diagram: Diagram) -> tuple[list[Diagram], dict[int, tuple[object, int]]]:
    """The parts given as whole graphs that are not verified yet, and the count of every term.

    ``>>`` and ``@`` check the types where they meet and join acyclic graphs into an acyclic
    graph, so only a graph given whole (``Diagram.from_graph``) has ports left to check.
    """
    parts, counts, stack = [], {}, [(diagram, False)]
    while stack:
        d, expanded = stack.pop()
        key = id(d.term)
        if key in counts or key in _KNOWN:
            counts.setdefault(key, _KNOWN.get(key))
            continue
        halves = (d.term.left, d.term.right) if isinstance(d.term, (Then, Tensor)) else ()
        if halves and not expanded:
            stack += [(d, True)] + [(h, False) for h in halves]
            continue
        if isinstance(d.term, Given):
            parts.append(d)
        leaf = 1 if isinstance(d.term, Gen) else len(d.term.graph) - 2 if isinstance(d.term, Given) else 0
        counts[key] = (d.term, sum(counts[id(h.term)][1] for h in halves) if halves else leaf)
    return parts, counts


def _remember(counts: dict[int, tuple[object, int]]) -> None:
    _KNOWN.update(counts)
    while len(_KNOWN) > KNOWN_SIZE:
        _KNOWN.popitem(last=False)


def _check_size(diagram: Diagram, n: int, name: str | None, span: Span | None) -> None:
    if n > MAX_GENERATORS:
        many = f"about 10^{len(str(n)) - 1}" if n >= 10 ** 12 else f"{n:,}"
        raise BudgetError(f"`{name or diagram.label or 'the diagram'}` expands to {many} generators, more "
                          f"than the {MAX_GENERATORS:,} catlm reads", span or diagram.span,
                          hint="a kernel used twice in each of several named definitions doubles "
                               "each time; use fewer repetitions or smaller powers f^n")


def _check_graph(diagram: Diagram) -> None:
    for node in diagram.graph:
        _check_ports(diagram, node)
    if not nx.is_directed_acyclic_graph(diagram.graph):
        raise WiringError(f"`{diagram.expr}` has a cycle: a kernel's output feeds its own input",
                          diagram.span, hint="string diagrams in a Markov category are acyclic")


def _check_declared(diagram: Diagram, dom: Ty | None, cod: Ty | None, span: Span | None) -> None:
    want = (diagram.dom if dom is None else dom, diagram.cod if cod is None else cod)
    if want != (diagram.dom, diagram.cod):
        raise WiringError(
            f"the body has type {diagram.dom} -> {diagram.cod} but it is declared as "
            f"{want[0]} -> {want[1]}", diagram.span or span, related=span if diagram.span else None,
            hint="make the declaration and the body agree")


def _check_ports(diagram: Diagram, node) -> None:
    gen = diagram.graph.nodes[node]["gen"]
    ins = Ty() if node == DOM else (gen.ty if node == COD else gen.dom)
    outs = Ty() if node == COD else (gen.ty if node == DOM else gen.cod)
    _check_side(diagram, gen, ins, diagram.graph.in_edges(node, data=True), "tgt", "input")
    _check_side(diagram, gen, outs, diagram.graph.out_edges(node, data=True), "src", "output")


def _check_side(diagram: Diagram, gen, ty: Ty, edges, port: str, side: str) -> None:
    used = Counter(d[port] for *_, d in edges)
    if used != Counter(range(len(ty))):
        raise WiringError(f"in `{diagram.expr}`, the {side} ports of {gen} are wired "
                          f"{dict(sorted(used.items()))} times instead of once each",
                          diagram.span, hint="every wire joins exactly one output to one input")
    for *_, d in edges:
        if d["ob"] != ty[d[port]]:
            raise WiringError(f"in `{diagram.expr}`, a wire of object {d['ob']} meets the "
                              f"{side} {d[port]} of {gen}, which has object {ty[d[port]]}",
                              diagram.span)
