"""The import rules of DESIGN.md §2, read from the source of every module.

core imports no numpy, torch or lark; syntax never imports core; backends never import syntax;
only the elaboration stage reads both syntax and core; torch loads only where it is needed, so
``import catlm`` and every torch-free module import with torch unavailable.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "catlm"

# modules that may import torch at module level (they are only imported when torch is wanted)
TORCH_MODULES = ("catlm.models", "catlm.backends.torch", "catlm.decoding.sampling",
                 "catlm.decoding.runtime", "catlm.decoding.drafters", "catlm.decoding.kvcache",
                 "catlm.decoding.feature_head", "catlm.analysis.estimators",
                 "catlm.commands.train", "catlm.commands.sample", "catlm.commands.speculate",
                 "catlm.commands.analyze", "catlm.commands.demo", "catlm.demo")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Every module a file imports (inside functions too, unless ``top_level_only``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def uses(found: set[str], prefix: str) -> bool:
    return any(m == prefix or m.startswith(prefix + ".") for m in found)


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("catlm.core")])
def test_core_imports_no_numerics_and_no_syntax(name):
    found = imports(MODULES[name])
    for banned in ("numpy", "torch", "lark", "catlm.syntax", "catlm.backends", "catlm.elaborate"):
        assert not uses(found, banned), f"{name} imports {banned}"


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("catlm.syntax")])
def test_syntax_never_imports_core(name):
    found = imports(MODULES[name])
    for banned in ("catlm.core", "catlm.backends", "numpy", "torch"):
        assert not uses(found, banned), f"{name} imports {banned}"


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("catlm.backends")])
def test_backends_never_import_syntax(name):
    found = imports(MODULES[name])
    assert not uses(found, "catlm.syntax") and not uses(found, "lark"), name


@pytest.mark.parametrize("name", [m for m in MODULES if not m.startswith("catlm.elaborate")])
def test_only_elaboration_reads_both_syntax_and_core(name):
    found = imports(MODULES[name])
    assert not (uses(found, "catlm.syntax") and uses(found, "catlm.core")), name


def test_the_rules_see_real_imports():
    """The checker itself must find imports, or every rule above would pass vacuously."""
    found = imports(MODULES["catlm.elaborate"])
    assert uses(found, "catlm.syntax") and uses(found, "catlm.core")


@pytest.mark.parametrize("name", [m for m in MODULES if not m.startswith(TORCH_MODULES)])
def test_no_torch_at_module_level(name):
    assert not uses(imports(MODULES[name], top_level_only=True), "torch"), name


def test_catlm_imports_without_torch():
    """With torch made unimportable, catlm and every torch-free module still import."""
    names = [m for m in MODULES if not m.startswith(TORCH_MODULES) and m != "catlm.__main__"]
    code = ("import sys, importlib.abc\n"
            "class NoTorch(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ImportError('torch is blocked for this test')\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "import importlib\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "import catlm; print(len(catlm.__all__))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
