"""Pictures of string diagrams: the layout of ``catlm.drawing.layout`` drawn with matplotlib.

Boxes are labelled rectangles; a copy is a filled dot with one wire in and its copies out; a
delete is a ground mark at the end of its wire; a swap is two wires that really cross; every wire
is labelled once with its object, near its start; the title is the kernel and its type. The
conventions are those of string diagrams for Markov categories (Fritz 2020, §2; Cho & Jacobs 2019).
matplotlib is imported on the first call only, and only its object-oriented Agg interface is
used, so drawing never touches pyplot's global state.

>>> import tempfile, pathlib, catlm
>>> spec = catlm.parse("object A = fin 2\\nkernel f : A -> A\\nkernel g = f >> copy\\n")
>>> out = pathlib.Path(tempfile.mkdtemp()) / "g.svg"
>>> "<svg" in render(spec.kernels["g"], out).read_text()
True
>>> "<svg" in svg(spec.kernels["g"])
True
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from catlm.core.diagram import Boundary, Box, Copy, Delete, Swap
from catlm.drawing.layout import Layout, Node, layout
from catlm.errors import BackendError

FORMATS = {".svg": "svg", ".png": "png"}
INCH = 0.8           # inches per layout unit
MARGIN = 0.5         # layout units around the drawing
TITLE_INCHES = 0.5   # room for the title above the drawing
DPI = 120
INK, PAPER, LABEL = "#1f2933", "#e8eef7", "#52606d"
BOX_MARGIN = 0.12    # the box is drawn this much inside the width its ports reserve
METADATA = {"svg": {"Date": None}, "png": {}}  # no timestamp: the same diagram, the same file
MAX_INLINE = 200     # generators; a notebook shows larger diagrams as text, not a slow picture


@dataclass(frozen=True, slots=True)
class Picture:
    """An SVG drawing of a diagram; Jupyter shows it inline, ``save`` writes it to a file."""

    svg: str

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.svg, encoding="utf-8")
        return path


def render(diagram, path: str | Path, title: str | None = None) -> Path:
    """Draw ``diagram`` (a ``Diagram`` or ``TypedDiagram``) to ``path``; the suffix picks SVG or PNG."""
    path = check_format(Path(path))
    fmt = FORMATS[path.suffix.lower()]
    figure = _figure(layout(diagram), title if title is not None else _title(diagram))
    from matplotlib import rc_context
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "catlm"}):  # text stays text
        figure.savefig(path, format=fmt, dpi=DPI, metadata=METADATA[fmt])
    return path


def svg(diagram, title: str | None = None) -> str:
    """The SVG text of the picture of ``diagram``."""
    figure = _figure(layout(diagram), title if title is not None else _title(diagram))
    out = io.StringIO()
    from matplotlib import rc_context
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "catlm"}):
        figure.savefig(out, format="svg", dpi=DPI, metadata=METADATA["svg"])
    return out.getvalue()


def draw(diagram, path: str | Path | None = None, *, title: str | None = None) -> Picture | Path:
    """DisCoPy's ``draw``: the ``Picture`` of ``diagram``, or the file ``path`` it is drawn to."""
    return Picture(svg(diagram, title)) if path is None else render(diagram, path, title)


def inline_svg(diagram) -> str | None:
    """What a notebook shows for a diagram: its picture, or None (its text) past ``MAX_INLINE``."""
    inner = getattr(diagram, "diagram", diagram)
    return svg(diagram) if len(getattr(inner, "generators", ())) <= MAX_INLINE else None


def check_format(path: Path) -> Path:
    """``path`` itself if its suffix names a picture format, else a ``BackendError``."""
    if path.suffix.lower() not in FORMATS:
        raise BackendError(f"cannot draw to '{path}': unknown picture format '{path.suffix}'",
                           hint=f"name a file ending in {' or '.join(FORMATS)}")
    return path


def _title(diagram) -> str:
    """``name : dom -> cod`` for a kernel, else the diagram's expression and type."""
    name = getattr(diagram, "name", None) or getattr(diagram, "expr", "") or "diagram"
    return f"{name} : {diagram.dom} -> {diagram.cod}"


def _figure(lay: Layout, title: str):
    from matplotlib.figure import Figure
    top, bottom = _rows(lay)
    span = max(lay.width, len(title) * 0.14 / INCH) + 2 * MARGIN
    height = bottom - top + 2 * MARGIN
    figure = Figure(figsize=(span * INCH, height * INCH + TITLE_INCHES))
    axes = figure.add_axes((0, 0, 1, height * INCH / (height * INCH + TITLE_INCHES)))
    centre = lay.width / 2
    axes.set_xlim(centre - span / 2, centre + span / 2)
    axes.set_ylim(bottom + MARGIN, top - MARGIN)  # inputs at the top
    axes.axis("off")
    figure.text(0.5, 1 - TITLE_INCHES / 2 / figure.get_figheight(), title,
                ha="center", va="center", fontsize=12, color=INK)
    _draw(axes, lay)
    return figure


def _rows(lay: Layout) -> tuple[float, float]:
    """The top and bottom of what is drawn (an empty boundary, the unit I, takes no room)."""
    ys = [y for wire in lay.wires for _, y in wire.points]
    ys += [y for n in lay.nodes if n.height for y in (n.y - n.height / 2, n.y + n.height / 2)]
    return min(ys, default=0.0), max(ys, default=0.0)


def _draw(axes, lay: Layout) -> None:
    for wire in lay.wires:
        xs, ys = zip(*wire.points)
        axes.plot(xs, ys, color=INK, linewidth=1.4, solid_capstyle="round", zorder=1)
        _wire_label(axes, wire.points, wire.ob.name)
    for node in lay.nodes:
        for strand in node.strands:
            xs, ys = zip(*strand)
            axes.plot(xs, ys, color=INK, linewidth=1.4, solid_capstyle="round", zorder=1)
        DRAW[type(node.gen)](axes, node)


def _wire_label(axes, points, text: str) -> None:
    """The object, just right of the wire, a little way along its first piece."""
    (x0, y0), (x1, y1) = points[0], points[1]
    t = min(0.25 / max(abs(y1 - y0), 1e-9), 0.5)
    axes.text(x0 + t * (x1 - x0) + 0.07, y0 + t * (y1 - y0), text, fontsize=8, color=LABEL,
              ha="left", va="center", zorder=3)


def _box(axes, node: Node) -> None:
    from matplotlib.patches import FancyBboxPatch
    w, h = node.width - 2 * BOX_MARGIN, node.height
    axes.add_patch(FancyBboxPatch((node.x - w / 2, node.y - h / 2), w, h, zorder=2,
                                  boxstyle="round,pad=0,rounding_size=0.08",
                                  facecolor=PAPER, edgecolor=INK, linewidth=1.3))
    axes.text(node.x, node.y, node.gen.name, ha="center", va="center", fontsize=11,
              color=INK, zorder=3)


def _copy(axes, node: Node) -> None:
    axes.plot([node.x], [node.y], marker="o", markersize=8, color=INK, zorder=3)


def _delete(axes, node: Node) -> None:
    """The ground mark: three bars, each shorter, under the end of the wire."""
    for i, half in enumerate((0.18, 0.12, 0.06)):
        y = node.y + i * 0.07
        axes.plot([node.x - half, node.x + half], [y, y], color=INK, linewidth=1.6, zorder=3)


def _nothing(axes, node: Node) -> None:
    """Swaps are their crossing strands alone; boundaries are the ends of their wires."""


DRAW = {Box: _box, Copy: _copy, Delete: _delete, Swap: _nothing, Boundary: _nothing}
