"""One sampled draft-verify call: Leviathan et al. 2023, Algorithm 1, on pre-drawn uniforms.

Given the target's ``γ+1`` rows (one per drafted prefix, the last for the bonus token), the draft's
``γ`` rows and the drafted tokens, ``verify`` walks ``i = 1..γ``: draft ``x_i`` is accepted iff
``u_i < min(1, p_i(x_i)/q_i(x_i))``; at the first rejection it emits the accepted prefix and a
token from ``norm(max(0, p_i - q_i))``; if all are accepted it emits them and a bonus token from
``p_{γ+1}``. The emitted token is drawn by inverse CDF from ``u_{γ+1}``. With ``u`` uniform on
``[0, 1)^{γ+1}`` the accept events have probability exactly ``min(1, p/q)`` and the inverse CDF
picks ``y`` with probability exactly ``r(y)``, so integrating over ``u`` gives ``blocks.block_law``.
The arithmetic is numpy only (Fractions work too); the torch runtime reuses the same convention.

>>> p_rows = [[0.5, 0.5], [0.25, 0.75]]          # γ = 1: target at the prefix and after x_1
>>> q_rows = [[1.0, 0.0]]
>>> verify(p_rows, q_rows, [0], [0.4, 0.9]).tolist()   # 0.4 < min(1, 0.5/1): accept, bonus
[0, 1]
>>> verify(p_rows, q_rows, [0], [0.6, 0.1]).tolist()   # rejected: residual is δ_1
[1]
"""
from __future__ import annotations

import numpy as np

from catlm.decoding.exact import residual
from catlm.decoding.scalars import as_laws, same_tokens
from catlm.errors import KernelError, SpecError, WiringError

__all__ = ["verify", "inverse_cdf"]


def verify(p_rows, q_rows, drafted_tokens, uniforms) -> np.ndarray:
    """The emitted tokens (accepted prefix + correction or bonus), an int array of length 1..γ+1.

    Shapes: ``p_rows (γ+1, V)``, ``q_rows (γ, V)``, ``drafted_tokens (γ,)``; ``uniforms`` is an
    array of ``γ+1`` numbers in ``[0, 1)`` or a ``numpy.random.Generator`` to draw them from.
    """
    p_rows, q_rows, tokens = _checked(p_rows, q_rows, drafted_tokens)
    u = _uniforms(uniforms, len(tokens) + 1)
    for i, x in enumerate(tokens):
        if not u[i] < min(1, p_rows[i, x] / q_rows[i, x]):
            correction = inverse_cdf(residual(p_rows[i], q_rows[i]), u[-1])
            return np.array([*tokens[:i], correction], dtype=np.int64)
    return np.array([*tokens, inverse_cdf(p_rows[-1], u[-1])], dtype=np.int64)


def inverse_cdf(law: np.ndarray, u) -> int:
    """The token ``y`` with ``cdf(y-1) <= u < cdf(y)``; float round-off past the end goes to the
    last token of positive mass."""
    cdf = np.cumsum(law)
    y = int(np.count_nonzero(cdf <= u))
    return min(y, int(np.flatnonzero(law != 0)[-1]))


def _checked(p_rows, q_rows, drafted_tokens):
    p_rows, q_rows = as_laws(p_rows, "p_rows"), as_laws(q_rows, "q_rows")
    same_tokens(p_rows, q_rows, "p_rows", "q_rows")
    tokens = [int(x) for x in np.asarray(drafted_tokens, dtype=np.int64).ravel()]
    gamma = len(tokens)
    if p_rows.shape[:-1] != (gamma + 1,) or q_rows.shape[:-1] != (gamma,):
        raise WiringError(f"{gamma} drafted tokens need p_rows of shape ({gamma + 1}, V) and "
                          f"q_rows of shape ({gamma}, V); got {p_rows.shape} and {q_rows.shape}")
    for i, x in enumerate(tokens):
        if not 0 <= x < p_rows.shape[-1] or q_rows[i, x] == 0:
            raise KernelError(f"drafted token {x} at position {i} has draft probability 0",
                              hint="q_rows must be the laws the drafted tokens were sampled from")
    return p_rows, q_rows, tokens


def _uniforms(uniforms, count: int) -> np.ndarray:
    if isinstance(uniforms, np.random.Generator):
        return uniforms.random(count)
    u = np.asarray(uniforms)
    if u.shape != (count,):
        raise WiringError(f"verify needs {count} uniforms (one per draft and one to sample the "
                          f"emitted token); got shape {u.shape}")
    if np.any(u < 0) or np.any(u >= 1):
        raise SpecError("uniforms must lie in [0, 1)")
    return u
