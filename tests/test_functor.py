"""The FinStoch functor against two independent oracles, and its functoriality.

Oracle (a): a naive evaluator written here from the paper's Def. 2.2 (Kronecker products, matrix
products, explicit 0/1 copy and swap matrices) on small sizes, exact over Fractions.
Oracle (b): DisCoPy 1.2.2 (``discopy.markov`` evaluated into ``discopy.tensor``), in float.
"""
from __future__ import annotations

from fractions import Fraction
from math import prod

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catlm.backends.functor import Kernel, compile, finstoch
from catlm.core.check import typecheck
from catlm.core.diagram import Box, copy, identity
from catlm.core.types import Finite, Ty
from strategies import examples, rational_kernels

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- oracle (a): explicit matrices -------------------------------------------------------------------

def _n(ty) -> int:
    return prod(ob.size for ob in ty)


def _copy_matrix(k: int, n: int) -> np.ndarray:
    m = np.zeros((k, k ** n), dtype=object)
    for x in range(k):
        m[x, sum(x * k ** j for j in range(n))] = 1
    return m + Fraction(0)


def _swap_matrix(left, right) -> np.ndarray:
    a, b = _n(left), _n(right)
    m = np.zeros((a * b, a * b), dtype=object)
    for x in range(a):
        for y in range(b):
            m[x * b + y, y * a + x] = 1
    return m + Fraction(0)


def naive(term, signature, kernels) -> np.ndarray:
    """The matrix (|dom|, |cod|) of a term, by the paper's Def. 2.2."""
    kind = term[0]
    if kind == "then":
        return naive(term[1], signature, kernels).dot(naive(term[2], signature, kernels))
    if kind == "tensor":
        return np.kron(naive(term[1], signature, kernels), naive(term[2], signature, kernels))
    if kind == "box":
        dom, cod = signature[term[1]]
        return kernels[term[1]].reshape(_n(dom), _n(cod))
    if kind == "copy":
        return _copy_matrix(term[1].size, term[2])
    if kind == "del":
        return np.ones((term[1].size, 1), dtype=object) + Fraction(0)
    if kind == "swap":
        return _swap_matrix(term[1], term[2])
    return np.eye(_n(term[1]), dtype=object) + Fraction(0)


@SETTINGS
@given(examples())
def test_random_diagrams_agree_with_the_naive_matrices(ex):
    got = compile(typecheck(ex.diagram()), params=ex.kernels, exact=True)
    want = naive(ex.term, ex.signature, ex.kernels)
    assert got.shape == tuple(ob.size for ob in ex.dom + ex.cod)
    assert got.reshape(want.shape).tolist() == want.tolist()


@SETTINGS
@given(examples())
def test_float_mode_agrees_with_exact_mode(ex):
    exact = compile(typecheck(ex.diagram()), params=ex.kernels, exact=True)
    floats = {k: v.astype(float) for k, v in ex.kernels.items()}
    got = compile(typecheck(ex.diagram()), params=floats)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, exact.astype(float), atol=1e-12)


# --- oracle (b): DisCoPy ------------------------------------------------------------------------------

discopy_markov = pytest.importorskip("discopy.markov", reason="discopy==1.2.2 (the [dev] extra) is not installed")
from discopy import tensor as dtensor  # noqa: E402


def discopy_eval(ex) -> np.ndarray:
    ty = lambda obs: discopy_markov.Ty(*(ob.name for ob in obs))  # noqa: E731
    boxes = {n: discopy_markov.Box(n, ty(d), ty(c)) for n, (d, c) in ex.signature.items()}
    build = {
        "then": lambda t: go(t[1]) >> go(t[2]),
        "tensor": lambda t: go(t[1]) @ go(t[2]),
        "box": lambda t: boxes[t[1]],
        "copy": lambda t: discopy_markov.Copy(ty((t[1],)), t[2]),
        "del": lambda t: discopy_markov.Copy(ty((t[1],)), 0),
        "swap": lambda t: discopy_markov.Diagram.swap(ty(t[1]), ty(t[2])),
        "id": lambda t: discopy_markov.Id(ty(t[1])),
    }
    go = lambda t: build[t[0]](t)  # noqa: E731
    obs = {ob for d, c in ex.signature.values() for ob in d + c} | set(ex.dom) | set(ex.cod)
    obs |= _objects_of(ex.term)
    F = discopy_markov.Functor(
        ob={discopy_markov.Ty(ob.name): dtensor.Dim(ob.size) for ob in obs},
        ar={boxes[n]: ex.kernels[n].astype(float) for n in boxes},
        cod=discopy_markov.Category(dtensor.Dim, dtensor.Tensor[float]))
    return np.asarray(F(go(ex.term)).array, dtype=float)


def _objects_of(term) -> set:
    found = set()
    for part in term[1:]:
        if isinstance(part, Finite):
            found.add(part)
        elif isinstance(part, tuple) and part and isinstance(part[0], Finite):
            found |= set(part)
        elif isinstance(part, tuple):
            found |= _objects_of(part)
    return found


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(examples())
def test_random_diagrams_agree_with_discopy(ex):
    got = compile(typecheck(ex.diagram()), params={k: v.astype(float) for k, v in ex.kernels.items()})
    want = discopy_eval(ex)
    np.testing.assert_allclose(got.reshape(-1), want.reshape(-1), atol=1e-12)


# --- functoriality -------------------------------------------------------------------------------------

A, B, C = (Ty(Finite.range(n, k)) for n, k in (("A", 2), ("B", 3), ("C", 2)))


@st.composite
def kernel_pairs(draw):
    f = draw(rational_kernels((2,), (3,)))
    g = draw(rational_kernels((3,), (2,)))
    return f, g


@SETTINGS
@given(kernel_pairs())
def test_functor_preserves_composition_and_tensor(fg):
    F = finstoch({"f": fg[0], "g": fg[1]}, exact=True)
    f, g = Box("f", A, B), Box("g", B, C)
    T = lambda d: typecheck(identity(d.dom) >> d)  # noqa: E731
    assert F(T(f >> g)) == F(T(f >> identity(B))) >> F(T(g >> identity(C)))
    assert F(T(f @ g)) == F(T(f >> identity(B))) @ F(T(g >> identity(C)))
    assert F(T(f >> g)).array.tolist() == fg[0].dot(fg[1]).tolist()  # the matrix product


def test_functor_preserves_identities_and_objects():
    F = finstoch(exact=True)
    assert F(typecheck(identity(A @ B))) == Kernel.identity((2, 3), exact=True)
    assert F(A @ B) == (2, 3) and F(Ty()) == ()
    assert F.target == "FinStoch"


def test_tensor_of_kernels_orders_axes_dom_then_cod():
    f = Kernel(np.arange(6.0).reshape(2, 3), (2,), (3,))
    g = Kernel(np.arange(20.0).reshape(4, 5), (4,), (5,))
    h = (f @ g).array
    assert h.shape == (2, 4, 3, 5)
    assert h[1, 3, 2, 4] == f.array[1, 2] * g.array[3, 4]
    np.testing.assert_array_equal(h.reshape(8, 15), np.kron(f.array, g.array))


def test_copy_of_a_product_matches_the_tensor_of_copies():
    F = finstoch(exact=True)
    lhs = F(typecheck(copy(A @ B)))
    assert lhs.array.shape == (2, 3, 2, 3, 2, 3)
    assert lhs.array[1, 2, 1, 2, 1, 2] == 1 and lhs.array[1, 2, 1, 2, 1, 1] == 0
    assert sum(lhs.array.ravel()) == 6
