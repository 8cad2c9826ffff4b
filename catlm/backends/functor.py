"""Backends as functors: a typed diagram of the free Markov category to an arrow of FinStoch.

A ``Functor`` is an object map, an arrow map and a target category (DisCoPy's reading). The
FinStoch functor sends a type to its axis sizes and a typed diagram to a ``Kernel``: the array of
shape dom sizes + cod sizes computed by one cached contraction (``catlm.backends.finstoch``).
``F(f >> g) == F(f) >> F(g)`` and ``F(f @ g) == F(f) @ F(g)`` are tests, not comments.
``compile`` picks a backend from a table (numpy, sympy, torch); in FinStoch it returns the tensor
with the names of its elements (a ``LabelledKernel``, a numpy array wherever numpy looks).

>>> from fractions import Fraction
>>> from catlm.core.types import Finite, Ty
>>> from catlm.core.diagram import Box, Diagram, Literal, copy
>>> from catlm.core.check import typecheck
>>> coin = Ty(Finite("Coin", ("heads", "tails")))
>>> flip = Box("flip", Ty(), coin, body=Literal((2,), (Fraction(1, 3), Fraction(2, 3))))
>>> compile(typecheck(flip >> copy(coin)), exact=True)
LabelledKernel(kernel : I -> Coin @ Coin, array([[Fraction(1, 3), 0],
       [0, Fraction(2, 3)]], dtype=object))
>>> F = finstoch(exact=True)
>>> F(typecheck(flip >> copy(coin))) == F(typecheck(Diagram.of(flip))) >> F(typecheck(copy(coin)))
True
>>> compile(typecheck(Diagram.of(flip)), backend="jax")
Traceback (most recent call last):
  ...
catlm.errors.BackendError: unknown backend 'jax'; choose from numpy, sympy, torch
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from catlm.backends import finstoch as fs
from catlm.backends.labelled import LabelledKernel
from catlm.backends.params import Source, box_tensor
from catlm.backends.symbolic import FLOAT, FRACTION, SYMPY, Scalars, exact_equal
from catlm.core.check import TypedDiagram
from catlm.core.diagram import Box
from catlm.core.types import Ty
from catlm.errors import BackendError, UsageError, located, require

__all__ = ["Kernel", "Functor", "finstoch", "compile", "get_backend", "BACKENDS"]


# --- the target category: arrows of FinStoch ------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Kernel:
    """An arrow of FinStoch: ``array`` has shape ``dom + cod`` and sums to 1 over ``cod``."""

    array: np.ndarray
    dom: tuple[int, ...]
    cod: tuple[int, ...]
    atol: float = 1e-9

    @staticmethod
    def identity(shape: tuple[int, ...], exact: bool = False) -> "Kernel":
        n = int(np.prod(shape, dtype=np.int64))
        eye = np.eye(n, dtype=object if exact else np.float64)
        return Kernel(eye.reshape(shape + shape), shape, shape)

    def then(self, other: "Kernel") -> "Kernel":
        """Chapman–Kolmogorov: contract the middle axes (the matrix product of PAPER.md §1.2)."""
        if self.cod != other.dom:
            raise BackendError(f"cannot compose kernels with codomain {self.cod} and domain {other.dom}")
        return Kernel(np.tensordot(self.array, other.array, axes=len(self.cod)), self.dom, other.cod, self.atol)

    def tensor(self, other: "Kernel") -> "Kernel":
        """The product kernel, axes ordered dom(self), dom(other), cod(self), cod(other)."""
        outer = np.multiply.outer(self.array, other.array)  # (d1, c1, d2, c2)
        d1, c1, d2 = len(self.dom), len(self.cod), len(other.dom)
        axes = [*range(d1), *range(d1 + c1, d1 + c1 + d2), *range(d1, d1 + c1),
                *range(d1 + c1 + d2, outer.ndim)]
        return Kernel(outer.transpose(axes), self.dom + other.dom, self.cod + other.cod, self.atol)

    __rshift__ = then
    __matmul__ = tensor

    @property
    def exact(self) -> bool:
        return self.array.dtype == object

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Kernel):
            return NotImplemented
        if (self.dom, self.cod) != (other.dom, other.cod):
            return False
        if self.exact and other.exact:
            return all(map(exact_equal, self.array.ravel(), other.array.ravel()))
        a, b = (np.asarray(x.array, dtype=np.float64) for x in (self, other))
        return bool(np.allclose(a, b, rtol=0.0, atol=self.atol))

    __hash__ = None

    def __repr__(self) -> str:
        return f"Kernel({self.dom} -> {self.cod}, dtype={self.array.dtype})"


# --- the functor ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Functor:
    """An object map, an arrow map and the name of the target category."""

    ob: Callable[[Ty], tuple[int, ...]]
    ar: Callable[[TypedDiagram], Kernel]
    target: str = "FinStoch"

    def __call__(self, x: Ty | TypedDiagram):
        return self.ob(x) if isinstance(x, Ty) else self.ar(x)


def _sizes(ty: Ty) -> tuple[int, ...]:
    if not ty.is_finite:
        raise BackendError(f"{ty} is not a product of finite sets", hint='use backend="torch"')
    return ty.shape


def finstoch(params: Mapping[str, object] | None = None, *, exact: bool = False, seed: int | None = None,
             subs: Mapping[str, object] | None = None, budget: int = fs.DEFAULT_BUDGET,
             atol: float = 1e-9, scalars: Scalars | None = None) -> Functor:
    """The FinStoch functor fixed by its generators; each box's tensor is verified once."""
    ring = scalars or (FRACTION if exact else FLOAT)
    source = Source(ring, dict(params or {}), seed, dict(subs or {}), atol)
    tensors: dict[tuple, np.ndarray] = {}

    def generator(box: Box) -> np.ndarray:
        key = (box, box.body)
        if key not in tensors:
            tensors[key] = box_tensor(box, source)
        return tensors[key]

    def arrow(diagram: TypedDiagram) -> Kernel:
        _require_typed(diagram)
        with located(diagram.span):
            plan = fs.plan_of(diagram.wiring)
            array = fs.contract(plan, generator, exact=ring.exact, budget=budget, name=str(diagram))
            return Kernel(ring.tidy(array), _sizes(diagram.dom), _sizes(diagram.cod), atol)

    return Functor(_sizes, arrow)


