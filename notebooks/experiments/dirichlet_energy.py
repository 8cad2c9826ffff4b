"""Claim 13 (Prop. 7.4): after NLL training, is the Dirichlet energy E_K(φ_v) of the projections
φ_v(x) = ⟨h_x, v⟩ lower along the top eigenvectors v of Ḡ = E_µ g*(h_x) than along random
directions, and than for the same representations with the contexts permuted?

Free-feature model (PAPER §6 item 13) trained by exact NLL on the order-1 source of
tinyshakespeare (or a synthetic block source with ``--synthetic``); K = K_BC and K_Lin from
P_data. Energies are per unit of variance, E_K(φ)/Var_µ(φ), so that directions compare fairly.

    python notebooks/experiments/dirichlet_energy.py [--quick] [--synthetic] [--out DIR]
"""
from __future__ import annotations

import numpy as np

from common import arguments, block_source, finish, text_source, train_free
from catlm.analysis.alignment import normalised_energy
from catlm.analysis.geometry import averaged_metric
from catlm.analysis.report import Table, grouped_bars
from catlm.analysis.spectral import similarity_kernel


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


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    sources = {"synthetic blocks": block_source(*((30, 12, 3) if args.quick else (120, 40, 4)), seed=args.seed)}
    if not args.synthetic:
        law, P, _ = text_source(args.corpus, 1)
        sources["tinyshakespeare order 1"] = (law, P)
    d, steps, k = (4, 150, 2) if args.quick else (8, 1500, 3)
    rows = []
    for name, (law, P) in sources.items():
        H, W, b = train_free(law, P, d, steps, args.seed)
        rows += [{"source": name, **row} for row in energies(law, P, H, W, b, k, args.seed)]
    table = Table("Normalised Dirichlet energy E_K(φ_v)/Var(φ_v) (lower = smoother on the similarity graph)",
                  ("source", "kernel", "top-k of Ḡ", "random", "permuted", "claim holds"),
                  tuple(tuple(r.values()) for r in rows))
    figure = grouped_bars(args.out + "/dirichlet_energy", "energy.png",
                          {who: [r[who] for r in rows] for who in ("top_G", "random", "permuted")},
                          title="Dirichlet energy per unit variance", ylabel="E_K / Var",
                          caption="; ".join(f"{i}: {r['source']}, {r['kernel']}" for i, r in enumerate(rows)))
    finish(args, "dirichlet_energy", "Claim 13: Dirichlet energy along top g* directions",
           [f"Free-feature model, d = {d}, {steps} L-BFGS steps; top {k} eigenvectors of Ḡ."],
           table, [figure], {"rows": rows, "d": d, "k": k})


if __name__ == "__main__":
    main()
