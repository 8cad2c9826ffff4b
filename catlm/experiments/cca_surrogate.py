"""Claim 15 ([OPS] v5): with a linear readout h_x = Aᵀ φ(x) of fixed context features and free
token prototypes u_w = Bᵀ ψ(w) (ψ one-hot), compare the readout directions span A of
  - NLL training (L-BFGS on the exact NLL of softmax(U h_x + b)),
  - the whitened quadratic surrogate, solved by alternating whitened power iterations,
  - CCA between φ(X) and ψ(W) (``catlm.analysis.surrogate.cca``, a generalized eigenproblem),
by principal angles in the Σ_φφ geometry. The surrogate should match CCA exactly; NLL need not.

    catlm experiment cca_surrogate [--quick] [--synthetic] [--corpus PATH] [--out DIR]

>>> S = np.diag([4.0, 1.0])
>>> M = whiten(np.array([[1.0], [1.0]]), S)
>>> float(np.round((M.T @ S @ M)[0, 0], 12))      # whitened: Mᵀ S M = I
1.0
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.special import log_softmax

from catlm.analysis.report import Table, bar_plot
from catlm.analysis.surrogate import cca, cross_covariances
from catlm.experiments.settings import Settings, finish
from catlm.experiments.sources import block_source, corpus_name, text_source

RIDGE = 1e-6


def covariances(law, P, phi):
    """(Σ_φφ, Σ_φψ, Σ_ψψ) with ψ one-hot, each ridge-regularised on its diagonal."""
    S_ff, S_fp, S_pp = cross_covariances(law, P, phi, np.eye(P.shape[1]))
    ridge = lambda S: S + RIDGE * np.trace(S) / len(S) * np.eye(len(S))
    return ridge(S_ff), S_fp, ridge(S_pp)


def whiten(M, S):
    """M (p, k) with Mᵀ S M = I and the same span."""
    values, vectors = np.linalg.eigh(M.T @ S @ M)
    return M @ vectors @ np.diag(values ** -0.5) @ vectors.T


def surrogate_directions(S_ff, S_fp, S_pp, k: int, seed: int, iterations: int = 500):
    """max tr(Aᵀ Σ_φψ B) s.t. Aᵀ Σ_φφ A = I, Bᵀ Σ_ψψ B = I by alternating whitened updates."""
    A = whiten(np.random.default_rng(seed).standard_normal((len(S_ff), k)), S_ff)
    for _ in range(iterations):
        B = whiten(np.linalg.solve(S_pp, S_fp.T @ A), S_pp)
        A = whiten(np.linalg.solve(S_ff, S_fp @ B), S_ff)
    return A


def nll_directions(law, P, phi, k: int, steps: int, seed: int):
    """A (p, k) of the model softmax(U Aᵀ φ(x) + b) trained by L-BFGS on the exact NLL."""
    V, p = P.shape[1], phi.shape[1]
    rng = np.random.default_rng(seed)
    start = np.concatenate([0.1 * rng.standard_normal(p * k + V * k), np.zeros(V)])

    def objective(flat):
        A, U, b = flat[:p * k].reshape(p, k), flat[p * k:p * k + V * k].reshape(V, k), flat[-V:]
        H = phi @ A
        logq = log_softmax(H @ U.T + b, axis=1)
        G = law[:, None] * (np.exp(logq) - P)
        grads = [(phi.T @ (G @ U)).ravel(), (G.T @ H).ravel(), G.sum(0)]
        return -float(np.sum(law[:, None] * P * logq)), np.concatenate(grads)

    flat = scipy.optimize.minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": steps}).x
    return flat[:p * k].reshape(p, k)


def angles(S, A1, A2) -> np.ndarray:
    root = scipy.linalg.sqrtm(S).real
    return np.degrees(np.sort(scipy.linalg.subspace_angles(root @ A1, root @ A2)))


def run(settings: Settings) -> Path:
    """Write OUT/NAME/report.md, its figures and report.json; returns the folder."""
    k, steps = (2, 200) if settings.quick else (4, 2000)
    rng = np.random.default_rng(settings.seed)
    law, P = block_source(*((30, 10, 3) if settings.quick else (120, 30, 4)), seed=settings.seed)
    sources = {"synthetic blocks, Gaussian φ": (law, P, rng.standard_normal((len(P), 8 if settings.quick else 16)))}
    if not settings.synthetic:
        law, P, _ = text_source(settings.corpus, 2, top=300)
        sources[f"{corpus_name(settings.corpus)} order 2, one-hot φ"] = (law, P, _one_hot_contexts(settings.corpus, len(P)))
    rows = []
    for name, (law, P, phi) in sources.items():
        S_ff, S_fp, S_pp = covariances(law, P, phi)
        exact = cca(S_ff, S_fp, S_pp, k)
        A_sur = surrogate_directions(S_ff, S_fp, S_pp, k, settings.seed)
        A_nll = nll_directions(law, P, phi, k, steps, settings.seed)
        A_rnd = np.random.default_rng(settings.seed + 1).standard_normal(A_nll.shape)
        rows.append({"source": name, "surrogate_vs_cca": angles(S_ff, A_sur, exact.A).max(),
                     "nll_vs_cca": angles(S_ff, A_nll, exact.A).mean(),
                     "random_vs_cca": angles(S_ff, A_rnd, exact.A).mean(),
                     "canonical_correlations": np.round(exact.correlations, 4).tolist()})
    table = Table(f"Readout directions against the top-{k} CCA directions (degrees; surrogate: max angle, "
                  "others: mean)", ("source", "surrogate vs CCA", "NLL vs CCA", "random vs CCA", "ρ"),
                  tuple(tuple(r.values()) for r in rows))
    figure = bar_plot(settings.folder("cca_surrogate"), "angles.png",
                      {f"{who} ({i})": r[f"{who}_vs_cca"] for i, r in enumerate(rows) for who in ("surrogate", "nll", "random")},
                      title="angle to the CCA subspace", ylabel="degrees",
                      caption="; ".join(f"{i}: {r['source']}" for i, r in enumerate(rows)))
    return finish(settings, "cca_surrogate", "Claim 15 [OPS v5]: NLL, surrogate and CCA readout directions",
                  [f"k = {k}; NLL by {steps} L-BFGS steps; ridge {RIDGE} · tr/p on Σ_φφ and Σ_ψψ."],
                  table, [figure], {"rows": rows, "k": k})


def _one_hot_contexts(corpus: str, top: int) -> np.ndarray:
    """φ(x) = [one-hot of the older token, one-hot of the last] for the ``top`` most frequent
    order-2 contexts, in the order ``text_source`` keeps them."""
    from catlm.data.corpus import read_text
    from catlm.data.ngram import NgramSource
    source = NgramSource.from_text(read_text(corpus), 2, cyclic=True)
    keep = np.sort(np.argsort(-source.context_law(), kind="stable")[:top])
    contexts, V = source.contexts[keep], source.vocab_size
    phi = np.zeros((len(keep), 2 * V))
    phi[np.arange(len(keep)), contexts[:, 0]] = 1
    phi[np.arange(len(keep)), V + contexts[:, 1]] = 1
    return phi

