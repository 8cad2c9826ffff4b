"""Writing the demo's report: ``report.md`` (the story with its figures) and ``report.json``.

The presentation stage of ``catlm demo``: sections arrive computed; this module only arranges
them (an introduction, one chapter per section with its figures embedded by relative path, the
run's settings and timings) for catlm's one report writer, ``catlm.analysis.report``.

>>> import json, tempfile
>>> from catlm.demo.plan import DemoConfig, Section
>>> from catlm.demo.workspace import Workspace
>>> ws = Workspace(DemoConfig(corpus="x.txt"), tempfile.mkdtemp())
>>> path = write_report({"source": Section("A title", "Some text.", (), {"h": 1.5})}, {"source": 0.1}, ws)
>>> "## 1. A title" in path.read_text(), json.loads((path.parent / "report.json").read_text())["sections"]["source"]
(True, {'h': 1.5})
"""
from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

from catlm.analysis.report import Chapter, Report, write_report as write

INTRO = (
    "A language model's single step is a composite of Markov kernels, "
    "k_gen = k_head ∘ k_bb ∘ k_emb, in the category Stoch (Zhang, *A Markov Categorical "
    "Framework for Language Modeling*, arXiv 2507.19247). This report follows that framework on "
    "real text: it writes kernels as `.cat` specs and decides their laws, measures the exact "
    "entropy of the corpus, trains a character model compiled from a spec, and then checks the "
    "paper's claims on it — the NLL = KL + entropy identity, the information surplus that "
    "motivates multi-token drafting, the geometry of the head, spectral alignment, and "
    "speculative decoding. Every number and figure below was computed in this run.")


TITLE = "catlm demo: a Markov categorical language model on real text"


def write_report(sections: dict, seconds: dict, ws) -> Path:
    """Write ``report.md`` and ``report.json`` into ``ws.out``; returns the Markdown's path."""
    chapters = [Chapter(s.title, s.markdown, s.figures) for s in sections.values()]
    data = {"config": dataclasses.asdict(ws.config), "seconds": seconds,
            "sections": {name: s.data for name, s in sections.items()},
            "figures": [f.file for s in sections.values() for f in s.figures]}
    report = Report(TITLE, (INTRO,), (), (), data, (*chapters, _this_run(ws, seconds)))
    return write(report, ws.out) / "report.md"


def _this_run(ws, seconds: dict) -> Chapter:
    rows = [f"| {name} | {value:.1f} |" for name, value in seconds.items()]
    return Chapter("This run", "\n".join([
        f"Corpus `{ws.config.corpus}`; machine {platform.machine()} with Python "
        f"{platform.python_version()}; {sum(seconds.values()):.0f} s in all. The settings are in "
        "`report.json` (`config`).", "", "| section | seconds |", "|---|---|", *rows]))