def _require_typed(diagram: object) -> None:
    if not isinstance(diagram, TypedDiagram):
        raise BackendError(f"a backend compiles a TypedDiagram, not {type(diagram).__name__}",
                           hint="call catlm.typecheck(diagram) first")


# --- the backend table ----------------------------------------------------------------------------

def _numpy(diagram: TypedDiagram, **options) -> np.ndarray:
    return finstoch(**options)(diagram).array


def _sympy(diagram: TypedDiagram, **options) -> np.ndarray:
    options.pop("exact", None)  # sympy is always exact
    return finstoch(**options, scalars=SYMPY)(diagram).array


def _torch(diagram: TypedDiagram, **options):
    require(("torch",), 'catlm.compile(..., backend="torch")')
    module = importlib.import_module("catlm.backends.torch")
    return module.compile_torch(diagram, **options)


BACKENDS: dict[str, Callable[..., object]] = {"numpy": _numpy, "sympy": _sympy, "torch": _torch}


def get_backend(name: str) -> Callable[..., object]:
    if name not in BACKENDS:
        raise BackendError(f"unknown backend '{name}'; choose from {', '.join(BACKENDS)}")
    return BACKENDS[name]


def compile(diagram: TypedDiagram, backend: str = "numpy", params: Mapping[str, object] | None = None,
            exact: bool = False, seed: int | None = None, subs: Mapping[str, object] | None = None,
            budget: int = fs.DEFAULT_BUDGET, atol: float = 1e-9, **kw):
    """The diagram's tensor (numpy, sympy) or module (torch); see the module docstring."""
    run = get_backend(backend)
    _require_typed(diagram)
    if backend == "torch":  # exact is a FinStoch notion; the rest carries over unchanged
        if exact:
            raise UsageError('backend="torch" computes in floating point; exact=True cannot be honoured',
                             hint='use backend="numpy" or "sympy" for exact entries, or drop exact=True')
        with located(diagram.span):
            return run(diagram, params=params, seed=seed, subs=subs, budget=budget, atol=atol, **kw)
    if kw:
        raise BackendError(f"backend '{backend}' takes no option {', '.join(map(repr, kw))}")
    array = run(diagram, params=params, exact=exact, seed=seed, subs=subs, budget=budget, atol=atol)
    return LabelledKernel(array, diagram.dom, diagram.cod, diagram.name)
