"""The sources (µ, P) the experiments train on: a synthetic block source, or a text's n-gram source.

>>> law, P = block_source(6, 5, 2, seed=0)
>>> law.shape, P.shape, bool(abs(P.sum(axis=1) - 1).max() < 1e-12)
((6,), (6, 5), True)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from catlm.data.corpus import read_text
from catlm.data.ngram import NgramSource


def block_source(n: int, V: int, clusters: int, seed: int, noise: float = 0.1):
    """(µ, P): n contexts in ``clusters`` blocks; a block shares a Dirichlet(0.3) next-token law,
    mixed with ``noise`` of a context-specific Dirichlet(1) law."""
    rng = np.random.default_rng(seed)
    centres = rng.dirichlet(np.full(V, 0.3), size=clusters)
    P = (1 - noise) * centres[np.arange(n) % clusters] + noise * rng.dirichlet(np.ones(V), size=n)
    return rng.dirichlet(np.full(n, 5.0)), P


def text_source(corpus: str, order: int, top: int | None = None):
    """(µ, P, alphabet) of the order-r plug-in source of a text, restricted to its ``top`` most
    frequent contexts (µ renormalised)."""
    source = NgramSource.from_text(read_text(corpus), order, cyclic=True)
    law, P = source.context_law(), source.kernel()
    keep = np.sort(np.argsort(-law, kind="stable")[:top]) if top else np.arange(len(law))
    return law[keep] / law[keep].sum(), P[keep], source.alphabet


def corpus_name(corpus: str) -> str:
    """How a report names the corpus: ``tinyshakespeare`` for ``data/tinyshakespeare.txt``."""
    return Path(corpus).stem
