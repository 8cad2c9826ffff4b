"""``catlm demo``: the paper's story told on real text, as a report folder (Markdown, PNG, JSON).

The sections form a table, ``SECTIONS``; each is a function ``(Workspace) -> Section`` that
computes its numbers in this run and draws its figures. In order: the bundled ``.cat`` specs
checked, drawn and their laws decided exactly; the exact order-r source of the corpus; a character
LM compiled from ``examples/char.cat`` and trained; its NLL against the data's entropy (Thm 5.1);
the information surplus by K; the g* spectrum of its head; spectral alignment against baselines;
speculative decoding (Zhang, arXiv 2507.19247, §4–§7); a pretrained LLM (SmolLM2) when installed. A section whose component is not
installed says so in the report instead of showing numbers.

>>> list(SECTIONS)
['language', 'source', 'training', 'nll', 'surplus', 'metric', 'alignment', 'speculative', 'pretrained']
>>> print(unavailable("training", ModuleNotFoundError("No module named 'torch'", name="torch")).markdown)
Not in this report: the component `torch` is not installed (No module named 'torch').
"""
from __future__ import annotations

import time
from pathlib import Path

from catlm.demo import exact, learned, pretrained, speculative
from catlm.demo.plan import FULL, QUICK, DemoConfig, Figure, Section
from catlm.demo.report import write_report
from catlm.demo.workspace import Workspace, say

__all__ = ["DemoConfig", "FULL", "QUICK", "Figure", "Section", "SECTIONS", "TITLES", "run_demo",
           "unavailable"]

# name -> the section's function, in the order of the story
SECTIONS = {"language": exact.language, "source": exact.source, "training": learned.training,
            "nll": learned.nll, "surplus": exact.surplus, "metric": learned.metric,
            "alignment": learned.alignment, "speculative": speculative.speculative,
            "pretrained": pretrained.pretrained}
# name -> title, for sections that could not run
TITLES = {"language": "The language: bundled specs checked, drawn, laws decided",
          "source": "The exact order-r source of the corpus",
          "training": "A character LM compiled from .cat and trained",
          "nll": "NLL vs the data's entropy (Thm 5.1)", "surplus": "Information surplus by K",
          "metric": "The g* spectrum of the trained head",
          "alignment": "Spectral alignment against untrained and random baselines",
          "speculative": "Speculative decoding", "pretrained": pretrained.TITLE}


def run_demo(config: DemoConfig = FULL, out: str | Path = "reports/demo") -> Path:
    """Run every section into the folder ``out``; returns the path of ``report.md``."""
    ws = Workspace(config, out)
    ws.out.mkdir(parents=True, exist_ok=True)
    say(f"reading the corpus ({config.corpus}) ...")
    say(f"  {len(ws.tokens):,} characters, alphabet of {ws.vocab}")
    sections, seconds = {}, {}
    for i, (name, section) in enumerate(SECTIONS.items(), 1):
        say(f"[{i}/{len(SECTIONS)}] {TITLES[name]}")
        started = time.perf_counter()
        sections[name] = _run(name, section, ws)
        seconds[name] = time.perf_counter() - started
    return write_report(sections, seconds, ws)


def _run(name: str, section, ws: Workspace) -> Section:
    try:
        return section(ws)
    except ModuleNotFoundError as missing:   # an optional component (torch) is absent
        return unavailable(name, missing)


def unavailable(name: str, missing: ModuleNotFoundError) -> Section:
    """The section that says plainly which component is missing (never made-up numbers)."""
    return Section(TITLES[name], f"Not in this report: the component `{missing.name}` is not "
                                 f"installed ({missing}).", (), {"unavailable": str(missing)})
