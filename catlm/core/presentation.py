"""A presentation of a Markov category: what a checked ``.cat`` file denotes.

Generators (the declared kernels, as ``Box`` values with their bodies), the kernels defined from
them (typed diagrams), and the relations the file asks about: laws and checks. ``catlm.parse`` and
``catlm.load`` build one; ``catlm.laws`` decides its laws on a backend.

>>> from catlm.core.types import Finite, Ty
>>> from catlm.core.diagram import Box, Diagram
>>> from catlm.core.check import typecheck
>>> A = Ty(Finite.range("A", 2))
>>> f = typecheck(Diagram.of(Box("f", A, A)), name="f")
>>> Presentation("x.cat", {"A": A}, (), {"f": f}).kernels["f"]
TypedDiagram(f : A -> A)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from catlm.core.check import TypedDiagram
from catlm.core.diagram import Box
from catlm.core.types import Ty
from catlm.errors import Span


@dataclass(frozen=True)
class LawDecl:
    """``law name : lhs == rhs`` (``equal=False`` for ``!=``), optionally ``a.s. state``."""

    name: str
    lhs: TypedDiagram
    rhs: TypedDiagram
    equal: bool = True
    state: TypedDiagram | None = None
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DeterministicCheck:
    """``check deterministic expr``."""

    diagram: TypedDiagram
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class MarkovCheck:
    """``check markov Obj``: every Markov axiom at the object (and with the spec's other objects)."""

    ty: Ty
    name: str
    span: Span | None = field(default=None, compare=False)


Check = DeterministicCheck | MarkovCheck


@dataclass(frozen=True)
class Presentation:
    """A checked spec: objects by name, params, kernels by name (in declaration order), relations."""

    file: str
    objects: dict[str, Ty]
    params: tuple[str, ...]
    kernels: dict[str, TypedDiagram]
    laws: tuple[LawDecl, ...] = ()
    checks: tuple[Check, ...] = ()
    source: str = field(default="", repr=False, compare=False)

    @property
    def generators(self) -> dict[str, Box]:
        """The declared kernels (boxes), by name: what a backend needs entries or modules for."""
        boxes: dict[str, Box] = {}
        for kernel in self.kernels.values():
            boxes.update((b.name, b) for b in kernel.diagram.boxes)
        return boxes

    @property
    def last_kernel(self) -> str:
        return next(reversed(self.kernels))
