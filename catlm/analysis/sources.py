"""A kernel X -> X read as a first-order Markov source: its stationary law, the exact surplus of
the identity encoder by K and the spectrum of M_K (Zhang, arXiv 2507.19247, §4.1 and §7).

A first-order source has zero surplus for every encoder and every K (given W_1 the future depends
on nothing else), so the surplus rows double as a check of the chain rule; the bound
H(W_{2:K} | W_1) grows with K.

>>> import numpy as np
>>> flip = np.array([[0.0, 1.0], [1.0, 0.0]])
>>> stationary_law(flip)
array([0.5, 0.5])
>>> source = first_order_source(flip)
>>> source.steps, [s.value for s in source.surplus]
((1, 2, 3, 4), [0.0, 0.0, 0.0, 0.0])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catlm.analysis.checks import as_kernel
from catlm.analysis.spectral import operator_spectrum, similarity_kernel
from catlm.analysis.surplus import Surplus, information_surplus, k_step_kernel
from catlm.errors import KernelError

MAX_STEP_CELLS = 2_000_000   # n · V**K cells of a dense K-step kernel
CESARO_STEPS = 4096


def stationary_law(P) -> np.ndarray:
    """A stationary law µ = µ P: least squares on [Pᵀ − I; 1ᵀ] µ = [0; 1], else (a periodic or
    reducible chain where that fails) the Cesàro mean of the uniform law over 4096 steps."""
    P = as_kernel(P, 1, name="kernel").astype(float)
    n = len(P)
    if P.shape != (n, n):
        raise KernelError(f"a source needs a square kernel X -> X, got {P.shape}")
    system = np.vstack([P.T - np.eye(n), np.ones(n)])
    law = np.linalg.lstsq(system, np.r_[np.zeros(n), 1.0], rcond=None)[0]
    if law.min() < -1e-12 or np.abs(law @ P - law).max() > 1e-10:
        state, law = np.full(n, 1 / n), np.zeros(n)
        for _ in range(CESARO_STEPS):
            law, state = law + state / CESARO_STEPS, state @ P
    law = np.clip(law, 0, None)
    return law / law.sum()


@dataclass(frozen=True)
class FirstOrderSource:
    """µ, the surplus of the identity encoder for each K in ``steps``, and the eigenvalues of M_K
    (K_BC on the contexts of positive law, µ renormalised there)."""

    law: np.ndarray
    steps: tuple[int, ...]
    surplus: tuple[Surplus, ...]
    mk_spectrum: np.ndarray


def first_order_source(P, max_steps: int = 4, max_cells: int = MAX_STEP_CELLS) -> FirstOrderSource:
    """The quantities of ``FirstOrderSource`` for K = 1..max_steps while n · V**K ≤ max_cells."""
    P = as_kernel(P, 1, name="kernel").astype(float)
    law, V = stationary_law(P), len(P)
    successor = np.tile(np.arange(V), (V, 1))              # the context is the last token
    steps = tuple(K for K in range(1, max_steps + 1) if V * V ** K <= max_cells)
    surplus = tuple(information_surplus(law, k_step_kernel(P, successor, K), np.arange(V))
                    for K in steps)
    support = law > 1e-12
    spectrum = operator_spectrum(similarity_kernel(P[support], "bhattacharyya"),
                                 law[support] / law[support].sum()).eigenvalues
    return FirstOrderSource(law, steps, surplus, spectrum)
