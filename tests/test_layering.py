"""The layer table of docs/architecture.md, checked on the transitive import graph of the source.

Every module's imports are read with ``ast`` (module level and inside functions alike; a lazy
re-export ``from catlm.models import GPT`` counts as an import of the module that defines ``GPT``;
``importlib.import_module("...")`` with a literal name counts too). A module *reaches* everything
its imports reach, transitively. Each row of ``LAYERS`` names what a package may reach; no two
packages may reach each other (no cycles between packages); a failure prints the import chain.
torch loads only where it is needed: ``import catlm`` and every torch-free module import with
torch unavailable, and no torch-free module reaches torch at module level.
"""
from __future__ import annotations

import ast
import re
from collections import deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import networkx as nx
import pytest

from no_torch import run_without_torch

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "catlm"

# modules that may import torch at module level (they are only imported when torch is wanted)
TORCH_MODULES = ("catlm.models", "catlm.runs", "catlm.backends.torch", "catlm.decoding.sampling",
                 "catlm.decoding.runtime", "catlm.decoding.drafters", "catlm.decoding.kvcache",
                 "catlm.decoding.feature_head", "catlm.analysis.estimators",
                 "catlm.commands.train", "catlm.commands.sample", "catlm.commands.speculate",
                 "catlm.commands.analyze", "catlm.commands.demo", "catlm.demo")

# everything may import these: the error family, the lazy-export helper, the Markov-kernel check
FOUNDATION = frozenset({"catlm", "catlm.errors", "catlm.lazy", "catlm.stochastic"})
NUMERICAL = frozenset({"catlm.models", "catlm.decoding", "catlm.analysis", "catlm.data"})


@dataclass(frozen=True)
class Layer:
    """A row of the table: the packages of a layer, what they may reach and what never."""

    packages: frozenset[str]
    may: frozenset[str]           # catlm packages reachable besides FOUNDATION and the layer's own
    never: frozenset[str] = frozenset()  # third-party top-level modules never reached


def layer(packages, may=(), never=()) -> Layer:
    return Layer(frozenset(packages), frozenset(may), frozenset(never))


# docs/architecture.md, "Layers", bottom to top
LAYERS = {
    "stochastic": layer({"catlm.stochastic"}, never={"torch", "lark", "scipy"}),
    "core": layer({"catlm.core"}, never={"numpy", "torch", "lark"}),
    "syntax": layer({"catlm.syntax"}, never={"numpy", "torch"}),
    "elaborate": layer({"catlm.elaborate"}, {"catlm.syntax", "catlm.core"}, never={"torch"}),
    "numerical": layer(NUMERICAL, {"catlm.core"} | NUMERICAL, never={"lark"}),
    "backends": layer({"catlm.backends"}, {"catlm.core", "catlm.models"}, never={"lark"}),
    "drawing": layer({"catlm.drawing"}, {"catlm.core"}, never={"lark", "torch"}),
    "laws": layer({"catlm.laws", "catlm.inference", "catlm.countermodels"},
                  {"catlm.core", "catlm.backends"}, never={"lark"}),
    "runs": layer({"catlm.runs"}, {"catlm.core", "catlm.syntax", "catlm.elaborate", "catlm.backends"}
                  | NUMERICAL),
    "experiments": layer({"catlm.experiments"}, {"catlm.core"} | NUMERICAL, never={"lark"}),
    "convert": layer({"catlm.convert"}, {"catlm.core", "catlm.syntax", "catlm.elaborate", "catlm.backends",
                                         "catlm.runs"} | NUMERICAL),
}
# catlm.backends reaches catlm.models only through the torch backend, which it loads on demand
TORCH_BACKEND = ("catlm.backends.torch",)
# the application: catlm.demo, catlm.cli, catlm.commands.* (and __main__) may import everything
APPLICATION = frozenset({"catlm.demo", "catlm.cli", "catlm.commands", "catlm.__main__",
                         "catlm.pytest_plugin"})


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def package(module: str) -> str:
    """The layer unit of a module: ``catlm.backends.torch`` -> ``catlm.backends``."""
    return ".".join(module.split(".")[:2])


