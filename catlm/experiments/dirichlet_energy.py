"""Claim 13 (Prop. 7.4): after NLL training, is the Dirichlet energy E_K(φ_v) of the projections
φ_v(x) = ⟨h_x, v⟩ lower along the top eigenvectors v of Ḡ = E_µ g*(h_x) than along random
directions, and than for the same representations with the contexts permuted?

Free-feature model (claim 13 of docs/paper.md) trained by exact NLL on the order-1 source of
the corpus (``--corpus``; a synthetic block source with ``--synthetic``); K = K_BC and K_Lin from
P_data. Energies are per unit of variance, E_K(φ)/Var_µ(φ), so that directions compare fairly.

    catlm experiment dirichlet_energy [--quick] [--synthetic] [--corpus PATH] [--out DIR]

>>> from catlm.experiments.sources import block_source
>>> law, P = block_source(8, 5, 2, seed=0)
>>> H, W, b = train_free(law, P, d=2, steps=30, seed=0)
>>> [row["kernel"] for row in energies(law, P, H, W, b, k=1, seed=0)]
['bhattacharyya', 'linear']
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from catlm.analysis.alignment import normalised_energy
from catlm.analysis.geometry import averaged_metric
from catlm.analysis.report import Table, grouped_bars
from catlm.analysis.spectral import similarity_kernel
from catlm.experiments.free_features import train_free
from catlm.experiments.settings import Settings, finish
from catlm.experiments.sources import block_source, corpus_name, text_source


def energies(law, P, H, W, b, k: int, seed: int) -> list[dict]:
    """Mean normalised energy along the top-k directions of Ḡ, random directions, permuted rows."""
    _, vectors = np.linalg.eigh(averaged_metric(W, H, law, b))
    top = vectors[:, ::-1][:, :k]                               # (d, k)
    rng = np.random.default_rng(seed)
    random = rng.standard_normal((H.shape[1], 200))
    permuted = H[rng.permutation(len(H))]
    rows = []
    for kind in ("bhattacharyya", "linear"):
        K = similarity_kernel(P, kind)
        mean = lambda X, V: float(np.mean([normalised_energy(K, law, X @ v) for v in V.T]))
        rows.append({"kernel": kind, "top_G": mean(H, top), "random": mean(H, random),
                     "permuted": mean(permuted, top)})
        rows[-1]["claim_holds"] = rows[-1]["top_G"] < min(rows[-1]["random"], rows[-1]["permuted"])
    return rows


def run(settings: Settings) -> Path:
    """Write OUT/NAME/report.md, its figures and report.json; returns the folder."""
    sources = {"synthetic blocks": block_source(*((30, 12, 3) if settings.quick else (120, 40, 4)), seed=settings.seed)}
    if not settings.synthetic:
        law, P, _ = text_source(settings.corpus, 1)
        sources[f"{corpus_name(settings.corpus)} order 1"] = (law, P)
    d, steps, k = (4, 150, 2) if settings.quick else (8, 1500, 3)
    rows = []
    for name, (law, P) in sources.items():
        H, W, b = train_free(law, P, d, steps, settings.seed)
        rows += [{"source": name, **row} for row in energies(law, P, H, W, b, k, settings.seed)]
    table = Table("Normalised Dirichlet energy E_K(φ_v)/Var(φ_v) (lower = smoother on the similarity graph)",
                  ("source", "kernel", "top-k of Ḡ", "random", "permuted", "claim holds"),
                  tuple(tuple(r.values()) for r in rows))
    figure = grouped_bars(settings.folder("dirichlet_energy"), "energy.png",
                          {who: [r[who] for r in rows] for who in ("top_G", "random", "permuted")},
                          title="Dirichlet energy per unit variance", ylabel="E_K / Var",
                          caption="; ".join(f"{i}: {r['source']}, {r['kernel']}" for i, r in enumerate(rows)))
    return finish(settings, "dirichlet_energy", "Claim 13: Dirichlet energy along top g* directions",
                  [f"Free-feature model, d = {d}, {steps} L-BFGS steps; top {k} eigenvectors of Ḡ."],
                  table, [figure], {"rows": rows, "d": d, "k": k})

