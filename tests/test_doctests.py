"""Every ``>>>`` example in catlm's module docstrings runs and prints what it says."""
from __future__ import annotations

import doctest
import importlib
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (ROOT / "catlm").rglob("*.py") if p.name != "__main__.py")


# modules without examples, each with the reason: a CLI subcommand is shown in docs/cli.md and run
# by the CLI tests; a package's __init__ only re-exports
WITHOUT_EXAMPLES = {
    **dict.fromkeys(["catlm.cli", "catlm.commands.analyze", "catlm.commands.check", "catlm.commands.eval",
                     "catlm.commands.laws", "catlm.commands.sample", "catlm.commands.speculate",
                     "catlm.commands.train", "catlm.commands.convert", "catlm.commands.score",
                     "catlm.commands.generate"],
                    "a CLI subcommand: docs/cli.md and the CLI tests"),
    **dict.fromkeys(["catlm.commands", "catlm.core", "catlm.data"], "a package that only re-exports"),
    "catlm.commands.experiment": "a CLI subcommand: docs/cli.md and tests/test_experiments.py",
    **dict.fromkeys([f"catlm.experiments.{name}" for name in ("cca_surrogate", "dirichlet_energy",
                     "drafter_entropy", "entropy_convergence", "spectral_alignment")],
                    "an experiment: run end to end by tests/test_experiments.py"),
    "catlm.pytest_plugin": "a pytest plugin: exercised by tests/test_pytest_plugin.py",
    "catlm.demo.pretrained": "needs a packaged pretrained model: run by the demo and its tests",
}


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name, tmp_path, monkeypatch):
    # examples write to tempfile.mkdtemp(), as a reader would; here those folders land in tmp_path,
    # which pytest removes, instead of piling up in the system's temporary folder
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    # a module with no example passes testmod vacuously: only the listed ones may have none
    assert result.attempted > 0 or name in WITHOUT_EXAMPLES, f"{name} has no >>> example"


def test_examples_leave_nothing_in_the_system_temporary_folder(tmp_path, monkeypatch):
    system = Path(tempfile.gettempdir())
    before = set(system.iterdir())
    for name in ("catlm.drawing.render", "catlm.data.corpus", "catlm.runs.folder"):
        (tmp_path / name).mkdir()
        test_module_examples(name, tmp_path / name, monkeypatch)
    assert set(system.iterdir()) - before == set()
