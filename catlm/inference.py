"""Conditionals and Bayesian inversion in FinStoch, exactly (Fritz 2020, Def. 11.5 and §11).

A conditional of a joint state ``p : I -> X @ Y`` is a kernel ``c : X -> Y`` with
``p == p_X >> copy[X] >> (id[X] @ c)``: row ``x`` of ``c`` is ``p(x, ·) / p_X(x)``. A Bayesian
inverse of ``f : X -> Y`` with respect to a state ``q`` on X is a conditional of the joint state
on ``Y @ X``: ``g(y, x) = q(x) f(x, y) / (q >> f)(y)``. Both are unique only almost surely; on a row
of zero marginal catlm puts the uniform distribution (any distribution satisfies the defining
equation there, and uniform keeps the result a Markov kernel). Arrays keep their ring: Fractions
stay exact, floats stay floats.

>>> import numpy as np
>>> from fractions import Fraction as Q
>>> joint = np.array([[Q(1, 4), Q(1, 4)], [Q(1, 2), 0]], dtype=object)
>>> condition(joint, 1)
array([[Fraction(1, 2), Fraction(1, 2)],
       [Fraction(1, 1), Fraction(0, 1)]], dtype=object)
>>> bayesian_inverse(np.array([[Q(1), Q(0)], [Q(1, 2), Q(1, 2)]], dtype=object),
...                  np.array([Q(1, 2), Q(1, 2)], dtype=object))[:, 0]
array([Fraction(2, 3), Fraction(0, 1)], dtype=object)
"""
from __future__ import annotations

from fractions import Fraction
from math import prod

import numpy as np

from catlm.backends.symbolic import exact_equal
from catlm.errors import KernelError

__all__ = ["marginal", "condition", "bayesian_inverse"]


def marginal(joint: np.ndarray, n_left: int) -> np.ndarray:
    """The marginal on the first ``n_left`` axes: ``(id @ del) ∘ p``."""
    return joint.sum(axis=tuple(range(n_left, joint.ndim))) if joint.ndim > n_left else joint


def condition(joint: np.ndarray, n_left: int) -> np.ndarray:
    """The conditional ``X -> Y`` of a joint state on ``X @ Y`` (X = the first ``n_left`` axes).

    Rows where the marginal vanishes are uniform over Y.
    """
    left, right = joint.shape[:n_left], joint.shape[n_left:]
    m = joint.reshape(prod(left), prod(right))
    exact = joint.dtype == object
    uniform = Fraction(1, prod(right)) if exact else 1.0 / prod(right)
    rows = [_normalise(row, uniform, exact) for row in m]
    out = np.empty(m.shape, dtype=object if exact else np.float64)
    for r, row in enumerate(rows):
        out[r] = row
    return out.reshape(joint.shape)


def _normalise(row: np.ndarray, uniform, exact: bool) -> list:
    total = sum(row, Fraction(0)) if exact else float(row.sum())
    if exact_equal(total, 0) if exact else total == 0.0:
        return [uniform] * len(row)
    return [x / total for x in row]


def bayesian_inverse(kernel: np.ndarray, state: np.ndarray) -> np.ndarray:
    """The kernel ``Y -> X`` inverting ``kernel : X -> Y`` with respect to ``state`` on X."""
    nx = state.ndim
    if kernel.shape[:nx] != state.shape:
        raise KernelError(f"the state has shape {state.shape} but the kernel's domain is "
                          f"{kernel.shape[:nx]}", hint="the state must live on the kernel's domain")
    joint = kernel * state.reshape(state.shape + (1,) * (kernel.ndim - nx))  # (X..., Y...)
    order = [*range(nx, kernel.ndim), *range(nx)]
    return condition(joint.transpose(order), kernel.ndim - nx)
