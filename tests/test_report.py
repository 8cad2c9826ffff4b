"""catlm's one report writer: what it writes, and that no other module writes a report itself."""
from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np

from catlm.analysis.report import Chapter, Figure, Report, Table, write_report
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
