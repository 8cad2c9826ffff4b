r"""Terminal art of a string diagram: the layout of ``catlm.drawing.layout`` on a character grid.

Boxes are ``[name]``, a copy is ``*`` with branching wires, a delete is a ground mark ``⏚`` at
the end of its wire, a swap is an ``X`` where its two wires cross; wires are drawn with ``|``,
``/``, ``\`` and ``_``. The input objects are printed at the top and the output objects at the
bottom; the unit ``I`` is drawn as nothing, as in string diagrams (Selinger 2011, §3).

>>> from catlm.core.diagram import Box, swap
>>> from catlm.core.types import Finite, Ty
>>> A, B = Ty(Finite.range("A", 2)), Ty(Finite.range("B", 3))
>>> print(ascii_art((Box("f", A, A) @ Box("g", B, B)) >> swap(A, B)))
 A       B
 |       |
[f]     [g]
  \     /
   \   /
    \ /
     X
    / \
   /   \
  /     \
 B       A
"""
from __future__ import annotations

from math import floor

from catlm.core.diagram import Boundary, Box, Copy, Delete, Swap
from catlm.drawing.layout import CHARS_PER_UNIT, Layout, Node, Wire, layout

ANCHORED = (Copy, Delete, Swap)  # wires meet these at their centre, not at their ports
MAX_GAP_ROWS = 4                  # rows between layers; longer runs go sideways with `_`
GROUND = "⏚"

Canvas = dict  # (row, col) -> one character


def ascii_art(diagram) -> str:
    """The diagram (a ``Diagram`` or ``TypedDiagram``) as lines of text, inputs at the top."""
    lay = layout(diagram)
    nodes = {n.key: n for n in lay.nodes}
    paths = [_path(nodes, wire) for wire in lay.wires]
    rows = _rows(lay, paths)
    canvas: Canvas = {}
    for path in paths:
        _draw_path(canvas, path, rows)
    for node in lay.nodes:
        NODE_ART[type(node.gen)](canvas, node, rows[node.layer])
    return _text(canvas)


def _col(x: float) -> int:
    return floor(x * CHARS_PER_UNIT + 0.5 + 1e-6)


def _anchor(node: Node, point: tuple[float, float]) -> int:
    return _col(node.x) if isinstance(node.gen, ANCHORED) else _col(point[0])


def _path(nodes: dict, wire: Wire) -> list[tuple[int, int]]:
    """The wire as (column, layer) points: its two ends and one bend per layer it passes."""
    source, target = nodes[wire.source[0]], nodes[wire.target[0]]
    bends = [_col(x) for x, _ in wire.points[1:-1:2]]
    cols = [_anchor(source, wire.points[0]), *bends, _anchor(target, wire.points[-1])]
    return list(zip(cols, range(source.layer, target.layer + 1)))


def _rows(lay: Layout, paths: list) -> list[int]:
    """The text row of each layer: enough rows between layers for the steepest wire."""
    gaps = [1] * (lay.layers + 1)
    for path in paths:
        for (c0, l0), (c1, _) in zip(path, path[1:]):
            gaps[l0] = max(gaps[l0], min(abs(c1 - c0) - 1, MAX_GAP_ROWS))
    rows = [0]
    for gap in gaps:
        rows.append(rows[-1] + gap + 1)
    return rows


def _draw_path(canvas: Canvas, path: list, rows: list[int]) -> None:
    for (c0, l0), (c1, l1) in zip(path, path[1:]):
        _segment(canvas, c0, c1, rows[l0], rows[l1])
    for col, layer in path[1:-1]:
        canvas[(rows[layer], col)] = "|"


def _segment(canvas: Canvas, c0: int, c1: int, r0: int, r1: int) -> None:
    """Join column c0 of row r0 to column c1 of row r1 through the rows between them.

    Straight down first, then a diagonal that arrives next to c1. A wire that must go further
    sideways than the rows allow is a staircase: one slash and a run of ``_`` on every row.
    """
    n, reach = r1 - r0 - 1, abs(c1 - c0)
    step, slash = (1, "\\") if c1 > c0 else (-1, "/")
    straight = max(n - max(reach - 1, 0), 0)
    canvas.update({(r0 + i, c0): "|" for i in range(1, straight + 1)})
    moves = _spread(reach - 1, n - straight)
    col = c0
    for i, move in enumerate(moves, start=straight + 1):
        canvas[(r0 + i, col + step)] = slash
        canvas.update({(r0 + i, col + step * j): "_" for j in range(2, move + 1)})
        col += step * move


def _spread(total: int, rows: int) -> list[int]:
    """``total`` columns of sideways movement over ``rows`` rows, as evenly as possible."""
    if rows <= 0:
        return []
    return [total // rows + (i < total % rows) for i in range(rows)]


def _put(canvas: Canvas, row: int, col: int, text: str) -> None:
    canvas.update({(row, col + i): ch for i, ch in enumerate(text)})


def _box(canvas: Canvas, node: Node, row: int) -> None:
    centre = _col(node.x)
    ports = [_col(x) for x, _ in node.inputs + node.outputs]
    half = max((abs(p - centre) for p in ports), default=0) + 1
    width = max(len(node.gen.name) + 2, 2 * half + 1)
    _put(canvas, row, centre - (width - 1) // 2, f"[{node.gen.name.center(width - 2)}]")


def _mark(char: str):
    def draw(canvas: Canvas, node: Node, row: int) -> None:
        canvas[(row, _col(node.x))] = char
    return draw


def _boundary(canvas: Canvas, node: Node, row: int) -> None:
    """The objects of the boundary, each centred over its wire, never running into the next."""
    end = None
    for ob, (x, _) in zip(node.gen.ty, node.inputs + node.outputs):
        start = _col(x) - (len(ob.name) - 1) // 2
        start = start if end is None else max(start, end + 2)
        _put(canvas, row, start, ob.name)
        end = start + len(ob.name) - 1


NODE_ART = {Box: _box, Copy: _mark("*"), Delete: _mark(GROUND), Swap: _mark("X"),
            Boundary: _boundary}


def _text(canvas: Canvas) -> str:
    if not canvas:
        return ""
    left = min(c for _, c in canvas)
    top, bottom = min(r for r, _ in canvas), max(r for r, _ in canvas)
    width = max(c for _, c in canvas) - left + 1
    lines = []
    for row in range(top, bottom + 1):
        cells = [canvas.get((row, left + i), " ") for i in range(width)]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)
