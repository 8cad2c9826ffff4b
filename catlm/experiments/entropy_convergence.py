"""Claim 16 (Thm 5.2): along NLL training, H̄_KL(k_head) = Σ_x µ(x) H(q_x) → H(W | C)_data for a
well-specified tabular model (free logits per context), and to the limiting model's own value,
not the data's, for a misspecified low-rank model (logits H Wᵀ + b with small d).

Full-batch gradient descent on the exact NLL of an order-1 source (the corpus, or a
synthetic block source with ``--synthetic``); L_CE = L_KL + H is recorded at every checkpoint.

    catlm experiment entropy_convergence [--quick] [--synthetic] [--corpus PATH] [--out DIR]

>>> from catlm.experiments.sources import block_source
>>> law, P = block_source(6, 4, 2, seed=0)
>>> history = tabular_run(law, P, steps=50, lr=1.0, marks=[0, 50])
>>> history[-1]["kl"] < history[0]["kl"], max(h["identity_gap"] for h in history) < 1e-12
(True, True)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import log_softmax

from catlm.analysis.entropy import categorical_entropy, nll_decomposition
from catlm.analysis.report import Table, line_plot
from catlm.experiments.free_features import free_nll, initial_free
from catlm.experiments.settings import Settings, finish
from catlm.experiments.sources import block_source, corpus_name, text_source


def record(law, P, logits, step: int) -> dict:
    Q = np.exp(log_softmax(logits, axis=1))
    Q /= Q.sum(axis=1, keepdims=True)
    nll = nll_decomposition(law, P, Q)
    return {"step": step, "entropy_head": categorical_entropy(Q, "kl", law), "ce": nll.cross_entropy,
            "kl": nll.kl, "identity_gap": abs(nll.cross_entropy - nll.kl - nll.entropy)}


def tabular_run(law, P, steps: int, lr: float, marks) -> list[dict]:
    """Gradient descent on the logits; each context's step is scaled by 1/µ(x) (same minimiser)."""
    logits, history = np.zeros(P.shape), []
    for step in range(steps + 1):
        if step in marks:
            history.append(record(law, P, logits, step))
        logits -= lr * (np.exp(log_softmax(logits, axis=1)) - P)
    return history


def low_rank_run(law, P, d: int, steps: int, lr: float, marks, seed: int) -> list[dict]:
    H, W, b = initial_free(*P.shape, d, seed)
    history = []
    for step in range(steps + 1):
        if step in marks:
            history.append(record(law, P, H @ W.T + b, step))
        _, gH, gW, gb = free_nll(law, P, H, W, b)
        H, W, b = H - lr * gH / law[:, None], W - lr * gW, b - lr * gb
    return history


def run(settings: Settings) -> Path:
    """Write OUT/NAME/report.md, its figures and report.json; returns the folder."""
    steps = 400 if settings.quick else 5000
    marks = sorted({0, steps} | set(np.unique(np.geomspace(1, steps, 30).astype(int)).tolist()))
    if settings.synthetic:
        law, P = block_source(*((30, 12, 3) if settings.quick else (120, 40, 4)), seed=settings.seed)
        name = "synthetic blocks"
    else:
        law, P, _ = text_source(settings.corpus, 1)
        name = f"{corpus_name(settings.corpus)} order 1"
    data_entropy = categorical_entropy(P, "kl", law)
    runs = {"tabular": tabular_run(law, P, steps, 1.0, marks),
            "low rank d=1": low_rank_run(law, P, 1, steps, 0.5, marks, settings.seed)}
    rows = [{"model": model, "final_entropy_head": h[-1]["entropy_head"], "data_entropy": data_entropy,
             "gap": h[-1]["entropy_head"] - data_entropy, "final_kl": h[-1]["kl"],
             "max_identity_gap": max(r["identity_gap"] for r in h)} for model, h in runs.items()]
    table = Table(f"H̄_KL(k_head) at the end of training vs H(W|C)_data ({name}, nats)",
                  ("model", "H̄_KL(k_head)", "H(W|C)_data", "gap", "L_KL", "max |CE−KL−H|"),
                  tuple(tuple(r.values()) for r in rows))
    figure = line_plot(settings.folder("entropy_convergence"), "entropy.png",
                       {m: ([r["step"] for r in h], [r["entropy_head"] for r in h]) for m, h in runs.items()},
                       title="H̄_KL(k_head) along training", xlabel="step", ylabel="nats",
                       reference=("H(W|C)_data", data_entropy), caption="Average categorical entropy of the head")
    return finish(settings, "entropy_convergence", "Claim 16: convergence of the average categorical entropy",
                  [f"{name}: {len(P)} contexts, {P.shape[1]} tokens, {steps} gradient steps."], table, [figure],
                  {"rows": rows, "history": runs})

