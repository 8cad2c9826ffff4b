"""Literal kernel bodies: nested lists of exact numbers, shaped to the kernel's type.

A kernel ``X1 @ X2 -> Y`` may be written fully nested (``[[[...]]]``, one level per object) or
flat (one row per input tuple in row-major order, each row a list over the output tuples); a
state ``I -> Y`` is a single list. Entries are exact (see ``numbers``), so whether each row is a
distribution is decided here, before any backend runs: an entry that is not a finite number, a
negative entry, a row whose sum is not exactly 1, or a row of a ``deterministic`` kernel with two
nonzero entries is a ``KernelError`` at that entry or row. Where the answer depends on the
params (``[p, p]`` sums to 1 only at p = 1/2) the backend decides after substitution.

>>> from catlm.syntax import ast
>>> from catlm.core.types import Finite, Ty
>>> A = Ty(Finite.range("A", 2))
>>> rows = ast.ListLit((ast.ListLit((ast.Number("1"), ast.Number("0"))),
...                     ast.ListLit((ast.Number("0.5"), ast.Number("0.5")))))
>>> literal(rows, A, A, {})
Literal(shape=(2, 2), entries=(1, 0, Fraction(1, 2), Fraction(1, 2)))
>>> literal(rows, A, A, {}, deterministic=True, kernel="f")
Traceback (most recent call last):
  ...
catlm.errors.KernelError: kernel 'f' is declared deterministic but row (1) is not one-hot (2 nonzero entries) (a deterministic kernel has a single 1 in every row; drop `deterministic` or fix the row)
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import prod

import sympy

from catlm.core.diagram import Literal
from catlm.core.types import Ty
from catlm.elaborate.numbers import value
from catlm.errors import KernelError, Span, SpecError
from catlm.syntax import ast

NOT_A_NUMBER = (sympy.nan, sympy.zoo, sympy.oo, -sympy.oo)


def literal(node: ast.ListLit, dom: Ty, cod: Ty, params: dict, *, deterministic: bool = False,
            kernel: str = "") -> Literal:
    """The entries of ``node`` as a ``Literal`` of shape dom.shape + cod.shape, checked to be a
    Markov kernel (one-hot rows if ``deterministic``) as far as it is decidable before params
    get values."""
    if not (dom.is_finite and cod.is_finite):
        raise SpecError(f"a literal body needs finite objects, not {dom} -> {cod}", node.span,
                        hint="give the kernel an implementation body or no body")
    shape, leaves = _shape_and_leaves(node)
    full = dom.shape + cod.shape
    accepted = {full, (prod(dom.shape), prod(cod.shape))} if len(dom) else {full, (prod(cod.shape),)}
    if shape not in accepted:
        want = " or ".join(str(s) for s in sorted(accepted, key=len, reverse=True))
        raise SpecError(f"a literal of shape {shape} does not fit {dom} -> {cod}: expected {want}",
                        node.span, hint="one row per input element, one entry per output element")
    entries = tuple(value(leaf, params) for leaf in leaves)
    rows = _rows(node, len(dom) if shape == full else min(len(dom), 1))
    width = len(entries) // len(rows)
    for r, row in enumerate(rows):
        at = slice(r * width, (r + 1) * width)
        _Row(kernel, dom, cod, r, row).check(entries[at], leaves[at], deterministic)
    return Literal(full, entries)


def _shape_and_leaves(node: ast.ListLit) -> tuple[tuple[int, ...], list]:
    """The rectangular shape of a nested list and its leaves in row-major order."""
    level, shape = [node], []
    while level and all(isinstance(item, ast.ListLit) for item in level):
        sizes = {len(item.items) for item in level}
        if len(sizes) != 1:
            ragged = next(item for item in level if len(item.items) != len(level[0].items))
            raise SpecError("the rows of this literal have different lengths", ragged.span,
                            hint=f"every row at this depth needs {len(level[0].items)} entries")
        shape.append(sizes.pop())
        level = [child for item in level for child in item.items]
    if any(isinstance(item, ast.ListLit) for item in level):
        bad = next(item for item in level if isinstance(item, ast.ListLit))
        raise SpecError("this literal mixes numbers and lists at the same depth", bad.span)
    if not level and shape and shape[-1] == 0:
        raise SpecError("an empty list is not a distribution", node.span)
    return tuple(shape), level


def _rows(node: ast.ListLit, depth: int) -> list[ast.ListLit]:
    """The list nodes that are rows: one per domain element, ``depth`` levels down."""
    level = [node]
    for _ in range(depth):
        level = [child for item in level for child in item.items]
    return level


@dataclass(frozen=True, slots=True)
class _Row:
    """Row ``r`` of the literal body of ``kernel : dom -> cod``, and the checks a row must pass."""

    kernel: str
    dom: Ty
    cod: Ty
    r: int
    node: ast.ListLit

    def check(self, entries: tuple, leaves: list, deterministic: bool) -> None:
        for x, leaf in zip(entries, leaves):
            if isinstance(x, sympy.Basic) and (x.has(*NOT_A_NUMBER) or x.is_real is False):
                self.fail(f"has the entry {x}, which is not a finite real number", leaf.span)
            if _negative(x):
                self.fail(f"has the negative entry {x}", leaf.span)
        total = _sum_minus_one(entries)
        if total is not None:
            self.fail(f"sums to {total + 1}, not 1", self.node.span)
        if deterministic and sum(map(_nonzero, entries)) > 1:
            raise KernelError(f"kernel '{self.kernel}' is declared deterministic but {self.name} is "
                              f"not one-hot ({sum(map(_nonzero, entries))} nonzero entries)",
                              self.node.span, hint="a deterministic kernel has a single 1 in every "
                                                   "row; drop `deterministic` or fix the row")

    @property
    def name(self) -> str:
        """``row (heads, 2)``: the row named by the elements of the domain."""
        if len(self.dom) == 0:
            return "the state"
        index, r = [], self.r
        for size in reversed(self.dom.shape):
            index.append(r % size)
            r //= size
        return "row (" + ", ".join(ob.elements[i] for ob, i in zip(self.dom, reversed(index))) + ")"

    def fail(self, what: str, span: Span | None) -> None:
        raise KernelError(f"kernel '{self.kernel}' : {self.dom} -> {self.cod} is not a Markov "
                          f"kernel: {self.name} {what}", span,
                          hint="each row is a distribution over the codomain; fix or normalise the entries")


def _negative(x) -> bool:
    """Negative for every value of the params (sympy decides it, or it is left to the backend)."""
    return x.is_negative is True if isinstance(x, sympy.Basic) else x < 0


def _nonzero(x) -> bool:
    """Nonzero for every value of the params."""
    return x.is_zero is False if isinstance(x, sympy.Basic) else x != 0


def _sum_minus_one(entries: tuple):
    """The row sum minus 1 when it is decidably not 0, else None."""
    if not any(isinstance(x, sympy.Basic) for x in entries):
        off = sum(entries, Fraction(0)) - 1
        return off if off != 0 else None
    off = sympy.simplify(sympy.Add(*entries) - 1)
    return off if off != 0 and not off.free_symbols else None
