"""A mkdocs hook: the string diagrams the pages show are drawn from the bundled specs at build time.

Each ``images/diagrams/<spec>-<kernel>.svg`` named in ``DIAGRAMS`` is rendered by
``catlm.drawing.render`` from ``examples/<spec>.cat`` and added to the site as a generated file,
so a picture in the docs is always the diagram catlm draws today, never a stale copy.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]

# (spec in examples/, kernel) pairs the pages show
DIAGRAMS = (("coin", "joint"), ("coin", "flip"), ("bigram", "gen"), ("bigram", "two"),
            ("lm", "gen"))


def on_files(files: Files, config) -> Files:
    import catlm
    from catlm.drawing.render import render

    with tempfile.TemporaryDirectory() as tmp:
        for stem, kernel in DIAGRAMS:
            spec = catlm.load(ROOT / "examples" / f"{stem}.cat")
            svg = render(spec.kernels[kernel], Path(tmp) / f"{stem}-{kernel}.svg")
            files.append(File.generated(config, f"images/diagrams/{svg.name}", content=svg.read_bytes()))
    return files
