"""Layout of string diagrams: where each generator sits and how each wire runs.

A diagram of ``catlm.core.diagram`` flows from its inputs at the top to its outputs at the
bottom (``y`` grows downwards). The method is Sugiyama's layered drawing (Sugiyama, Tagawa & Toda
1981) on the port graph: each generator sits at a layer, the longest path from the inputs; a wire
that skips layers gets a bend in every layer it passes; barycentre sweeps order each layer
(keeping the order with the fewest crossings); and x positions are the least-squares fit to the
neighbours' ports under the minimum separations (isotonic regression by pool-adjacent-violators).
A box is as wide as its ports and its label; input and output wires keep their port order.
Pure Python: ``render`` and ``ascii_art`` draw the result.

>>> from catlm.core.diagram import Box, copy, identity
>>> from catlm.core.types import Finite, I, Ty
>>> A = Ty(Finite.range("A", 2))
>>> lay = layout(Box("flip", I, A) >> copy(A) >> (identity(A) @ Box("g", A, A)))
>>> lay.layers, [(n.key, n.layer) for n in lay.nodes]
(3, [('dom', 0), (0, 1), (1, 2), (2, 3), ('cod', 4)])
>>> [[x for x, _ in w.points] for w in lay.wires]  # the identity wire runs straight down
[[1.0, 1.0], [0.5, 0.5, 0.5, 0.5], [1.5, 1.5], [1.5, 1.5]]
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import Hashable, Union

from catlm.core.diagram import COD, DOM, Boundary, Box, Copy, Delete, Diagram, Generator, Swap
from catlm.core.types import Ob
from catlm.errors import BackendError

LAYER_GAP = 1.6      # vertical distance between the centres of two layers
NODE_HEIGHT = 0.6    # the band a generator (or a bend) occupies in its layer
CHARS_PER_UNIT = 8   # a bracketed label of this many characters fills one port's width
SWEEPS = 8           # barycentre sweeps (down and up) while the crossing count falls
ROUNDS = 12          # rounds of x placement (down and up)

GENERATORS = (Box, Copy, Delete, Swap)
Point = tuple[float, float]
Key = Union[int, str]


@dataclass(frozen=True, slots=True)
class Node:
    """A generator (or boundary) placed at ``(x, y)``, its centre; ports are (x, y) points.

    ``strands`` are the lines drawn inside a structural generator: a copy's input to its dot and
    its dot to each output, a delete's input to its ground mark, a swap's crossing lines.
    """

    key: Key
    gen: Generator | Boundary
    layer: int
    x: float
    y: float
    width: float
    height: float
    inputs: tuple[Point, ...]
    outputs: tuple[Point, ...]
    strands: tuple[tuple[Point, ...], ...] = ()

    @property
    def left(self) -> float:
        return self.x - self.width / 2

    @property
    def right(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True, slots=True)
class Wire:
    """A wire from output port ``source = (node, port)`` to input port ``target``, as a polyline."""

    source: tuple[Key, int]
    target: tuple[Key, int]
    ob: Ob
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Layout:
    """Placed nodes (``dom`` first, ``cod`` last) and wires; the boundaries sit at layers 0 and
    ``layers + 1``; everything lies in ``[0, width] x [0, height]``."""

    nodes: tuple[Node, ...]
    wires: tuple[Wire, ...]
    layers: int
    width: float
    height: float

    def node(self, key: Key) -> Node:
        return next(n for n in self.nodes if n.key == key)


def layout(diagram) -> Layout:
    """Place a ``Diagram``, ``TypedDiagram`` or generator top to bottom; deterministic."""
    diagram = _as_diagram(diagram).drawn  # a swap is drawn as one crossing, in place
    layered = _layered(diagram)
    order = _order(layered)
    return _assemble(diagram, layered, _positions(layered, order))


def _as_diagram(x) -> Diagram:
    x = getattr(x, "diagram", x)  # a TypedDiagram
    if isinstance(x, GENERATORS):
        return Diagram.of(x)
    if not isinstance(x, Diagram):
        raise BackendError(f"cannot draw a {type(x).__name__}: a drawing needs a diagram",
                           hint="pass a Diagram, a TypedDiagram (spec.kernels[name]) or a generator")
    return x


# --- the layered graph: slots (generators, boundary pins, bends) and the segments between them ---

@dataclass(frozen=True, slots=True)
class _Slot:
    """One thing in a layer: ``ins``/``outs`` are port offsets from its centre."""

    key: Hashable
    layer: int
    width: float
    ins: tuple[float, ...]
    outs: tuple[float, ...]
    seed: tuple  # the initial order within the layer


@dataclass(frozen=True, slots=True)
class _Segment:
    """A piece of wire between adjacent layers, from ``upper`` (port offset ``up``) to ``lower``."""

    upper: Hashable
    up: float
    lower: Hashable
    down: float


@dataclass(frozen=True)
class _Layered:
    slots: dict
    layers: int                      # generator layers; the boundary pins sit at 0 and layers + 1
    segments: tuple                  # segments[l]: the segments from layer l to layer l + 1
    chains: tuple                    # per wire (in wire order): (u, v, data, slot keys it passes)


def _offsets(n: int) -> tuple[float, ...]:
    """n ports one unit apart, centred."""
    return tuple(i - (n - 1) / 2 for i in range(n))


def _width(gen: Generator) -> float:
    ports = max(len(gen.dom), len(gen.cod), 1)
    label = (len(gen.name) + 2) / CHARS_PER_UNIT if isinstance(gen, Box) else 0
    return max(ports, label)


def _layer_of(diagram: Diagram) -> dict:
    g, layer = diagram.graph, {DOM: 0}
    for n in diagram.order:
        layer[n] = 1 + max((layer[u] for u in g.predecessors(n)), default=0)
    layer[COD] = 1 + max((layer[n] for n in diagram.order), default=0)
    return layer


def _edge_order(edge) -> tuple:
    u, v, _, d = edge
    rank = {DOM: -1, COD: 1 << 30}
    return (rank.get(u, u), d["src"], rank.get(v, v), d["tgt"])


def _layered(diagram: Diagram) -> _Layered:
    """Slots for generators and boundary pins, a bend per layer a wire skips, and the segments."""
    g, layer = diagram.graph, _layer_of(diagram)
    rank = {n: i for i, n in enumerate(diagram.order)}
    slots = _node_slots(diagram, layer, rank)
    segments = [[] for _ in range(layer[COD])]
    chains = []
    for u, v, _, d in sorted(g.edges(keys=True, data=True), key=_edge_order):
        bends = [("bend", len(chains), l) for l in range(layer[u] + 1, layer[v])]
        slots.update({b: _Slot(b, b[2], 1.0, (0.0,), (0.0,), (rank.get(u, -1), d["src"]))
                      for b in bends})
        path = ((DOM, d["src"]) if u == DOM else u, *bends, (COD, d["tgt"]) if v == COD else v)
        ports = (slots[path[0]].outs[0 if u == DOM else d["src"]], *[0.0] * len(bends),
                 slots[path[-1]].ins[0 if v == COD else d["tgt"]])
        for (a, pa), (b, pb) in pairwise(zip(path, ports)):
            segments[slots[a].layer].append(_Segment(a, pa, b, pb))
        chains.append((u, v, d, path))
    return _Layered(slots, layer[COD] - 1, tuple(map(tuple, segments)), tuple(chains))


def _node_slots(diagram: Diagram, layer: dict, rank: dict) -> dict:
    """A slot per generator, and one per boundary port (a pin), seeded in schedule/port order."""
    gens = {n: diagram.graph.nodes[n]["gen"] for n in diagram.order}
    slots = {n: _Slot(n, layer[n], _width(gen), _offsets(len(gen.dom)), _offsets(len(gen.cod)),
                      (rank[n],)) for n, gen in gens.items()}
    slots.update({(DOM, i): _Slot((DOM, i), 0, 1.0, (), (0.0,), (i,))
                  for i in range(len(diagram.dom))})
    slots.update({(COD, i): _Slot((COD, i), layer[COD], 1.0, (0.0,), (), (i,))
                  for i in range(len(diagram.cod))})
    return slots


# --- ordering within layers: barycentre sweeps ---------------------------------------------------

def _packed(row, slots: dict) -> dict:
    """Centres of a layer's slots placed side by side in order."""
    widths = [slots[k].width for k in row]
    rights = list(accumulate(widths))
    return {k: r - w / 2 for k, r, w in zip(row, rights, widths)}


