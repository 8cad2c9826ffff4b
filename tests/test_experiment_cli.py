"""``catlm experiment NAME``: the experiments are a module of the package, run from the CLI."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from catlm.cli import main
from catlm.errors import SpecError
from catlm.experiments import EXPERIMENTS, run_experiment
from catlm.experiments.settings import Settings

PACKAGE = Path(__file__).resolve().parents[1] / "catlm" / "experiments"


def test_experiment_command_writes_the_report_folder(tmp_path, capsys):
    code = main(["experiment", "dirichlet_energy", "--quick", "--synthetic", "--out", str(tmp_path)])
    folder = tmp_path / "dirichlet_energy"
    assert code == 0 and capsys.readouterr().out.strip() == f"report written to {folder / 'report.md'}"
    data = json.loads((folder / "report.json").read_text())
    assert data["quick"] is True and data["synthetic"] is True and data["seed"] == 0
    assert {row["kernel"] for row in data["rows"]} == {"bhattacharyya", "linear"}
    assert (folder / "energy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_experiment_module_has_a_run_and_its_name_in_the_table():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "settings", "sources", "free_features"}
    assert modules == set(EXPERIMENTS)
    assert all(f"catlm.experiments.{name}" == module for name, module in EXPERIMENTS.items())


def test_unknown_experiment_is_a_catlm_error_listing_the_names():
    with pytest.raises(SpecError, match="no experiment named 'nope'") as err:
        run_experiment("nope", Settings())
    assert "dirichlet_energy" in err.value.hint


def _defines_or_patches(tree: ast.AST) -> set[str]:
    found = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "log_softmax"}
    found |= {"sys.path" for n in ast.walk(tree)
              if isinstance(n, ast.Attribute) and n.attr == "path" and getattr(n.value, "id", "") == "sys"}
    return found


def test_experiments_use_the_library_and_no_path_tricks():
    """No ``sys.path`` edits and no private ``log_softmax``: scipy's is the one they use."""
    bad = {p.name: found for p in sorted(PACKAGE.glob("*.py"))
           if (found := _defines_or_patches(ast.parse(p.read_text(encoding="utf-8"))))}
    assert not bad
