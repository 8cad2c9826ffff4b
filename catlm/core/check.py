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

from catlm.core.diagram import COD, DOM, Diagram, Given, Tensor, Then, Wiring
from catlm.core.display import Drawable
from catlm.core.types import Ty
from catlm.errors import Span, WiringError

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
    """Check ``diagram`` (against a declared ``dom -> cod`` when given) or raise ``WiringError``."""
    diagram = Diagram.of(diagram)
    parts, seen = _unverified(diagram)
    for part in parts:
        _check_graph(part)
    _remember(seen)
    _check_declared(diagram, dom, cod, span)
    return TypedDiagram(diagram, name, span or diagram.span, _WITNESS)


# Terms already verified (kept alive here, so their ids are never reused): a named kernel used in
# the next definition is not walked again, and 2,000 definitions each extending the last check in
# linear time, not quadratic.
_VERIFIED: OrderedDict[int, object] = OrderedDict()
VERIFIED_SIZE = 1 << 16


def _unverified(diagram: Diagram) -> tuple[list[Diagram], dict[int, object]]:
    """The parts given as whole graphs that are not verified yet, and every term walked.

    ``>>`` and ``@`` check the types where they meet and join acyclic graphs into an acyclic
    graph, so only a graph given whole (``Diagram.from_graph``) has ports left to check.
    """
    parts, seen, stack = [], {}, [diagram]
    while stack:
        d = stack.pop()
        if id(d.term) in seen or id(d.term) in _VERIFIED:
            continue
        seen[id(d.term)] = d.term
        if isinstance(d.term, Given):
            parts.append(d)
        elif isinstance(d.term, (Then, Tensor)):
            stack += [d.term.left, d.term.right]
    return parts, seen


def _remember(seen: dict[int, object]) -> None:
    _VERIFIED.update(seen)
    while len(_VERIFIED) > VERIFIED_SIZE:
        _VERIFIED.popitem(last=False)


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