@cache
def lazy_exports(module: str) -> dict[str, str]:
    """The ``_EXPORTS`` table (name -> defining module) of a package using ``catlm.lazy``."""
    for node in ast.parse(MODULES[module].read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            return _table(node.value)
    return {}


def _table(node: ast.expr) -> dict[str, str]:
    """A literal dict, with ``**dict.fromkeys([names], module)`` entries expanded."""
    table = {}
    for key, value in zip(node.keys, node.values):
        if key is None:  # **dict.fromkeys([...], "module")
            names, module = (ast.literal_eval(arg) for arg in value.args)
            table |= dict.fromkeys(names, module)
        else:
            table[ast.literal_eval(key)] = ast.literal_eval(value)
    return table


def resolve(name: str) -> str | None:
    """The catlm module that ``import name`` runs (the longest known prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@dataclass(frozen=True)
class Imports:
    catlm: frozenset[str]      # catlm modules
    external: frozenset[str]   # top-level names of other distributions


@cache
def imports(module: str, top_level_only: bool = False) -> Imports:
    """What one module imports (inside functions too, unless ``top_level_only``)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            target = resolve(node.module)
            for alias in node.names:
                lazy = lazy_exports(target).get(alias.name) if target == node.module else None
                names.add(lazy or f"{node.module}.{alias.name}")
        elif (not top_level_only and isinstance(node, ast.Call) and _is_import_module(node.func)
              and node.args and isinstance(node.args[0], ast.Constant)):
            names.add(node.args[0].value)
    own = {resolve(n) for n in names if n.split(".")[0] == "catlm"} - {None, module}
    return Imports(frozenset(own), frozenset(n.split(".")[0] for n in names) - {"catlm"})


def missing_imports(module: str) -> set[str]:
    """catlm modules a module imports that do not exist (a moved module's stale importers)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    named = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    named |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    return {name for name in named if name.split(".")[0] == "catlm" and name not in MODULES}


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module"
            or isinstance(func, ast.Name) and func.id == "import_module")


def chains(start: str, top_level_only: bool = False,
           through: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Every catlm module ``start`` reaches, with one shortest import chain to it; the modules
    starting with a prefix in ``through`` are reached but not followed."""
    found = {start: (start,)}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        if current != start and current.startswith(through):
            continue
        for nxt in sorted(imports(current, top_level_only).catlm):
            if nxt not in found:
                found[nxt] = found[current] + (nxt,)
                queue.append(nxt)
    return found


def external_chains(start: str, top_level_only: bool = False) -> dict[str, tuple[str, ...]]:
    """Every third-party top-level module ``start`` reaches, with a chain ending at it."""
    found: dict[str, tuple[str, ...]] = {}
    for module, chain in chains(start, top_level_only).items():
        for name in imports(module, top_level_only).external:
            if name not in found or len(chain) < len(found[name]):
                found[name] = chain + (name,)
    return found


def reachable_packages(key: str) -> frozenset[str]:
    """What a layer may reach: its row, and what the rows of the packages it names allow them."""
    allowed, todo = set(FOUNDATION | LAYERS[key].packages), set(LAYERS[key].may)
    while todo:
        name = todo.pop()
        allowed.add(name)
        todo |= {m for row in LAYERS.values() if name in row.packages for m in row.may} - allowed
    return frozenset(allowed)


def violations(key: str) -> list[str]:
    row = LAYERS[key]
    allowed = reachable_packages(key)
    found = []
    for module in (m for m in MODULES if package(m) in row.packages):
        for target, chain in chains(module).items():
            if package(target) not in allowed and all(package(m) in allowed for m in chain[:-1]):
                found.append(" -> ".join(chain))
        for name, chain in external_chains(module).items():
            if name in row.never:
                found.append(" -> ".join(chain))
    return sorted(found)


@pytest.mark.parametrize("key", LAYERS)
def test_every_layer_reaches_only_what_the_table_allows(key):
    bad = violations(key)
    assert not bad, f"{key} reaches what docs/architecture.md forbids:\n" + "\n".join(bad[:20])


def test_backends_reach_models_only_through_the_torch_backend():
    """The torch backend's arrow map is catlm.models' registry; the rest of catlm.backends (the
    FinStoch functor, the rings, the generators' tensors) never reaches catlm.models."""
    bad = [" -> ".join(chain) for module in MODULES if package(module) == "catlm.backends"
           and not module.startswith(TORCH_BACKEND)
           for target, chain in chains(module, through=TORCH_BACKEND).items()
           if package(target) == "catlm.models"]
    assert not bad, "\n".join(sorted(bad))


def test_every_package_has_a_row():
    rows = set().union(*(row.packages for row in LAYERS.values()))
    missing = {package(m) for m in MODULES} - rows - FOUNDATION - APPLICATION
    assert not missing, f"add these packages to the layer table: {sorted(missing)}"


def named_modules(module: str) -> set[str]:
    """Modules a module names in a string (tables loaded with importlib: commands, experiments)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in MODULES}


def test_every_module_is_reached_from_the_public_surface_or_documented():
    """No dead module: each is reached from ``catlm``'s or a package's lazy exports, the console
    script and the tables of modules it loads by name, or is named in docs/ (a module users
    import by name, e.g. catlm.inference)."""
    setup = (ROOT / "setup.cfg").read_text(encoding="utf-8")   # console script, pytest plugin
    roots = {"catlm.__main__"} | {m for m in re.findall(r"= *([\w.]+)", setup) if m in MODULES}
    for module, path in MODULES.items():
        if path.name == "__init__.py":
            roots |= {module} | set(lazy_exports(module).values())
    docs = " ".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").rglob("*.md"))
    roots |= {m for m in MODULES if re.search(rf"`{re.escape(m)}[`.(]", docs)}
    reached: set[str] = set()
    while roots - reached:
        new = set().union(*(chains(root) for root in roots - reached))
        reached |= new
        roots |= set().union(*(named_modules(m) for m in new))
    assert not set(MODULES) - reached, f"dead modules: {sorted(set(MODULES) - reached)}"


def package_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for module in MODULES:
        for target in imports(module).catlm:
            if package(target) != package(module):
                graph.add_edge(package(module), package(target), via=(module, target))
    return graph


def test_no_cycles_between_packages():
    graph = package_graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    edges = [f"{a} -> {b} ({' imports '.join(graph.edges[a, b]['via'])})"
             for c in cycles for a, b in graph.subgraph(c).edges]
    assert not cycles, f"packages import each other: {cycles}\n" + "\n".join(sorted(edges))


def test_every_catlm_import_names_a_module():
    stale = {module: sorted(found) for module in MODULES if (found := missing_imports(module))}
    assert not stale, f"imports of modules that do not exist: {stale}"


def test_the_checker_sees_transitive_lazy_and_dynamic_imports():
    """The rules above pass vacuously unless the reader finds real edges of every kind."""
    assert {"catlm.syntax.parser", "catlm.core.check"} <= set(chains("catlm.elaborate"))
    assert "catlm.lark" not in chains("catlm.elaborate") and "lark" in external_chains("catlm.elaborate")
    # a re-export through catlm/__init__.py's lazy table is an import of the defining module
    assert lazy_exports("catlm")["parse"] == "catlm.elaborate"
    assert lazy_exports("catlm.decoding")["acceptance_rate"] == "catlm.decoding.exact"
    # functor loads the torch backend with importlib, only when asked: a function-level edge
    assert "catlm.backends.torch" in imports("catlm.backends.functor").catlm
    assert "catlm.backends.torch" not in imports("catlm.backends.functor", top_level_only=True).catlm


def test_a_cycle_and_a_forbidden_chain_are_reported(monkeypatch, tmp_path):
    """A planted upward import shows up as a violation with its chain and as a package cycle."""
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from catlm.commands.check import run\n", encoding="utf-8")
    monkeypatch.setitem(MODULES, "catlm.core.planted", planted)
    imports.cache_clear()
    try:
        assert any(v.startswith("catlm.core.planted -> catlm.commands.check") for v in violations("core"))
        with pytest.raises(AssertionError, match="packages import each other"):
            test_no_cycles_between_packages()
    finally:
        imports.cache_clear()


@pytest.mark.parametrize("name", [m for m in MODULES if not m.startswith(TORCH_MODULES)])
def test_torch_free_modules_reach_no_torch_at_module_level(name):
    chain = external_chains(name, top_level_only=True).get("torch")
    assert chain is None, " -> ".join(chain)


def test_catlm_imports_without_torch():
    """With torch made unimportable, catlm and every torch-free module still import."""
    names = [m for m in MODULES if not m.startswith(TORCH_MODULES) and m != "catlm.__main__"]
    result = run_without_torch("import importlib\n"
                               f"for name in {names!r}:\n"
                               "    importlib.import_module(name)\n"
                               "import catlm; print(len(catlm.__all__))\n")
    assert result.returncode == 0, result.stderr[-2000:]
