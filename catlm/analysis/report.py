"""catlm's one report writer: a folder with ``report.md`` (tables, figures, chapters), PNGs and ``report.json``.

The presentation stage of ``catlm analyze``, ``catlm demo`` and ``catlm experiment``: numbers come
in as plain tables and series, go out as Markdown, JSON and matplotlib figures (Agg canvas,
imported only when a figure is drawn). A report is a title, summary lines, tables and figures,
then numbered chapters (the demo's sections). Nothing here computes a quantity.

>>> import json, tempfile
>>> report = Report("demo", ("one line",), (Table("t", ("name", "value"), (("H", 0.5),)),), (), {"H": 0.5})
>>> print(markdown(report).splitlines()[6])
| name | value |
>>> out = write_report(report, tempfile.mkdtemp())
>>> json.loads((out / "report.json").read_text())["H"]
0.5
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple
    rows: tuple


@dataclass(frozen=True)
class Figure:
    file: str          # relative to the report folder
    caption: str


@dataclass(frozen=True)
class Chapter:
    title: str
    markdown: str      # paragraphs of Markdown, tables already rendered
    figures: tuple = ()


@dataclass(frozen=True)
class Report:
    title: str
    summary: tuple     # lines of text
    tables: tuple
    figures: tuple
    data: dict
    chapters: tuple = ()  # numbered ``## 1. title`` after the tables and figures


def cell(value) -> str:
    """A table cell: floats to 6 significant digits, everything else as text; ``|`` escaped."""
    if isinstance(value, (float, np.floating)):
        return "nan" if math.isnan(value) else f"{value + 0.0:.6g}"  # + 0.0: no "-0"
    return str(value).replace("|", "\\|")


def markdown_table(table: Table) -> list[str]:
    lines = [f"### {table.title}", "", "| " + " | ".join(map(cell, table.header)) + " |",
             "|" + "---|" * len(table.header)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.rows] + [""]


def markdown(report: Report) -> str:
    lines = [f"# {report.title}", "", *report.summary, ""]
    for table in report.tables:
        lines += markdown_table(table)
    lines += _figures(report.figures)
    for i, chapter in enumerate(report.chapters, 1):
        lines += [f"## {i}. {chapter.title}", "", chapter.markdown, "", *_figures(chapter.figures)]
    return "\n".join(lines)


def _figures(figures) -> list[str]:
    return [line for f in figures for line in (f"![{f.caption}]({f.file})", "", f"*{f.caption}*", "")]


def plain(value):
    """JSON-ready: arrays to lists, numpy scalars to Python numbers and bools, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return plain(value.tolist())   # nested lists of Python scalars; a 0-d array gives its scalar
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer, np.bool_)):   # json refuses numpy's bool
        return value.item()
    return value


def write_report(report: Report, out_dir) -> Path:
    """Write ``report.md`` and ``report.json`` into ``out_dir`` (figures are already there);
    returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    (out / "report.json").write_text(json.dumps(plain(report.data), indent=1), encoding="utf-8")
    return out


# --- figures ---------------------------------------------------------------------------------------

def _axes(title: str, xlabel: str, ylabel: str, size=(6.4, 4.2)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure
    fig = MplFigure(figsize=size)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return fig, ax


def _save(fig, out_dir, name: str, caption: str) -> Figure:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / name, dpi=100)
    return Figure(name, caption)


def bar_plot(out_dir, name: str, bars: dict, *, title: str, ylabel: str, caption: str,
             reference: tuple | None = None) -> Figure:
    """One bar per entry of ``bars``; ``reference`` = (label, value) draws a dashed line."""
    fig, ax = _axes(title, "", ylabel)
    ax.bar(range(len(bars)), list(bars.values()), color="tab:blue")
    ax.set_xticks(range(len(bars)), list(bars), rotation=20, ha="right")
    if reference is not None:
        ax.axhline(reference[1], color="tab:red", linestyle="--", label=reference[0])
        ax.legend()
    return _save(fig, out_dir, name, caption)


def line_plot(out_dir, name: str, series: dict, *, title: str, xlabel: str, ylabel: str,
              caption: str, log: bool = False, reference: tuple | None = None) -> Figure:
    """One line per entry of ``series``: label -> (x, y)."""
    fig, ax = _axes(title, xlabel, ylabel)
    for label, (x, y) in series.items():
        ax.plot(x, y, marker=".", label=label)
    if log:
        ax.set_yscale("log")
    if reference is not None:
        ax.axhline(reference[1], color="black", linestyle="--", label=reference[0])
    ax.legend()
    return _save(fig, out_dir, name, caption)


def grouped_bars(out_dir, name: str, groups: dict, *, title: str, ylabel: str, caption: str
                 ) -> Figure:
    """Groups side by side: label -> values (same length for every group)."""
    fig, ax = _axes(title, "index", ylabel)
    width = 0.8 / max(len(groups), 1)
    for i, (label, values) in enumerate(groups.items()):
        ax.bar(np.arange(len(values)) + i * width, values, width, label=label)
    ax.legend()
    return _save(fig, out_dir, name, caption)