def _crossings(layered: _Layered, order: list) -> int:
    """Pairs of segments between adjacent layers whose ends are in opposite orders."""
    total = 0
    for l, segments in enumerate(layered.segments):
        top, bottom = _packed(order[l], layered.slots), _packed(order[l + 1], layered.slots)
        ends = [(top[s.upper] + s.up, bottom[s.lower] + s.down) for s in segments]
        total += sum((a0 - b0) * (a1 - b1) < 0 for (a0, a1), (b0, b1) in _pairs(ends))
    return total


def _pairs(items: list):
    return ((a, b) for i, a in enumerate(items) for b in items[i + 1:])


def _sweep(layered: _Layered, order: list, downwards: bool) -> list:
    """Reorder layers 1..L by the barycentre of their neighbours in the previous layer."""
    order = list(order)
    steps = range(1, layered.layers + 1)
    for l in steps if downwards else reversed(steps):
        near = l - 1 if downwards else l + 1
        seen = _packed(order[near], layered.slots)
        here = _packed(order[l], layered.slots)
        segments = layered.segments[l - 1] if downwards else layered.segments[l]
        key = {k: (_barycentre(k, seen, segments, downwards, here[k]), i)
               for i, k in enumerate(order[l])}
        order[l] = sorted(order[l], key=key.__getitem__)
    return order


