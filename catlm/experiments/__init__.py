"""The experiments behind the paper's claims 13–17 (as numbered in docs/paper.md), one module each.

Each module has ``run(settings) -> Path``: it computes its table and figures from a synthetic
source (``--synthetic``) and, unless asked not to, from a text corpus, and writes
``OUT/NAME/report.md``, its PNGs and ``report.json`` with catlm's report writer. The command line
is ``catlm experiment NAME [--quick] [--synthetic] [--corpus PATH] [--out DIR] [--seed N]``.

>>> sorted(EXPERIMENTS)[:2]
['cca_surrogate', 'dirichlet_energy']
"""
from __future__ import annotations

import importlib
from pathlib import Path

from catlm.errors import SpecError

# experiment name -> module; the claim of docs/paper.md each one tests is the first line of its docstring
EXPERIMENTS = {
    "dirichlet_energy": "catlm.experiments.dirichlet_energy",        # claim 13
    "spectral_alignment": "catlm.experiments.spectral_alignment",    # claim 14
    "cca_surrogate": "catlm.experiments.cca_surrogate",              # claim 15
    "entropy_convergence": "catlm.experiments.entropy_convergence",  # claim 16
    "drafter_entropy": "catlm.experiments.drafter_entropy",          # claim 17 (trains a GPT: torch)
}


def run_experiment(name: str, settings) -> Path:
    """Run one experiment by name; returns its report folder."""
    if name not in EXPERIMENTS:
        raise SpecError(f"no experiment named {name!r}",
                        hint=f"choose from {', '.join(sorted(EXPERIMENTS))}")
    return importlib.import_module(EXPERIMENTS[name]).run(settings)
