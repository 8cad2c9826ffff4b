"""catlm's one report writer: what it writes, and that no other module writes a report itself."""
from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from cycler import cycler
from matplotlib.colors import to_rgba

from catlm.analysis import report as report_module
from catlm.analysis.report import (
    Chapter,
    Figure,
    Report,
    Table,
    bar_plot,
    cell,
    grouped_bars,
    line_plot,
    markdown,
    markdown_table,
    plain,
    write_report,
)
from catlm.demo.plan import DemoConfig, Section
from catlm.demo.report import write_report as write_demo_report
from catlm.demo.workspace import Workspace

PACKAGE = Path(__file__).resolve().parents[1] / "catlm"
WRITER = PACKAGE / "analysis" / "report.py"


def test_a_report_folder_holds_its_tables_figures_chapters_and_plain_json(tmp_path):
    report = Report("T", ("a line",), (Table("numbers", ("x", "y|z"), ((1, 0.1 + 0.2), ("-", -0.0))),),
                    (Figure("f.png", "a figure"),), {"a": np.arange(3), "b": math.inf, "c": np.float32(2)},
                    (Chapter("First", "text one", (Figure("g.png", "g"),)), Chapter("Second", "text two")))
    out = write_report(report, tmp_path / "new" / "folder")
    lines = (out / "report.md").read_text(encoding="utf-8").splitlines()
    assert lines[:3] == ["# T", "", "a line"]
    assert "| x | y\\|z |" in lines and "| 1 | 0.3 |" in lines and "| - | 0 |" in lines
    assert lines.index("![a figure](f.png)") < lines.index("## 1. First") < lines.index("![g](g.png)") \
        < lines.index("## 2. Second")
    assert json.loads((out / "report.json").read_text()) == {"a": [0, 1, 2], "b": None, "c": 2.0}


def test_the_demo_report_is_written_by_the_one_writer(tmp_path):
    ws = Workspace(DemoConfig(corpus="x.txt"), tmp_path)
    sections = {"one": Section("Alpha", "α text", (Figure("a.png", "cap a"),), {"h": np.float64(1.5)}),
                "two": Section("Beta", "β text", (), {"n": np.int64(3)})}
    path = write_demo_report(sections, {"one": 1.25, "two": 2.0}, ws)
    text = path.read_text(encoding="utf-8")
    assert [line for line in text.splitlines() if line.startswith("## ")] == \
        ["## 1. Alpha", "## 2. Beta", "## 3. This run"]
    assert "![cap a](a.png)" in text and "| one | 1.2 |" in text and "3 s in all" in text
    data = json.loads((path.parent / "report.json").read_text())
    assert data["sections"] == {"one": {"h": 1.5}, "two": {"n": 3}} and data["figures"] == ["a.png"]