def _barycentre(k, seen: dict, segments, downwards: bool, default: float) -> float:
    """The centre that would put ``k``'s ports under (or over) its neighbours' ports, on average."""
    wanted = [seen[s.upper] + s.up - s.down if downwards else seen[s.lower] + s.down - s.up
              for s in segments if (s.lower if downwards else s.upper) == k]
    return sum(wanted) / len(wanted) if wanted else default


def _order(layered: _Layered) -> list:
    by_layer = [[] for _ in range(layered.layers + 2)]
    for slot in sorted(layered.slots.values(), key=lambda s: (s.layer, s.seed, str(s.key))):
        by_layer[slot.layer].append(slot.key)
    best, best_count = by_layer, _crossings(layered, by_layer)
    order = by_layer
    for i in range(2 * SWEEPS):
        if best_count == 0:
            break
        order = _sweep(layered, order, downwards=i % 2 == 0)
        count = _crossings(layered, order)
        if count < best_count:
            best, best_count = order, count
    return best


# --- x positions: least squares towards the neighbours, keeping the order -----------------------

def _isotonic(wanted: list[float], gaps: list[float]) -> list[float]:
    """The closest positions (least squares) to ``wanted`` with ``x[i+1] - x[i] >= gaps[i]``."""
    shifts = list(accumulate(gaps, initial=0.0))
    blocks: list[list[float]] = []  # [sum, count] of pooled values
    for w, s in zip(wanted, shifts):
        blocks.append([w - s, 1])
        while len(blocks) > 1 and blocks[-2][0] * blocks[-1][1] > blocks[-1][0] * blocks[-2][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    pooled = [total / count for total, count in blocks for _ in range(int(count))]
    return [z + s for z, s in zip(pooled, shifts)]


def _place(layered: _Layered, order: list, xs: dict, l: int, downwards: bool) -> None:
    row = order[l]
    segments = layered.segments[l - 1] if downwards else layered.segments[l]
    wanted = [_barycentre(k, xs, segments, downwards, xs[k]) for k in row]
    gaps = [(layered.slots[a].width + layered.slots[b].width) / 2 for a, b in pairwise(row)]
    xs.update(zip(row, _isotonic(wanted, gaps)))


def _positions(layered: _Layered, order: list) -> dict:
    xs = {k: x for row in order for k, x in _packed(row, layered.slots).items()}
    last = layered.layers + 1
    for _ in range(ROUNDS):
        for l in range(1, last + 1):
            _place(layered, order, xs, l, downwards=True)
        for l in range(last - 1, -1, -1):
            _place(layered, order, xs, l, downwards=False)
    left = min((xs[k] - s.width / 2 for k, s in layered.slots.items()), default=0.0)
    return {k: round(x - left, 9) + 0.0 for k, x in xs.items()}


# --- assembling nodes and wires ------------------------------------------------------------------

def _y(layer: int) -> float:
    return layer * LAYER_GAP


def _generator(key, gen: Generator, slot: _Slot, x: float) -> Node:
    y, h = _y(slot.layer), NODE_HEIGHT
    ins = tuple((x + o, y - h / 2) for o in slot.ins)
    outs = tuple((x + o, y + h / 2) for o in slot.outs)
    return Node(key, gen, slot.layer, x, y, slot.width, h, ins, outs,
                STRANDS[type(gen)](gen, (x, y), ins, outs))


def _boundary(side: str, gen: Boundary, layer: int, xs: dict, width: float) -> Node:
    pins = tuple((xs[(side, i)], _y(layer)) for i in range(len(gen.ty)))
    left = min((p[0] - 0.5 for p in pins), default=width / 2)
    right = max((p[0] + 0.5 for p in pins), default=width / 2)
    ins, outs = (pins, ()) if side == COD else ((), pins)
    return Node(side, gen, layer, (left + right) / 2, _y(layer), right - left, 0.0, ins, outs)


def _assemble(diagram: Diagram, layered: _Layered, xs: dict) -> Layout:
    g, last = diagram.graph, layered.layers + 1
    width = max((xs[k] + s.width / 2 for k, s in layered.slots.items()), default=0.0)
    inner = [_generator(n, g.nodes[n]["gen"], layered.slots[n], xs[n]) for n in diagram.order]
    nodes = (_boundary(DOM, g.nodes[DOM]["gen"], 0, xs, width), *inner,
             _boundary(COD, g.nodes[COD]["gen"], last, xs, width))
    by_key = {n.key: n for n in nodes}
    wires = tuple(_wire(by_key, u, v, d, path, xs) for u, v, d, path in layered.chains)
    return Layout(nodes, wires, layered.layers, width, _y(last))


def _wire(nodes: dict, u, v, d: dict, path: tuple, xs: dict) -> Wire:
    h = NODE_HEIGHT / 2
    bends = [p for k in path[1:-1] for p in ((xs[k], _y(k[2]) - h), (xs[k], _y(k[2]) + h))]
    points = (nodes[u].outputs[d["src"]], *bends, nodes[v].inputs[d["tgt"]])
    return Wire((u, d["src"]), (v, d["tgt"]), d["ob"], points)


# --- the strands drawn inside structural generators ----------------------------------------------

def _copy_strands(gen: Copy, centre: Point, ins, outs) -> tuple:
    return ((ins[0], centre), *((centre, out) for out in outs))


def _delete_strands(gen: Delete, centre: Point, ins, outs) -> tuple:
    return ((ins[0], centre),)


def _swap_strands(gen: Swap, centre: Point, ins, outs) -> tuple:
    """Input i of ``left @ right`` leaves at the position it has in ``right @ left``."""
    m, n = len(gen.left), len(gen.right)
    target = [n + i for i in range(m)] + [j for j in range(n)]
    return tuple((ins[i], outs[target[i]]) for i in range(m + n))


def _no_strands(gen: Box, centre: Point, ins, outs) -> tuple:
    return ()


STRANDS = {Box: _no_strands, Copy: _copy_strands, Delete: _delete_strands, Swap: _swap_strands}
