"""Shared pieces of the experiments of claims 13–17 (PAPER.md §6): sources, the free-feature
model trained by exact NLL, and the table/figure writers. Runs on numpy and scipy only.

The *free-feature* (unconstrained-features) model has one free vector h_x ∈ R^d per context and a
shared linear-softmax head: q(w | x) = softmax(W h_x + b)_w. Its exact NLL under a source (µ, P) is
L = Σ_x µ(x) CE(P_x, q_x), minimised here by L-BFGS with analytic gradients.

>>> law, P = block_source(6, 5, 2, seed=0)
>>> H, W, b = train_free(law, P, d=2, steps=50, seed=0)
>>> H.shape, W.shape
((6, 2), (5, 2))
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import scipy.optimize

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))   # run as a script from anywhere: catlm is the repository's

from catlm.analysis.report import Report, Table, plain, write_report  # noqa: E402

# the project's shared data sits beside the checkout (CATLM_SHARED overrides)
SHAKESPEARE = Path(os.environ.get("CATLM_SHARED", ROOT.parent / "shared")) / "data" / "tinyshakespeare.txt"


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a small run of a few seconds")
    parser.add_argument("--synthetic", action="store_true", help="synthetic sources only (no corpus)")
    parser.add_argument("--corpus", default=str(SHAKESPEARE), help="text file of the real source")
    parser.add_argument("--out", default=str(ROOT / "reports" / "experiments"), help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def block_source(n: int, V: int, clusters: int, seed: int, noise: float = 0.1):
    """(µ, P): n contexts in ``clusters`` blocks; a block shares a Dirichlet(0.3) next-token law,
    mixed with ``noise`` of a context-specific Dirichlet(1) law."""
    rng = np.random.default_rng(seed)
    centres = rng.dirichlet(np.full(V, 0.3), size=clusters)
    P = (1 - noise) * centres[np.arange(n) % clusters] + noise * rng.dirichlet(np.ones(V), size=n)
    return rng.dirichlet(np.full(n, 5.0)), P


def text_source(path: str, order: int, top: int | None = None):
    """(µ, P, alphabet) of the order-r plug-in source of a text, restricted to its ``top`` most
    frequent contexts (µ renormalised)."""
    from catlm.data.corpus import read_text
    from catlm.data.ngram import NgramSource
    source = NgramSource.from_text(read_text(path), order, cyclic=True)
    law, P = source.context_law(), source.kernel()
    keep = np.sort(np.argsort(-law, kind="stable")[:top]) if top else np.arange(len(law))
    return law[keep] / law[keep].sum(), P[keep], source.alphabet


def log_softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def free_nll(law, P, H, W, b):
    """(L, ∂L/∂H, ∂L/∂W, ∂L/∂b) of the free-feature model."""
    logq = log_softmax(H @ W.T + b)
    G = law[:, None] * (np.exp(logq) - P)              # ∂L/∂logits (n, V)
    value = -float(np.sum(law[:, None] * P * logq))
    return value, G @ W, G.T @ H, G.sum(axis=0)


def initial_free(n: int, V: int, d: int, seed: int, scale: float = 0.1):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((n, d)), scale * rng.standard_normal((V, d)), np.zeros(V)


def train_free(law, P, d: int, steps: int, seed: int, init=None):
    """(H, W, b) after ``steps`` L-BFGS iterations of the exact NLL from a small random start."""
    n, V = P.shape
    H, W, b = init if init is not None else initial_free(n, V, d, seed)
    sizes = [H.size, W.size]

    def objective(flat):
        parts = np.split(flat, np.cumsum(sizes))
        value, gH, gW, gb = free_nll(law, P, parts[0].reshape(n, d), parts[1].reshape(V, d), parts[2])
        return value, np.concatenate([gH.ravel(), gW.ravel(), gb])

    start = np.concatenate([H.ravel(), W.ravel(), b])
    flat = scipy.optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                                   options={"maxiter": steps}).x
    parts = np.split(flat, np.cumsum(sizes))
    return parts[0].reshape(n, d), parts[1].reshape(V, d), parts[2]


def finish(args, name: str, title: str, summary: list[str], table: Table, figures: list,
           data: dict) -> Path:
    """Write OUT/NAME/report.md (table + figures) and report.json, and print the table."""
    out = Path(args.out) / name
    data = {"quick": args.quick, "synthetic": args.synthetic, "seed": args.seed, **data}
    write_report(Report(title, tuple(summary), (table,), tuple(figures), data), out)
    print(json.dumps(plain(data["rows"]), indent=1))
    return out
