"""The free-feature model of the experiments of claims 13–17 (docs/paper.md), trained by exact NLL.

The *free-feature* (unconstrained-features) model has one free vector h_x ∈ R^d per context and a
shared linear-softmax head: q(w | x) = softmax(W h_x + b)_w. Its exact NLL under a source (µ, P) is
L = Σ_x µ(x) CE(P_x, q_x), minimised here by L-BFGS with analytic gradients. numpy and scipy only.

>>> from catlm.experiments.sources import block_source
>>> law, P = block_source(6, 5, 2, seed=0)
>>> H, W, b = train_free(law, P, d=2, steps=50, seed=0)
>>> H.shape, W.shape
((6, 2), (5, 2))
"""
from __future__ import annotations

import numpy as np
import scipy.optimize
from scipy.special import log_softmax


def free_nll(law, P, H, W, b):
    """(L, ∂L/∂H, ∂L/∂W, ∂L/∂b) of the free-feature model."""
    logq = log_softmax(H @ W.T + b, axis=1)
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
