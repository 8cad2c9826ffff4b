"""How diagrams show themselves: ``.draw()`` as in DisCoPy, and inline pictures in Jupyter.

``Diagram`` and ``TypedDiagram`` inherit ``Drawable``. Pictures are made by the drawing layer
(``catlm.drawing``), which sits above core and imports it; core imports no drawing code. The two
meet in ``catlm/__init__.py``, which installs the drawing layer's functions here when catlm is
imported (they load ``catlm.drawing`` on the first picture only). Jupyter calls ``_repr_svg_`` on
the last value of a cell; a diagram too large to lay out quickly gives None there, and Jupyter
shows its text instead.

>>> from catlm.core.diagram import Box, copy
>>> from catlm.core.types import Finite, Ty
>>> A = Ty(Finite.range("A", 2))
>>> picture = (Box("f", A, A) >> copy(A)).draw()
>>> picture.svg.lstrip().startswith("<?xml")
True
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from catlm.errors import BackendError

# "draw": (diagram, path, title=...) -> a picture or the file written; "inline_svg": diagram -> str | None
RENDERERS: dict[str, Callable] = {}


def install(*, draw: Callable, inline_svg: Callable) -> None:
    """Make ``draw`` and ``inline_svg`` the pictures of every diagram (done by ``catlm``)."""
    RENDERERS.update(draw=draw, inline_svg=inline_svg)


class Drawable:
    """``draw()`` and ``_repr_svg_`` for diagrams, through the installed renderers."""

    __slots__ = ()

    def draw(self, path: str | Path | None = None, *, title: str | None = None):
        """A picture that Jupyter shows inline, or the file ``path`` (.svg or .png) drawn."""
        if "draw" not in RENDERERS:
            raise BackendError("no drawing layer is installed", hint="import catlm first")
        return RENDERERS["draw"](self, path, title=title)

    def _repr_svg_(self) -> str | None:
        inline = RENDERERS.get("inline_svg")
        return inline(self) if inline is not None else None
