"""Everyday large diagrams, shared by tests/test_contraction.py and benchmarks/scale.py.

* an HMM: ``s``, then ``steps`` times ``copy[H] >> (e @ t)`` (emit, move), an observation kept or
  deleted per step, so every marginal of the joint is one choice of the kept set;
* naive Bayes: ``s >> copy[A, n] >> (f @ ... @ f)``.
"""
from __future__ import annotations

from catlm.core.diagram import Box, Diagram, copy, delete, identity
from catlm.core.types import Finite, Ty

H, O, A, B = (Ty(Finite.range(name, k)) for name, k in (("H", 3), ("O", 2), ("A", 3), ("B", 2)))
S, TRANS, EMIT = Box("s", Ty(), H), Box("t", H, H), Box("e", H, O)


def hmm(steps: int, kept: set[int]) -> Diagram:
    """s, then ``steps`` times H -> O @ H (emit, move); observations outside ``kept`` are deleted."""
    d, width = Diagram.of(S), 0
    for k in range(steps):
        emit = EMIT if k in kept else EMIT >> delete(O)
        step = copy(H) >> (emit @ TRANS)
        d = d >> (identity(O ** width) @ step) if width else d >> step
        width += k in kept
    return d >> (identity(O ** width) @ delete(H)) if width else d >> delete(H)


def naive_bayes(n: int) -> Diagram:
    """``s >> copy[A, n] >> (f @ ... @ f)``."""
    features = Diagram.of(Box("f", A, B))
    for _ in range(n - 1):
        features = features @ Box("f", A, B)
    return Box("s", Ty(), A) >> copy(A, n) >> features
