"""The axioms of a Markov category, as ``Equation`` values between diagrams.

A Markov category (Fritz 2020, Def. 2.1; the paper's Def. 2.1) is a symmetric monoidal category in which
every object carries a commutative comonoid (copy, delete), compatibly with the tensor product,
and in which delete is natural (every morphism is total: "causality"). Copy is natural only on
deterministic morphisms; that equation is the definition of determinism. Each axiom here is a
function from objects (or kernels) to an ``Equation``; ``catlm.laws`` decides them on a backend.

>>> from catlm.core.types import Finite, Ty
>>> X = Ty(Finite.range("X", 3))
>>> e = counitality_left(X)
>>> e
Equation(counitality_left[X]: copy[X] >> del[X] @ id[X] == id[X])
>>> e.lhs.dom == e.rhs.dom == X and e.lhs.cod == e.rhs.cod
True
>>> [eq.name for eq in axioms_at(X)][:3]
['coassociativity[X]', 'cocommutativity[X]', 'counitality_left[X]']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from catlm.core.diagram import Box, Diagram, copy, delete, identity, swap
from catlm.core.types import I, Ty


@dataclass(frozen=True)
class Equation:
    """``lhs == rhs`` between two parallel diagrams (or ``!=`` when ``equal`` is False)."""

    name: str
    lhs: Diagram
    rhs: Diagram
    equal: bool = True

    def __post_init__(self) -> None:
        if (self.lhs.dom, self.lhs.cod) != (self.rhs.dom, self.rhs.cod):
            raise ValueError(f"{self.name}: sides are not parallel: {self.lhs.dom} -> "
                             f"{self.lhs.cod} vs {self.rhs.dom} -> {self.rhs.cod}")

    def __repr__(self) -> str:
        rel = "==" if self.equal else "!="
        return f"Equation({self.name}: {self.lhs.expr} {rel} {self.rhs.expr})"


# --- the comonoid on one object -------------------------------------------------------------------

def coassociativity(X: Ty) -> Equation:
    return Equation(f"coassociativity[{X}]", copy(X) >> (copy(X) @ identity(X)),
                    copy(X) >> (identity(X) @ copy(X)))


def cocommutativity(X: Ty) -> Equation:
    return Equation(f"cocommutativity[{X}]", copy(X) >> swap(X, X), copy(X))


def counitality_left(X: Ty) -> Equation:
    return Equation(f"counitality_left[{X}]", copy(X) >> (delete(X) @ identity(X)), identity(X))


def counitality_right(X: Ty) -> Equation:
    return Equation(f"counitality_right[{X}]", copy(X) >> (identity(X) @ delete(X)), identity(X))


def involution(X: Ty, Y: Ty) -> Equation:
    """The symmetry is its own inverse."""
    return Equation(f"involution[{X}, {Y}]", swap(X, Y) >> swap(Y, X), identity(X @ Y))


def unit_comonoid() -> list[Equation]:
    """On the unit, copy and delete are identities."""
    return [Equation("copy_unit", copy(I), identity(I)), Equation("delete_unit", delete(I), identity(I))]


# --- compatibility with the tensor product --------------------------------------------------------

def copy_tensor(X: Ty, Y: Ty) -> Equation:
    """Copying X @ Y copies each factor and interleaves the copies."""
    rhs = (copy(X) @ copy(Y)) >> (identity(X) @ swap(X, Y) @ identity(Y))
    return Equation(f"copy_tensor[{X}, {Y}]", copy(X @ Y), rhs)


def delete_tensor(X: Ty, Y: Ty) -> Equation:
    return Equation(f"delete_tensor[{X}, {Y}]", delete(X @ Y), delete(X) @ delete(Y))


def hexagon(X: Ty, Y: Ty, Z: Ty) -> Equation:
    rhs = (swap(X, Y) @ identity(Z)) >> (identity(Y) @ swap(X, Z))
    return Equation(f"hexagon[{X}, {Y}, {Z}]", swap(X, Y @ Z), rhs)


# --- naturality: these take kernels ----------------------------------------------------------------

def causality(f: Box | Diagram) -> Equation:
    """Delete is natural: every kernel is total, ``f >> del == del``."""
    f = Diagram.of(f)
    return Equation(f"causality[{f.expr}]", f >> delete(f.cod), delete(f.dom))


def swap_naturality(f: Box | Diagram, g: Box | Diagram) -> Equation:
    f, g = Diagram.of(f), Diagram.of(g)
    return Equation(f"swap_naturality[{f.expr}, {g.expr}]", (f @ g) >> swap(f.cod, g.cod),
                    swap(f.dom, g.dom) >> (g @ f))


def determinism(f: Box | Diagram) -> Equation:
    """Copy is natural at ``f``: true exactly when f is deterministic (Fritz 2020, §10)."""
    f = Diagram.of(f)
    return Equation(f"deterministic[{f.expr}]", f >> copy(f.cod), copy(f.dom) >> (f @ f))


# the axioms that hold at every object or pair of objects, by arity
OBJECT_AXIOMS: dict[str, Callable[[Ty], Equation]] = {
    "coassociativity": coassociativity,
    "cocommutativity": cocommutativity,
    "counitality_left": counitality_left,
    "counitality_right": counitality_right,
}
PAIR_AXIOMS: dict[str, Callable[[Ty, Ty], Equation]] = {
    "involution": involution,
    "copy_tensor": copy_tensor,
    "delete_tensor": delete_tensor,
}


def axioms_at(X: Ty, others: tuple[Ty, ...] = ()) -> list[Equation]:
    """Every object axiom at X, every pair axiom at (X, Y) and (Y, X) for Y in ``others``."""
    eqs = [axiom(X) for axiom in OBJECT_AXIOMS.values()] + unit_comonoid()
    for Y in (X, *others):
        pairs = {(X, Y), (Y, X)}
        eqs += [axiom(a, b) for a, b in sorted(pairs, key=str) for axiom in PAIR_AXIOMS.values()]
        eqs.append(hexagon(X, Y, X))
    return eqs


def kernel_axioms(kernels: tuple[Box | Diagram, ...]) -> list[Equation]:
    """Causality for each kernel and naturality of the symmetry for each pair of kernels."""
    eqs = [causality(k) for k in kernels]
    eqs += [swap_naturality(f, g) for f in kernels for g in kernels]
    return eqs
