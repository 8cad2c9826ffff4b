"""How diagrams show themselves: ``.draw()`` as in DisCoPy, and inline pictures in Jupyter.

``Diagram`` and ``TypedDiagram`` inherit ``Drawable``. Pictures are made by a renderer module, a
plugin that core knows only by the name installed in ``RENDERER``: the drawing layer
(``catlm.drawing``) sits above core and imports it, so core names no drawing code and imports none
until a picture is asked for. ``catlm/__init__.py`` installs ``catlm.drawing.render``; a renderer
module defines ``draw(diagram, path, title=...)`` and ``inline_svg(diagram)``. Jupyter calls
``_repr_svg_`` on the last value of a cell; a diagram too large to lay out quickly gives None
there, and Jupyter shows its text instead.

>>> from catlm.core.diagram import Box, copy
>>> from catlm.core.types import Finite, Ty
>>> A = Ty(Finite.range("A", 2))
>>> picture = (Box("f", A, A) >> copy(A)).draw()
>>> picture.svg.lstrip().startswith("<?xml")
True
"""
from __future__ import annotations

import importlib
from pathlib import Path

from catlm.errors import BackendError

RENDERER: dict[str, str] = {}  # "module": the renderer's module name, once installed


def install(module: str) -> None:
    """Draw every diagram with the renderer module called ``module`` (loaded on first use)."""
    RENDERER["module"] = module


def _renderer():
    if "module" not in RENDERER:
        raise BackendError("no renderer is installed for diagrams",
                           hint='import catlm, or call catlm.core.display.install("catlm.drawing.render")')
    return importlib.import_module(RENDERER["module"])


class Drawable:
    """``draw()`` and ``_repr_svg_`` for diagrams, through the installed renderer."""

    __slots__ = ()

    def draw(self, path: str | Path | None = None, *, title: str | None = None):
        """A picture that Jupyter shows inline, or the file ``path`` (.svg or .png) drawn."""
        return _renderer().draw(self, path, title=title)

    def _repr_svg_(self) -> str | None:
        return _renderer().inline_svg(self) if "module" in RENDERER else None
