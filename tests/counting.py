"""Oracles by counting, for the tests of n-gram sources and of the reports that use them."""
from __future__ import annotations

import math
from collections import Counter


def plugin_conditional_entropy(tokens, r: int) -> float:
    """H(X_r | X_<r) in nats from Counters of (r+1)-grams and r-grams of the sequence (plug-in)."""
    grams = Counter(tuple(tokens[i:i + r + 1]) for i in range(len(tokens) - r))
    heads = Counter()
    for gram, count in grams.items():
        heads[gram[:-1]] += count
    total = sum(grams.values())
    return -sum(c / total * math.log(c / heads[g[:-1]]) for g, c in grams.items())
