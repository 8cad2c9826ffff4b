"""What every experiment is run with, and where its report goes.

>>> Settings(quick=True, out="/tmp/x").folder("dirichlet_energy")
PosixPath('/tmp/x/dirichlet_energy')
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catlm.analysis.report import Report, Table, write_report


@dataclass(frozen=True)
class Settings:
    quick: bool = False         # a small run of a few seconds
    synthetic: bool = False     # synthetic sources only (no corpus)
    corpus: str = "shakespeare"  # a text file, or the word "shakespeare" (catlm.data.corpus)
    out: str = "reports/experiments"
    seed: int = 0

    def folder(self, name: str) -> Path:
        return Path(self.out) / name


def finish(settings: Settings, name: str, title: str, summary: list[str], table: Table,
           figures: list, data: dict) -> Path:
    """Write OUT/NAME/report.md (table + figures) and report.json; returns the folder."""
    data = {"quick": settings.quick, "synthetic": settings.synthetic, "seed": settings.seed, **data}
    return write_report(Report(title, tuple(summary), (table,), tuple(figures), data),
                        settings.folder(name))
