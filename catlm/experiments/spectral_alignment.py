"""Claim 14 (Prop. 7.6 [v1] / Thm 7.6 [A18]): after NLL training of a linear-softmax model, is
span{1, h_x} aligned with the top-k eigenfunctions of M_K?

Free-feature model trained by exact NLL on a synthetic block source and on the
corpus's bigram source. K_proto is built from the learned prototypes (rows of W; circular, the paper's
choice), K_Lin and K_BC from P_data (non-circular). Scores of ``catlm.analysis.alignment``
(principal angles, Ky Fan ratio, CKA) for the trained h, the untrained h, Gaussian features and
the trained h with contexts permuted.

    catlm experiment spectral_alignment [--quick] [--synthetic] [--corpus PATH] [--out DIR]

>>> from catlm.experiments.sources import block_source
>>> law, P = block_source(8, 5, 2, seed=0)
>>> [row["kernel"] for row in rows_for("blocks", law, P, d=2, k=1, steps=20, seed=0)]
['proto (learned W)', 'linear (P_data)', 'bhattacharyya (P_data)']
"""
from __future__ import annotations

from pathlib import Path

from catlm.analysis.alignment import alignment_scores, alignment_with_baselines
from catlm.analysis.report import Table, grouped_bars
from catlm.analysis.spectral import similarity_kernel
from catlm.experiments.free_features import initial_free, train_free
from catlm.experiments.settings import Settings, finish
from catlm.experiments.sources import block_source, corpus_name, text_source


def rows_for(name: str, law, P, d: int, k: int, steps: int, seed: int) -> list[dict]:
    start = initial_free(*P.shape, d, seed)
    H, W, b = train_free(law, P, d, steps, seed, init=start)
    kernels = {"proto (learned W)": similarity_kernel(P, "prototype", prototypes=W),
               "linear (P_data)": similarity_kernel(P, "linear"),
               "bhattacharyya (P_data)": similarity_kernel(P, "bhattacharyya")}
    rows = []
    for kind, K in kernels.items():
        scores = alignment_with_baselines(H, law, K, k, seed + 1)  # not the init stream
        untrained = alignment_scores(start[0], law, K, k)
        rows.append({"source": name, "kernel": kind, "trained": scores.model.mean_angle_deg,
                     "untrained": untrained.mean_angle_deg, "random": scores.random.mean_angle_deg,
                     "permuted": scores.permuted.mean_angle_deg, "ky_fan_trained": scores.model.ky_fan,
                     "ky_fan_random": scores.random.ky_fan, "cka_trained": scores.model.cka})
    return rows


def run(settings: Settings) -> Path:
    """Write OUT/NAME/report.md, its figures and report.json; returns the folder."""
    d, k, steps = (3, 2, 150) if settings.quick else (8, 4, 1500)
    sources = {"synthetic blocks": block_source(*((30, 12, 3) if settings.quick else (120, 40, 4)), seed=settings.seed)}
    if not settings.synthetic:
        law, P, _ = text_source(settings.corpus, 1)
        sources[f"{corpus_name(settings.corpus)} order 1"] = (law, P)
    rows = [row for name, (law, P) in sources.items() for row in rows_for(name, law, P, d, k, steps, settings.seed)]
    table = Table(f"Mean principal angle (degrees) between span{{1, h}} and the top-{k} eigenfunctions of M_K",
                  ("source", "kernel", "trained", "untrained", "random", "permuted", "Ky Fan trained",
                   "Ky Fan random", "CKA trained"), tuple(tuple(r.values()) for r in rows))
    figure = grouped_bars(settings.folder("spectral_alignment"), "angles.png",
                          {who: [r[who] for r in rows] for who in ("trained", "untrained", "random", "permuted")},
                          title="mean principal angle", ylabel="degrees",
                          caption="; ".join(f"{i}: {r['source']}, {r['kernel']}" for i, r in enumerate(rows)))
    return finish(settings, "spectral_alignment", "Claim 14: spectral alignment after NLL training",
                  [f"Free-feature model, d = {d}, k = {k}, {steps} L-BFGS steps."], table, [figure],
                  {"rows": rows, "d": d, "k": k})

