r"""Drawing string diagrams: layout (pure Python), pictures (matplotlib) and terminal art.

``layout`` places a diagram top to bottom; ``render`` draws it to SVG or PNG (matplotlib loads
on the first call only), ``svg`` to SVG text and ``draw`` to a ``Picture`` that Jupyter shows
inline (every diagram's ``.draw()`` and ``_repr_svg_`` call these); ``ascii_art`` draws it on a
character grid.

>>> import catlm
>>> spec = catlm.parse("object A = fin 2\nkernel f : A -> A\nkernel g = f >> copy\n")
>>> print(ascii_art(spec.kernels["g"]))
    A
    |
   [f]
    |
    *
   / \
  /   \
 /     \
A       A
"""
from __future__ import annotations

from catlm.drawing.ascii import ascii_art
from catlm.drawing.layout import Layout, Node, Wire, layout
from catlm.drawing.render import Picture, draw, render, svg

__all__ = ["layout", "Layout", "Node", "Wire", "render", "svg", "draw", "Picture", "ascii_art"]
