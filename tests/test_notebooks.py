"""The tutorial notebooks execute without an error and print the values their text promises.

Each notebook runs with ``nbclient`` on the ``python3`` kernel (ipykernel) in a temporary folder;
the checks read the printed outputs: the Thm 5.1 gap, the exact speculative kernel, the laws.
Notebooks are stored executed, each with its figure, so they read on GitHub and in Jupyter
without running; the tests execute them again and check what they print.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="needs nbformat (pip install nbclient)")
nbclient = pytest.importorskip("nbclient", reason="needs nbclient (pip install nbclient)")
pytest.importorskip("ipykernel", reason="needs ipykernel for the python3 kernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_language.ipynb", "02_exact_kernels.ipynb", "03_entropy_nll.ipynb",
         "04_surplus_speculative.ipynb", "05_geometry_alignment.ipynb", "06_training.ipynb"]


def execute(name: str, tmp_path: Path) -> str:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=180,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    assert any({"image/png", "image/svg+xml"} & set(o.get("data", {})) for o in outputs), f"{name} drew nothing"
    return "\n".join(_text(output) for output in outputs)


def _text(output) -> str:
    return output.get("text", "") or output.get("data", {}).get("text/plain", "")


@pytest.mark.parametrize("name", NAMES)
def test_stored_executed_with_a_figure(name):
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    # executed top to bottom in one kernel, without an error
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    outputs = [o for c in code for o in c["outputs"]]
    assert not any(o["output_type"] == "error" for o in outputs)
    figures = [o for o in outputs if {"image/png", "image/svg+xml"} & set(o.get("data", {}))]
    assert figures, f"{name} shows no figure"
    # notebooks call catlm; they define no library code of their own
    assert not any(re.search(r"^\s*(def|class) ", "".join(c["source"]), re.M) for c in code)


@pytest.mark.slow
def test_01_language(tmp_path):
    out = execute("01_language.ipynb", tmp_path)
    assert "joint : I -> Coin @ Coin" in out
    assert "all as stated: True" in out and "B is not A" in out


@pytest.mark.slow
def test_02_exact_kernels(tmp_path):
    out = execute("02_exact_kernels.ipynb", tmp_path)
    # p = 1/3: (1/3)(9/10), (1/3)(1/10), (2/3)(1/5), (2/3)(4/5), printed as a labelled table
    assert "   heads,heads  heads,tails  tails,heads  tails,tails\nI         3/10         1/30         2/15         8/15" in out
    assert "total mass: 1" in out and "(27, 27) True True" in out
    assert "equals gen @ gen: True" in out


@pytest.mark.slow
def test_03_entropy_nll(tmp_path):
    out = execute("03_entropy_nll.ipynb", tmp_path)
    gap = float(re.search(r"CE - KL - H = (\S+)", out).group(1))
    assert abs(gap) < 1e-12
    assert "= Shannon: True" in out and "Gini-Simpson: True" in out
    assert "the minimiser is the data kernel: True" in out
    assert "CE = KL + H along the path: True" in out


@pytest.mark.slow
def test_04_surplus_speculative(tmp_path):
    out = execute("04_surplus_speculative.ipynb", tmp_path)
    for value, bound in re.findall(r"surplus (\S+) <= bound (\S+)", out):
        assert float(value) <= float(bound)
    assert "output kernel == target: True" in out
    assert "['5/6', '13/20']" in out      # Σ min(p, q): 1/3 + 1/3 + 1/6 and 1/5 + 1/4 + 1/5
    assert "acceptance = 1 - TV exactly: True" in out


@pytest.mark.slow
def test_05_geometry_alignment(tmp_path):
    out = execute("05_geometry_alignment.ipynb", tmp_path)
    assert "g* = E[score scoreᵀ]: True" in out and "numerical_rank=4" in out
    assert "block feature angles (deg): [0. 0.]" in out


@pytest.mark.slow
def test_06_training(tmp_path):
    out = execute("06_training.ipynb", tmp_path)
    assert "object Tok = fin 28" in out and "DiagramModule" in out
    assert "learned: True" in out
