"""Drawing: layout invariants, crossings, terminal art, pictures and the `catlm draw` command.

Crossings are counted here by an independent segment-intersection test (exact orientation signs),
not by the layout's own counter; pictures are read back with an XML parser and matplotlib.
"""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings

import catlm
from catlm.cli import main
from catlm.core.diagram import COD, DOM, Box, Swap, copy, delete, identity, swap
from catlm.core.types import Finite, I, Ty
from catlm.drawing import ascii_art, layout, render
from catlm.drawing.layout import LAYER_GAP
from catlm.errors import BackendError
from strategies import examples

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
A, B = Ty(Finite.range("A", 2)), Ty(Finite.range("B", 3))
EPS = 1e-9


def spec(name: str):
    return catlm.load(EXAMPLES / f"{name}.cat")


def joint():
    return spec("coin").kernels["joint"]


def example_kernels():
    return [t for name in ("coin", "bigram", "lm") for t in spec(name).kernels.values()]


# --- an independent crossing counter ---------------------------------------------------------------

def _orient(p, q, r) -> int:
    v = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    return (v > EPS) - (v < -EPS)


def _cross(s, t) -> bool:
    """Proper crossing: each segment's ends lie strictly on opposite sides of the other."""
    (p, q), (r, u) = s, t
    return _orient(p, q, r) * _orient(p, q, u) < 0 and _orient(r, u, p) * _orient(r, u, q) < 0


def _segments(lay) -> list[tuple[str, tuple]]:
    lines = [(f"wire{i}", w.points) for i, w in enumerate(lay.wires)]
    lines += [(f"node{n.key}", s) for n in lay.nodes for s in n.strands]
    return [(name, seg) for name, pts in lines for seg in zip(pts, pts[1:])]


def crossings(lay) -> list[tuple[str, str]]:
    segs = _segments(lay)
    return [(a, b) for i, (a, s) in enumerate(segs) for b, t in segs[i + 1:] if _cross(s, t)]


# --- layout invariants -------------------------------------------------------------------------------

def check_invariants(diagram) -> None:
    lay = layout(diagram)
    nodes = {n.key: n for n in lay.nodes}
    for w in lay.wires:
        source, target = nodes[w.source[0]], nodes[w.target[0]]
        assert w.points[0] == source.outputs[w.source[1]]
        assert w.points[-1] == target.inputs[w.target[1]]
        assert source.layer < target.layer
        assert all(y0 <= y1 for (_, y0), (_, y1) in zip(w.points, w.points[1:]))
        assert len(w.points) == 2 * (target.layer - source.layer)  # two points per bend
    for n in lay.nodes:
        assert n.y == pytest.approx(n.layer * LAYER_GAP)
        assert all(n.left - EPS <= x <= n.right + EPS for x, _ in n.inputs + n.outputs)
        assert -EPS <= n.left and n.right <= lay.width + EPS
    _check_no_overlap(lay)
    for ports in (nodes[DOM].outputs, nodes[COD].inputs):
        assert all(a[0] < b[0] for a, b in zip(ports, ports[1:])), "boundary port order"
    assert nodes[DOM].layer == 0 and nodes[COD].layer == lay.layers + 1
    assert lay == layout(diagram), "deterministic"


def _check_no_overlap(lay) -> None:
    """Within a layer, generator extents are disjoint and no bend runs through a generator."""
    inner = [n for n in lay.nodes if n.key not in (DOM, COD)]
    for layer in range(1, lay.layers + 1):
        row = sorted((n for n in inner if n.layer == layer), key=lambda n: n.x)
        assert all(a.right <= b.left + EPS for a, b in zip(row, row[1:]))
        y = layer * LAYER_GAP
        bends = [x for w in lay.wires for x, yy in w.points[1:-1] if abs(yy - y) < LAYER_GAP / 2]
        assert not [x for x in bends for n in row if n.left + EPS < x < n.right - EPS]


@pytest.mark.parametrize("kernel", example_kernels(), ids=str)
def test_layout_invariants_on_the_examples(kernel):
    check_invariants(kernel)


@settings(max_examples=60, deadline=None)
@given(examples(max_depth=4))
def test_layout_invariants_on_random_diagrams(example):
    check_invariants(example.diagram())


def test_layers_are_longest_paths_from_the_inputs():
    lay = layout(joint())
    assert {n.gen.name if isinstance(n.gen, Box) else type(n.gen).__name__: n.layer
            for n in lay.nodes} == {"Boundary": 4, "flip": 1, "Copy": 2, "noisy": 3}
    assert lay.node(DOM).layer == 0


def test_wires_that_skip_layers_bend_once_per_layer_and_identities_run_straight():
    lay = layout(joint())
    identity_wire = next(w for w in lay.wires if w.source[0] != DOM and w.target == (COD, 0))
    assert len(identity_wire.points) == 4  # through layer 3 beside `noisy`
    assert len({x for x, _ in identity_wire.points}) == 1
    assert all(len({x for x, _ in w.points}) == 1 for w in layout(identity(A @ B)).wires)


