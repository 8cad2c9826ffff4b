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
import random
from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate
from math import lcm
from typing import Callable, Mapping, Sequence

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
        """Chapman–Kolmogorov: contract the middle axes (the matrix product of the paper's Def. 2.2)."""
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

    def marginal(self, mask: Sequence[int]) -> "Kernel":
        """Keep the codomain factors where ``mask`` is 1 and sum out the others (EfProb's ``%``).

        ``joint.marginal([1, 0])`` is the first factor's law, as ``joint >> (id @ del)`` is.
        """
        if len(mask) != len(self.cod) or any(m not in (0, 1) for m in mask):
            raise BackendError(f"a marginal mask has one 0 or 1 per codomain factor ({len(self.cod)} "
                               f"here), not {list(mask)}", hint="e.g. [1, 0] keeps the first of two")
        summed = tuple(len(self.dom) + i for i, m in enumerate(mask) if not m)
        array = self.array.sum(axis=summed) if summed else self.array
        cod = tuple(n for n, m in zip(self.cod, mask) if m)
        return Kernel(np.asarray(array, dtype=self.array.dtype), self.dom, cod, self.atol)

    def sample(self, n: int, given: Sequence[int] = (), seed: int | None = None) -> list[tuple[int, ...]]:
        """``n`` independent draws of codomain indices from the row of the input ``given``.

        Exact kernels are sampled exactly: a uniform integer below the common denominator of the
        row picks its outcome, so every draw has exactly the kernel's probability.
        """
        if len(given) != len(self.dom):
            raise BackendError(f"sampling needs one input index per domain factor ({len(self.dom)}), "
                               f"got {len(given)}", hint="a state (a kernel out of I) needs none")
        row, rng = self.array[tuple(given)].ravel(), random.Random(seed)
        weights = _integer_weights(row) if self.exact else list(np.asarray(row, dtype=np.float64))
        cumulative = list(accumulate(weights))
        total = cumulative[-1]
        draw = (lambda: rng.randrange(total)) if self.exact else (lambda: rng.random() * total)
        picks = [min(bisect_right(cumulative, draw()), len(row) - 1) for _ in range(n)]
        return [tuple(int(i) for i in np.unravel_index(k, self.cod)) for k in picks]

    __rshift__ = then
    __matmul__ = tensor
    __mod__ = marginal

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


def _integer_weights(row: np.ndarray) -> list[int]:
    """Exact probabilities as integers over their common denominator."""
    try:
        fractions = [Fraction(int(x.numerator), int(x.denominator)) if hasattr(x, "numerator")
                     else Fraction(int(x.p), int(x.q)) for x in row]
    except (AttributeError, TypeError):
        raise BackendError("the kernel's entries are not all rational numbers, so it cannot be "
                           "sampled exactly", hint="give every param a value (--subs p=1/3)") from None
    denominator = lcm(*(f.denominator for f in fractions))
    return [int(f * denominator) for f in fractions]


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
