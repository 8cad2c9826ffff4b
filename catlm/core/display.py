"""How diagrams show themselves: ``.draw()`` as in DisCoPy, and inline pictures in Jupyter.

``Diagram`` and ``TypedDiagram`` inherit ``Drawable``. core computes nothing numerical and draws
nothing: the picture is made by the drawing layer, ``catlm.drawing``, loaded on the first call
only, as DisCoPy's ``Diagram.draw`` loads ``discopy.drawing``. Jupyter calls ``_repr_svg_`` on the
last value of a cell; a diagram too large to lay out quickly returns None there, and Jupyter shows
its text instead.

>>> from catlm.core.diagram import Box, copy
>>> from catlm.core.types import Finite, Ty
>>> A = Ty(Finite.range("A", 2))
>>> picture = (Box("f", A, A) >> copy(A)).draw()
>>> picture.svg.lstrip().startswith("<?xml")
True
"""
from __future__ import annotations

from pathlib import Path


class Drawable:
    """``draw()`` and ``_repr_svg_`` for anything ``catlm.drawing.layout`` accepts."""

    __slots__ = ()

    def draw(self, path: str | Path | None = None, *, title: str | None = None):
        """A ``Picture`` that Jupyter shows inline, or the file ``path`` (.svg or .png) drawn."""
        from catlm.drawing.render import draw
        return draw(self, path, title=title)

    def _repr_svg_(self) -> str | None:
        from catlm.drawing.render import inline_svg
        return inline_svg(self)
