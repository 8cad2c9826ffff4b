"""PIT values of a generated run recomputed by one forward pass WITHOUT a KV cache.

The runtime's own PITs (``SpecResult.pit``) come from the same cached logits that drew the tokens,
so a KV-cache error (a stale position, a wrong rollback) changes the tokens and their PITs alike
and the χ² test still passes. ``uncached_pits`` scores prompt + emitted tokens in a single causal
forward from scratch, applies the same sampling transform and returns the randomised PITs
F(x − 1) + v · p(x) of every emitted token with fresh uniforms v: uniform on [0, 1) iff the
tokens follow the target's law given their real context (Brockwell 2007, randomised PIT for
discrete laws). Used by the tests and the speculative-decoding benchmark.

>>> import torch
>>> from catlm.decoding.drafters import Sampling
>>> from catlm.models.gpt import GPT, GPTConfig
>>> _ = torch.manual_seed(0)
>>> model = GPT(GPTConfig(vocab=3, context=8, layers=1, heads=1, dim=4)).eval()
>>> pits = uncached_pits(model, [0, 1], [2, 2, 0], Sampling(), seed=1)
>>> pits.shape, bool(((0 <= pits) & (pits <= 1)).all())
((3,), True)
"""
from __future__ import annotations

import numpy as np

from catlm.errors import UsageError

__all__ = ["uncached_pits"]


def uncached_pits(target, prompt, tokens, sampling, seed: int = 0) -> np.ndarray:
    """Randomised PITs (n,) of ``tokens`` after ``prompt`` under ``sampling.probs`` of the target's
    uncached logits; the whole sequence must fit in the target's context."""
    import torch
    prompt, tokens = [int(t) for t in prompt], [int(t) for t in tokens]
    sequence = prompt + tokens
    if not prompt or len(sequence) > target.context:
        raise UsageError(f"uncached PITs need a nonempty prompt and at most {target.context} tokens "
                        f"in all, got {len(prompt)} + {len(tokens)}")
    with torch.inference_mode():
        logits = target(torch.tensor([sequence[:-1]]))[0, len(prompt) - 1:]       # (n, V), no cache
    p = sampling.probs(logits)
    at = np.arange(len(tokens))
    mass = p[at, tokens]
    below = np.cumsum(p, axis=-1)[at, tokens] - mass
    return np.clip(below + np.random.default_rng(seed).random(len(tokens)) * mass, 0.0, 1.0)
