"""Independent oracles and Hypothesis strategies shared by the speculative-decoding tests.

Nothing here calls catlm: the expected values are written from the formulas of Leviathan et al. 2023 (arXiv 2211.17192) and Chen et al. 2023 (arXiv 2302.01318).
"""
from __future__ import annotations

import itertools
from fractions import Fraction as F

import numpy as np
from hypothesis import strategies as st


def rational_row(weights) -> list[F]:
    total = sum(weights)
    return [F(w, total) for w in weights]


@st.composite
def rational_kernels(draw, states: int, vocab: int):
    """A random (states, vocab) stochastic matrix of Fractions, with some zero entries."""
    row = st.lists(st.integers(0, 4), min_size=vocab, max_size=vocab).filter(lambda w: sum(w) > 0)
    return np.array([rational_row(draw(row)) for _ in range(states)], dtype=object)


def float_kernel(rng: np.random.Generator, states: int, vocab: int, zeros: float = 0.2):
    """A random float kernel with about ``zeros`` of its entries exactly 0."""
    K = rng.dirichlet(np.full(vocab, 0.5), size=states)
    K[rng.random(K.shape) < zeros] = 0
    K[:, 0] += 1e-3  # keep every row nonempty
    return K / K.sum(axis=1, keepdims=True)


def k_step_law(P, k: int, state: int, successor) -> dict[tuple[int, ...], object]:
    """P(x_1..x_k | state) = P[s, x_1] P[s_1, x_2] ... by brute force over all V^k paths."""
    V = len(P[0])
    law = {}
    for path in itertools.product(range(V), repeat=k):
        s, prob = state, 1
        for x in path:
            prob, s = prob * P[s][x], successor(s, x)
        law[path] = prob
    return law


def as_dict(array) -> dict[tuple[int, ...], object]:
    return {index: array[index] for index in np.ndindex(*array.shape)}


def residual_oracle(p, q) -> list:
    surplus = [max(0, a - b) for a, b in zip(p, q)]
    mass = sum(surplus)
    return list(p) if mass == 0 else [s / mass for s in surplus]


def first_order(s: int, x: int) -> int:
    return x
