"""Literal kernel bodies: nested lists of exact numbers, shaped to the kernel's type.

A kernel ``X1 @ X2 -> Y`` may be written fully nested (``[[[...]]]``, one level per object) or
flat (one row per input tuple in row-major order, each row a list over the output tuples); a
state ``I -> Y`` is a single list. Entries are exact (see ``numbers``); the backends check that
rows are distributions.

>>> from catlm.syntax import ast
>>> from catlm.core.types import Finite, Ty
>>> A = Ty(Finite.range("A", 2))
>>> rows = ast.ListLit((ast.ListLit((ast.Number("1"), ast.Number("0"))),
...                     ast.ListLit((ast.Number("0.5"), ast.Number("0.5")))))
>>> literal(rows, A, A, {})
Literal(shape=(2, 2), entries=(1, 0, Fraction(1, 2), Fraction(1, 2)))
"""
from __future__ import annotations

from math import prod

from catlm.core.diagram import Literal
from catlm.core.types import Ty
from catlm.elaborate.numbers import value
from catlm.errors import SpecError
from catlm.syntax import ast


def literal(node: ast.ListLit, dom: Ty, cod: Ty, params: dict) -> Literal:
    """The entries of ``node`` as a ``Literal`` of shape dom.shape + cod.shape."""
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
    return Literal(full, tuple(value(leaf, params) for leaf in leaves))


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