def _writes_a_report(tree: ast.AST) -> bool:
    """A ``write_text`` or ``open(..., "w")`` whose target names report.md or report.json."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (
                isinstance(node.func, ast.Attribute) and node.func.attr in ("write_text", "write_bytes")
                or isinstance(node.func, ast.Name) and node.func.id == "open"):
            target = node.func.value if isinstance(node.func, ast.Attribute) else node.args[0]
            names = {c.value for c in ast.walk(target) if isinstance(c, ast.Constant)}
            if names & {"report.md", "report.json"}:
                return True
    return False


def test_only_the_report_module_writes_report_files():
    writers = [p.relative_to(PACKAGE.parent).as_posix() for p in sorted(PACKAGE.rglob("*.py"))
               if _writes_a_report(ast.parse(p.read_text(encoding="utf-8")))]
    assert writers == ["catlm/analysis/report.py"]


# --- the exact text of hand-built reports ------------------------------------------------------------

def test_cells_print_six_significant_digits_and_escape_pipes():
    assert [cell(v) for v in (0.1 + 0.2, 1234567.0, 1e-7, -0.0, np.float32(1 / 3), np.float64(-2.5))] == \
        ["0.3", "1.23457e+06", "1e-07", "0", "0.333333", "-2.5"]
    assert [cell(v) for v in (math.nan, np.nan, math.inf, -math.inf)] == ["nan", "nan", "inf", "-inf"]
    assert [cell(v) for v in (7, np.int64(7), True, None, "a|b|c", "χ²")] == \
        ["7", "7", "True", "None", "a\\|b\\|c", "χ²"]


def test_a_report_prints_exactly_its_title_summary_tables_figures_and_chapters():
    """Units travel in the table as given: entropies in nats or bits, TV and χ² without a unit."""
    quantities = Table("Categorical entropies", ("quantity", "value", "unit"),
                       (("H̄_KL", 0.5, "nats"), ("H̄_KL", 0.5 / math.log(2), "bits"),
                        ("H̄_TV", 0.25, "unitless"), ("χ² statistic", math.nan, "unitless")))
    report = Report("Run A", ("line one", "line two"), (quantities, Table("Empty", ("k",), ())),
                    (Figure("a.png", "cap A"),), {},
                    (Chapter("Intro", "para one", (Figure("b.png", "cap B"),)), Chapter("End", "para two")))
    assert markdown(report) == "\n".join([
        "# Run A", "", "line one", "line two", "",
        "### Categorical entropies", "", "| quantity | value | unit |", "|---|---|---|",
        "| H̄_KL | 0.5 | nats |", "| H̄_KL | 0.721348 | bits |", "| H̄_TV | 0.25 | unitless |",
        "| χ² statistic | nan | unitless |", "",
        "### Empty", "", "| k |", "|---|", "",
        "![cap A](a.png)", "", "*cap A*", "",
        "## 1. Intro", "", "para one", "", "![cap B](b.png)", "", "*cap B*", "",
        "## 2. End", "", "para two", ""])
    assert markdown_table(Table("t", ("a", "b"), ((1, 2.0),))) == \
        ["### t", "", "| a | b |", "|---|---|", "| 1 | 2 |", ""]


def test_plain_makes_every_numpy_value_json_ready():
    data = {1: np.array([[1.5, np.nan], [np.inf, 2]]), "ints": np.arange(2), "tuple": (np.float32(0.5), -math.inf),
            "nested": {"flag": np.bool_(True), "n": np.int32(-3), "list": [np.float64(1.25), "s"]}, "none": None}
    out = plain(data)
    assert out == {"1": [[1.5, None], [None, 2.0]], "ints": [0, 1], "tuple": [0.5, None],
                   "nested": {"flag": True, "n": -3, "list": [1.25, "s"]}, "none": None}
    assert [type(x) for x in out["ints"]] == [int, int] and type(out["nested"]["n"]) is int
    assert type(out["nested"]["flag"]) is bool and type(out["tuple"][0]) is float
    assert type(out["nested"]["list"][0]) is float
    assert json.loads(json.dumps(out)) == out
    assert plain(np.array(2.5)) == 2.5 and plain(np.array(np.nan)) is None and plain(np.array(True)) is True
    assert plain(np.array([[np.int64(1), np.inf]], dtype=object)) == [[1, None]]


def test_write_report_creates_the_folder_overwrites_and_writes_utf8(tmp_path):
    report = Report("Entropie (nats)", ("H̄ = 0.5 nats; TV ≤ 1",), (), (),
                    {"H": np.float64(0.5), "x": [np.int64(2)]})
    out = write_report(report, str(tmp_path / "a" / "b"))
    assert out == tmp_path / "a" / "b"
    assert (out / "report.md").read_bytes().decode("utf-8") == "# Entropie (nats)\n\nH̄ = 0.5 nats; TV ≤ 1\n"
    assert (out / "report.json").read_text(encoding="utf-8") == '{\n "H": 0.5,\n "x": [\n  2\n ]\n}'
    again = write_report(Report("Second", (), (), (), {}), out)        # the folder exists: overwritten
    assert (again / "report.md").read_text(encoding="utf-8") == "# Second\n\n" and \
        (again / "report.json").read_text() == "{}"


# --- figures: what is drawn, and the PNG it is saved to ------------------------------------------------

def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk of a PNG file."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@pytest.fixture()
def drawn(monkeypatch):
    """The matplotlib figures handed to ``_save``, kept for inspection (then saved as usual)."""
    figures, save = [], report_module._save

    def keep(fig, out_dir, name, caption):
        figures.append(fig)
        return save(fig, out_dir, name, caption)
    monkeypatch.setattr(report_module, "_save", keep)
    return figures


def _legend(ax) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def test_bar_plot_draws_one_bar_per_entry_and_the_reference(tmp_path, drawn):
    figure = bar_plot(tmp_path / "f", "bars.png", {"a": 1.0, "b": 3.0, "c": 2.0}, title="T", ylabel="nats",
                      caption="cap", reference=("H(source)", 1.5))
    assert figure == Figure("bars.png", "cap") and _png_size(tmp_path / "f" / "bars.png") == (640, 420)
    ax = drawn[0].axes[0]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("T", "", "nats")
    assert [p.get_height() for p in ax.patches] == [1.0, 3.0, 2.0]
    assert [p.get_x() + p.get_width() / 2 for p in ax.patches] == [0, 1, 2]
    assert all(p.get_facecolor() == to_rgba("tab:blue") for p in ax.patches)
    labels = ax.get_xticklabels()
    assert [t.get_text() for t in labels] == ["a", "b", "c"] and list(ax.get_xticks()) == [0, 1, 2]
    assert {(t.get_rotation(), t.get_horizontalalignment()) for t in labels} == {(20.0, "right")}
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == [1.5, 1.5] and line.get_linestyle() == "--"
    assert to_rgba(line.get_color()) == to_rgba("tab:red") and line.get_label() == "H(source)"
    assert _legend(ax) == ["H(source)"]
    bar_plot(tmp_path / "new" / "folder", "plain.png", {"x": 0.5}, title="U", ylabel="TV (unitless)", caption="c")
    assert (tmp_path / "new" / "folder" / "plain.png").is_file()
    assert drawn[1].axes[0].get_lines() == [] and _legend(drawn[1].axes[0]) == []


def test_line_plot_draws_each_series_with_its_label_scale_and_reference(tmp_path, drawn):
    figure = line_plot(tmp_path, "lines.png", {"one": ([1, 2, 3], [4.0, 2.0, 1.0]), "two": ([1, 2], [3.0, 5.0])},
                       title="T", xlabel="K", ylabel="bits", caption="cap", log=True, reference=("limit", 0.5))
    assert figure == Figure("lines.png", "cap") and _png_size(tmp_path / "lines.png") == (640, 420)
    ax = drawn[0].axes[0]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale()) == ("T", "K", "bits", "log")
    one, two, ref = ax.get_lines()
    assert (list(one.get_xdata()), list(one.get_ydata()), one.get_marker()) == ([1, 2, 3], [4.0, 2.0, 1.0], ".")
    assert (list(two.get_xdata()), list(two.get_ydata())) == ([1, 2], [3.0, 5.0])
    assert list(ref.get_ydata()) == [0.5, 0.5] and ref.get_linestyle() == "--"
    assert to_rgba(ref.get_color()) == to_rgba("black")
    assert _legend(ax) == ["one", "two", "limit"]
    line_plot(tmp_path, "linear.png", {"s": ([0, 1], [1.0, 2.0])}, title="U", xlabel="x", ylabel="y", caption="c")
    assert drawn[1].axes[0].get_yscale() == "linear" and len(drawn[1].axes[0].get_lines()) == 1
    assert _legend(drawn[1].axes[0]) == ["s"]


def test_grouped_bars_sit_side_by_side_within_each_index(tmp_path, drawn):
    figure = grouped_bars(tmp_path, "groups.png", {"model": [10.0, 20.0, 30.0], "random": [40.0, 50.0, 60.0]},
                          title="Angles", ylabel="degrees", caption="cap")
    assert figure == Figure("groups.png", "cap") and _png_size(tmp_path / "groups.png") == (640, 420)
    ax = drawn[0].axes[0]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Angles", "index", "degrees")
    assert [p.get_height() for p in ax.patches] == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    np.testing.assert_allclose([p.get_width() for p in ax.patches], 0.4, atol=1e-15)
    # bar i of group g is centred at i + g * 0.4 (matplotlib centres each bar on its x)
    np.testing.assert_allclose([p.get_x() + p.get_width() / 2 for p in ax.patches],
                               [0, 1, 2, 0.4, 1.4, 2.4], atol=1e-12)
    assert _legend(ax) == ["model", "random"]
    grouped_bars(tmp_path, "one.png", {"only": [1.0]}, title="t", ylabel="y", caption="c")
    assert [p.get_width() for p in drawn[1].axes[0].patches] == [pytest.approx(0.8)]


def test_figures_keep_their_size_and_colours_under_another_matplotlib_style(tmp_path, drawn):
    """100 dpi and the named colours are set explicitly, not taken from the user's rcParams."""
    style = {"figure.dpi": 50, "savefig.dpi": "figure", "axes.prop_cycle": cycler(color=["green", "orange"])}
    with matplotlib.rc_context(style):
        bar_plot(tmp_path, "bars.png", {"a": 1.0}, title="T", ylabel="y", caption="c", reference=("r", 0.5))
        line_plot(tmp_path, "lines.png", {"s": ([0, 1], [1.0, 2.0])}, title="T", xlabel="x", ylabel="y",
                  caption="c", reference=("r", 1.5))
    assert _png_size(tmp_path / "bars.png") == _png_size(tmp_path / "lines.png") == (640, 420)
    bars, lines = drawn[0].axes[0], drawn[1].axes[0]
    assert bars.patches[0].get_facecolor() == to_rgba("tab:blue")
    assert to_rgba(bars.get_lines()[0].get_color()) == to_rgba("tab:red")
    assert to_rgba(lines.get_lines()[1].get_color()) == to_rgba("black")
