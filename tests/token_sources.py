"""Token sequences drawn from small sources whose laws the tests know exactly."""
from __future__ import annotations

import numpy as np


def markov_chain(P: np.ndarray, length: int, seed: int) -> np.ndarray:
    """A chain from token 0 with transition rows P."""
    rng = np.random.default_rng(seed)
    tokens = np.zeros(length, dtype=np.int64)
    for t in range(1, length):
        tokens[t] = rng.choice(len(P), p=P[tokens[t - 1]])
    return tokens


def interleaved(length: int, stay: float, V: int, seed: int, lag: int = 2) -> np.ndarray:
    """x_t = x_{t−lag} with probability ``stay``, else uniform: ``lag`` independent chains
    interleaved, so the law of a token hangs on the token ``lag`` back."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, V, length)
    for t in range(lag, length):
        if rng.random() < stay:
            tokens[t] = tokens[t - lag]
    return tokens