def test_drawing_something_that_is_not_a_diagram_is_a_catlm_error():
    with pytest.raises(BackendError, match="cannot draw a str"):
        layout("f >> g")


def test_a_box_is_as_wide_as_its_ports():
    lay = layout(Box("f", A @ B @ A, B))
    f = lay.node(0)
    assert f.width == 3 and [x - f.x for x, _ in f.inputs] == [-1, 0, 1]
    assert layout(Box("f", A, A)).node(0).width == 1


# --- crossings ------------------------------------------------------------------------------------------

F, G, H, K = Box("f", A, A), Box("g", B, B), Box("h", B, B), Box("k", A, A)


@pytest.mark.parametrize("diagram", [
    swap(A, B), (F @ G) >> swap(A, B) >> (H @ K), copy(A) >> swap(A, A),
    identity(A) @ swap(A, B) @ identity(B), Box("s", I, A @ B) >> swap(A, B) >> Box("t", B @ A, I),
], ids=["swap", "boxed", "copied", "beside identities", "closed"])
def test_a_swap_draws_exactly_one_crossing_of_its_two_wires(diagram):
    lay = layout(diagram)
    (swap_node,) = [n for n in lay.nodes if isinstance(n.gen, Swap)]
    assert crossings(lay) == [(f"node{swap_node.key}",) * 2]


@pytest.mark.parametrize("kernel", ["joint", "same"])
def test_planar_examples_have_no_crossings(kernel):
    assert crossings(layout(spec("coin").kernels[kernel])) == []
    assert crossings(layout(spec("bigram").kernels["two"])) == []


def test_barycentre_ordering_removes_a_crossing_the_first_order_has():
    # layer 2 first holds the bend of s's right output, then f, which reads s's left output
    s, g = Box("s", I, A @ A), Box("g", A @ A, A)
    assert crossings(layout(s >> (F @ identity(A)) >> g)) == []


def test_copying_a_product_crosses_its_middle_wires_once():
    lay = layout(copy(A @ B))
    assert len(crossings(lay)) == 1


# --- terminal art -------------------------------------------------------------------------------------------

def rows_with(text: str, token: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if token in line]


def test_ascii_joint_structure():
    art = ascii_art(joint())
    lines = art.splitlines()
    assert art.count("*") == 1 and art.count("[noisy]") == 1 and art.count("[flip]") == 1
    assert lines[0].strip() == "[flip]"          # the unit I is drawn as nothing
    assert lines[-1].split() == ["Coin", "Coin"]
    assert max(map(len, lines)) <= 24 and len(lines) <= 12
    (flip,), (dot,), (noisy,) = rows_with(art, "[flip]"), rows_with(art, "*"), rows_with(art, "[noisy]")
    assert flip < dot < noisy
    star = lines[dot].index("*")
    start = lines[flip].index("[flip]")
    assert start < star < start + 5 and all(lines[r][star] == "|" for r in range(flip + 1, dot))


def test_ascii_swap_is_one_x_with_objects_in_swapped_order():
    art = ascii_art((F @ G) >> swap(A, B))
    assert art.count("X") == 1 and art.count("[f]") == 1 and art.count("[g]") == 1
    assert art.splitlines()[0].split() == ["A", "B"]
    assert art.splitlines()[-1].split() == ["B", "A"]


def test_ascii_delete_is_a_ground_mark():
    art = ascii_art(copy(A) >> (delete(A) @ F))
    assert art.count("⏚") == 1 and art.count("*") == 1
    assert art.splitlines()[-1].split() == ["A"]
    assert rows_with(art, "⏚")[0] > rows_with(art, "*")[0]


def test_ascii_two_tokens_chained():
    art = ascii_art(spec("bigram").kernels["two"])
    assert art.count("[emb]") == 2 and art.count("[head]") == 2 and art.count("*") == 1
    assert art.splitlines()[0].split() == ["Tok"]
    assert art.splitlines()[-1].split() == ["Tok", "Tok"]


def test_ascii_of_a_closed_box_and_of_nothing():
    assert ascii_art(Box("k", I, I)) == "[k]"
    assert ascii_art(identity(I)) == ""


def test_ascii_labels_never_run_together():
    long = Ty(Finite.range("LongObjectName", 2))
    art = ascii_art(identity(long @ long @ long))
    assert art.splitlines()[0].split() == ["LongObjectName"] * 3


# --- pictures ---------------------------------------------------------------------------------------

def svg_texts(path: Path) -> str:
    root = ET.parse(path).getroot()
    return " ".join("".join(e.itertext()) for e in root.iter() if e.tag.endswith("text"))


def test_svg_is_xml_with_box_labels_object_labels_and_title(tmp_path):
    out = render(joint(), tmp_path / "joint.svg")
    texts = svg_texts(out)
    for label in ("flip", "noisy", "Coin", "joint : I -> Coin @ Coin"):
        assert label in texts
    assert texts.count("Coin") >= 4  # the four wires, each labelled once, and the title


