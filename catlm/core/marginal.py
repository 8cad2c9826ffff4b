"""Marginals of a joint: keep some output wires of a diagram and discard the others.

In a Markov category the marginal of ``joint : A -> X @ Y`` on ``X`` is ``joint >> (id[X] @ del[Y])``
(Fritz 2020, §2; EfProb writes ``joint % [1, 0]``). ``marginal`` builds that diagram from a mask,
one 0 or 1 per output wire, so a FinStoch functor sends it to the summed-out tensor
(``Kernel.marginal`` is the same operation on arrays: ``F(marginal(d, m)) == F(d).marginal(m)``).

>>> from catlm.core.types import Finite, Ty
>>> from catlm.core.diagram import Box
>>> X, Y = Ty(Finite.range("X", 2)), Ty(Finite.range("Y", 3))
>>> joint = Box("joint", Ty(), X @ Y)
>>> marginal(joint, [1, 0]).cod, marginal(joint, [0, 1]).cod
(Ty(X), Ty(Y))
"""
from __future__ import annotations

from typing import Sequence

from catlm.core.diagram import Composable, Diagram, delete, identity
from catlm.errors import WiringError


def marginal(diagram: Composable, mask: Sequence[int]) -> Diagram:
    """``diagram`` followed by ``id`` on each output where ``mask`` is 1 and ``del`` where it is 0."""
    diagram = Diagram.of(diagram)
    if len(mask) != len(diagram.cod) or any(m not in (0, 1) for m in mask):
        raise WiringError(f"a marginal mask has one 0 or 1 per output of `{diagram.expr}` "
                          f"({len(diagram.cod)} here), not {list(mask)}", diagram.span,
                          hint="e.g. [1, 0] keeps the first of two outputs")
    project = Diagram.id(diagram.cod[:0])
    for ob, keep in zip(diagram.cod, mask):
        project = project @ (identity(ob) if keep else delete(ob))
    return diagram >> project
