"""The generators of a FinStoch functor: each box's tensor, from its body, ``params`` or a seed.

A functor out of a free Markov category is fixed by its values on the generating boxes. A box
with a ``Literal`` body gets its entries (read into the chosen ring, with ``subs`` for params); a
box without a body takes ``params[name]`` or is drawn from ``seed`` (Dirichlet(1) rows, one-hot
rows for a ``deterministic`` box; reproducible per box name and seed). Every tensor is then
verified to be a Markov kernel: no NaN, no negative entry, each row summing to 1 (exactly in the
exact rings, within ``atol`` in float), and one-hot rows when the box promised determinism. A
failure is a ``KernelError`` naming the kernel, the row by its domain elements, and the sum.

>>> import numpy as np
>>> from catlm.core.types import Finite, Ty
>>> from catlm.core.diagram import Box
>>> coin = Ty(Finite("Coin", ("heads", "tails")))
>>> source = Source(FLOAT, params={"f": np.array([[0.5, 0.5], [0.7, 0.2]])})
>>> box_tensor(Box("f", coin, coin), source)
Traceback (most recent call last):
  ...
catlm.errors.KernelError: kernel 'f' : Coin -> Coin is not a Markov kernel: row (tails) sums to 0.9, not 1 (each row is a distribution over the codomain; fix or normalise the entries)
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from typing import Mapping

import numpy as np

from catlm.backends.symbolic import FLOAT, Scalars, Unresolved, substitute  # noqa: F401 (FLOAT: doctest)
from catlm.core.diagram import Box, Implementation, Literal
from catlm.core.types import Ty
from catlm.errors import BackendError, KernelError
from catlm.stochastic import defect

QUANTUM = 2 ** 16  # drawn kernels in the exact rings have entries in (1/QUANTUM) Z


@dataclass(frozen=True)
class Source:
    """Where box entries come from and which ring they are read into."""

    scalars: Scalars
    params: Mapping[str, object] = field(default_factory=dict)
    seed: int | None = None
    subs: Mapping[str, object] = field(default_factory=dict)
    atol: float = 1e-9


def box_tensor(box: Box, source: Source) -> np.ndarray:
    """The verified tensor of ``box``, shape dom sizes + cod sizes."""
    tensor = BODIES[type(box.body)](box, source)
    verify(box, tensor, source)
    return tensor


# --- where entries come from -----------------------------------------------------------------------

def _from_literal(box: Box, source: Source) -> np.ndarray:
    body: Literal = box.body
    _check_shape(box, body.shape)
    try:
        entries = [substitute(x, source.subs) for x in body.entries]
        return source.scalars.array(entries, _shape(box))
    except Unresolved as err:
        raise BackendError(f"kernel '{box.name}': {err.message}", box.span, hint=err.hint) from None


def _from_implementation(box: Box, source: Source) -> np.ndarray:
    raise BackendError(f"kernel '{box.name}' is the module {box.body.name}(...), which FinStoch "
                       "cannot tabulate", box.span, hint='compile it with backend="torch"')


def _from_params(box: Box, source: Source) -> np.ndarray:
    if box.name in source.params:
        return _read_array(box, source.params[box.name], source.scalars)
    if source.seed is not None:
        return draw(box, source.seed, source.scalars)
    raise BackendError(f"kernel '{box.name}' : {box.dom} -> {box.cod} has no entries", box.span,
                       hint=f"give params={{'{box.name}': array}} (CLI: --params FILE.npz) "
                            "or a seed to draw it (seed=0, --seed 0)")


BODIES = {Literal: _from_literal, Implementation: _from_implementation, type(None): _from_params}


def _read_array(box: Box, value, scalars: Scalars) -> np.ndarray:
    a = np.asarray(value)
    if np.iscomplexobj(a) or a.dtype.kind not in "biufO":
        raise KernelError(f"params['{box.name}'] has dtype {a.dtype}; a kernel needs real entries",
                          box.span, hint="pass a float, int or Fraction array")
    want = _shape(box)
    if a.shape not in (want, (prod(box.dom.shape), prod(box.cod.shape))):
        raise KernelError(f"params['{box.name}'] has shape {a.shape} but {box.name} : {box.dom} -> "
                          f"{box.cod} needs {want}", box.span,
                          hint="one axis per domain object, then one per codomain object")
    if scalars.exact or a.dtype == object:
        return scalars.array(a.ravel().tolist(), want)
    return a.astype(np.float64, copy=False).reshape(want)


def draw(box: Box, seed: int, scalars: Scalars) -> np.ndarray:
    """A reproducible random kernel for ``box`` (depends only on its name, shape and ``seed``)."""
    rng = np.random.default_rng([seed, zlib.crc32(box.name.encode())])
    rows, cols = prod(box.dom.shape), prod(box.cod.shape)
    if box.deterministic:
        m = np.zeros((rows, cols))
        m[np.arange(rows), rng.integers(cols, size=rows)] = 1.0
    else:
        m = rng.dirichlet(np.ones(cols), size=rows)
    if not scalars.exact:
        return m.reshape(_shape(box))
    return scalars.array(_quantise(m).ravel().tolist(), _shape(box))


def _quantise(m: np.ndarray) -> np.ndarray:
    """Rows of multiples of 1/QUANTUM summing to exactly 1 (largest remainders round up)."""
    scaled = m * QUANTUM
    counts = np.floor(scaled).astype(np.int64)
    short = QUANTUM - counts.sum(axis=1)
    order = np.argsort(counts - scaled, axis=1)  # largest remainder first
    for r in range(m.shape[0]):
        counts[r, order[r, :short[r]]] += 1
    return np.array([[Fraction(int(c), QUANTUM) for c in row] for row in counts], dtype=object)


# --- verification: the tensor is a Markov kernel -----------------------------------------------------

def verify(box: Box, tensor: np.ndarray, source: Source) -> None:
    """Raise ``KernelError`` unless every row is a distribution (one-hot if deterministic)."""
    m = tensor.reshape(prod(box.dom.shape), prod(box.cod.shape))
    bad = defect(m, source.atol, source.scalars.is_zero if source.scalars.exact else None)
    if bad is not None:
        raise KernelError(f"kernel '{box.name}' : {box.dom} -> {box.cod} is not a Markov kernel: "
                          f"{_row(box.dom, bad[0])} {bad[1]}", box.span,
                          hint="each row is a distribution over the codomain; fix or normalise the entries")
    if box.deterministic:
        _verify_one_hot(box, m, source)


def _verify_one_hot(box: Box, m: np.ndarray, source: Source) -> None:
    scalars = source.scalars
    for r, row in enumerate(m):
        nonzero = [x for x in row if not (scalars.is_zero(x) if scalars.exact else abs(x) <= source.atol)]
        if len(nonzero) != 1:
            raise KernelError(f"kernel '{box.name}' is declared deterministic but {_row(box.dom, r)} "
                              f"is not one-hot ({len(nonzero)} nonzero entries)", box.span,
                              hint="a deterministic kernel has a single 1 in every row; "
                                   "drop `deterministic` or fix the row")


def _row(dom: Ty, r: int) -> str:
    """``row (heads, 2)``: the row named by the elements of the domain."""
    if len(dom) == 0:
        return "the state"
    index = np.unravel_index(r, dom.shape)
    return "row (" + ", ".join(ob.elements[i] for ob, i in zip(dom, index)) + ")"


def _shape(box: Box) -> tuple[int, ...]:
    return box.dom.shape + box.cod.shape


def _check_shape(box: Box, shape: tuple[int, ...]) -> None:
    if tuple(shape) not in (_shape(box), (prod(box.dom.shape), prod(box.cod.shape))):
        raise KernelError(f"kernel '{box.name}' : {box.dom} -> {box.cod} has literal entries of "
                          f"shape {tuple(shape)}, not {_shape(box)}", box.span,
                          hint="one row per domain element, one column per codomain element")


# --- reading parameters from the command line -------------------------------------------------------

def load_npz(path: str) -> dict[str, np.ndarray]:
    """Kernel entries by name from an ``.npz`` file (never unpickled: object arrays are refused)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except ValueError as err:
        raise BackendError(f"cannot read parameters from {path}: {err}",
                           hint="save plain numeric arrays with numpy.savez(path, name=array)") from None