def test_png_opens_with_the_expected_size(tmp_path):
    import matplotlib.image
    out = render(joint(), tmp_path / "joint.png", title="a title")
    image = matplotlib.image.imread(out)
    height, width = image.shape[:2]
    assert 250 <= height <= 1000 and 200 <= width <= 800


def test_render_refuses_an_unknown_format_and_writes_nothing(tmp_path):
    with pytest.raises(BackendError, match=r"\.svg or \.png"):
        render(joint(), tmp_path / "joint.pdf")
    assert list(tmp_path.iterdir()) == []


def test_kernels_and_diagrams_display_inline_in_jupyter(tmp_path):
    """Jupyter shows ``_repr_svg_``: the same picture ``catlm draw`` writes to a file."""
    kernel = joint()
    shown = kernel._repr_svg_()
    assert shown == render(kernel, tmp_path / "joint.svg").read_text(encoding="utf-8")
    (tmp_path / "shown.svg").write_text(shown, encoding="utf-8")
    assert "joint : I -> Coin @ Coin" in svg_texts(tmp_path / "shown.svg")
    built = Box("f", A, B) >> copy(B)  # a Diagram made in Python, never type-checked by hand
    (tmp_path / "built.svg").write_text(built._repr_svg_(), encoding="utf-8")
    assert {"f", "A", "B"} <= set(svg_texts(tmp_path / "built.svg").split())


def test_draw_gives_a_picture_or_writes_the_file_like_discopy(tmp_path):
    picture = joint().draw(title="the joint")
    assert picture._repr_svg_() == picture.svg and "the joint" in picture.svg
    assert picture.save(tmp_path / "p.svg").read_text(encoding="utf-8") == picture.svg
    out = joint().draw(tmp_path / "joint.png")
    assert out == tmp_path / "joint.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_diagram_too_large_to_draw_quickly_shows_as_text():
    from catlm.drawing.render import MAX_INLINE
    chain = Box("f", A, A)
    for _ in range(MAX_INLINE):
        chain = chain >> Box("f", A, A)
    assert len(chain.generators) == MAX_INLINE + 1 and chain._repr_svg_() is None


def test_drawing_imports_without_matplotlib():
    code = "import sys, catlm.drawing; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


# --- the command ------------------------------------------------------------------------------------------

def test_cli_prints_ascii_for_one_kernel(capsys):
    assert main(["draw", str(EXAMPLES / "coin.cat"), "-k", "joint", "-o", "-"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "joint : I -> Coin @ Coin"
    assert out.count("[noisy]") == 1 and out.count("*") == 1


def test_cli_prints_every_kernel_without_k(capsys):
    assert main(["draw", str(EXAMPLES / "bigram.cat"), "-o", "-"]) == 0
    out = capsys.readouterr().out
    heads = [line for line in out.splitlines() if " : " in line]
    assert heads == ["emb : Tok -> H", "head : H -> Tok", "gen : Tok -> Tok", "gen2 : Tok -> Tok",
                     "two : Tok -> Tok @ Tok"]


def test_cli_default_writes_one_svg_per_kernel_here(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["draw", str(EXAMPLES / "coin.cat")]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["coin-flip.svg", "coin-joint.svg", "coin-noisy.svg", "coin-same.svg"]
    assert "noisy" in svg_texts(tmp_path / "coin-joint.svg")


def test_cli_single_file_draws_the_last_kernel(tmp_path, capsys):
    out = tmp_path / "pic.png"
    assert main(["draw", str(EXAMPLES / "lm.cat"), "-o", str(out)]) == 0
    assert list(tmp_path.iterdir()) == [out] and out.stat().st_size > 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"


def test_cli_folder_and_pattern(tmp_path, capsys):
    assert main(["draw", str(EXAMPLES / "coin.cat"), "-k", "same", "-o", str(tmp_path / "d")]) == 0
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["coin-same.svg"]
    pattern = str(tmp_path / "p" / "{stem}_{kernel}.png")
    assert main(["draw", str(EXAMPLES / "bigram.cat"), "-o", pattern]) == 0
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "bigram_emb.png", "bigram_gen.png", "bigram_gen2.png", "bigram_head.png", "bigram_two.png"]


def test_cli_unknown_kernel_lists_the_kernels(capsys):
    assert main(["draw", str(EXAMPLES / "coin.cat"), "-k", "nope", "-o", "-"]) == 1
    err = capsys.readouterr().err
    assert "unknown kernel 'nope'" in err and "flip, noisy, joint, same" in err
    assert "Traceback" not in err


def test_cli_bad_format_fails_before_drawing(tmp_path, capsys):
    assert main(["draw", str(EXAMPLES / "coin.cat"), "-o", str(tmp_path / "{kernel}.gif")]) == 1
    assert "unknown picture format '.gif'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_file_without_kernels(tmp_path, capsys):
    empty = tmp_path / "empty.cat"
    empty.write_text("object A = fin 2\n", encoding="utf-8")
    assert main(["draw", str(empty), "-o", "-"]) == 1
    assert "defines no kernels" in capsys.readouterr().err
