"""Exact scalars of FinStoch: Fractions (exact numpy mode) and sympy expressions (sympy backend).

A kernel's entries live in one of three rings: float64 (``float``), the rationals as
``fractions.Fraction`` (``fraction``) and sympy expressions in the spec's params (``sympy``). Each
is a ``Scalars`` value: how to read an entry, how to decide that an entry is zero, what an array
of such entries is. The contraction itself is the same in all three (opt_einsum's ``object``
backend multiplies and adds whatever the entries are). A float given to an exact mode is read as
its shortest decimal (``0.1`` is 1/10), the way a person wrote it.

>>> from fractions import Fraction
>>> FRACTION.read(0.1), FRACTION.read("1/3"), FRACTION.read(Fraction(2, 4))
(Fraction(1, 10), Fraction(1, 3), Fraction(1, 2))
>>> p = sympy.Symbol("p")
>>> SYMPY.is_zero(SYMPY.read(p * (1 - p) + p**2 - p))
True
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from numbers import Integral, Rational, Real
from typing import Callable

import numpy as np
import sympy

from catlm.errors import BackendError


class Unresolved(BackendError):
    """An entry still mentions a param that this ring cannot keep symbolic."""


def _fraction(x) -> Fraction:
    if isinstance(x, sympy.Basic):
        return _fraction_of_sympy(x)
    if isinstance(x, (Integral, Rational)) and not isinstance(x, bool):
        return Fraction(int(x.numerator), int(x.denominator))
    if isinstance(x, str):
        return Fraction(x.strip())
    if isinstance(x, (Real, np.floating, np.integer, bool)):
        return Fraction(repr(float(x))) if np.isfinite(float(x)) else _not_finite(x)
    raise BackendError(f"cannot read {x!r} as an exact number", hint="use an int, Fraction or 'p/q' string")


def _fraction_of_sympy(x: sympy.Basic) -> Fraction:
    if x.free_symbols:
        names = ", ".join(sorted(str(s) for s in x.free_symbols))
        raise Unresolved(f"the entry {x} depends on the param {names}",
                         hint=f"give a value with subs={{'{names.split(', ')[0]}': 1/3}} "
                              f"(CLI: --subs {names.split(', ')[0]}=1/3) or use backend=\"sympy\"")
    if x.is_Float:  # a float given for a param: its shortest decimal, as for any float
        return _fraction(float(x))
    if not x.is_Rational:
        raise BackendError(f"the entry {x} is not a rational number, which Fractions cannot hold",
                           hint='keep it exact with backend="sympy" (CLI: eval --exact without '
                                'that --subs value), or evaluate in floats')
    return Fraction(int(x.p), int(x.q))


def _not_finite(x) -> Fraction:
    raise BackendError(f"the entry {x!r} is not a finite number", hint="a kernel entry is a probability")


def _float(x) -> float:
    if isinstance(x, sympy.Basic):
        return float(_fraction_of_sympy(x)) if x.free_symbols else float(x)
    if isinstance(x, str):
        return float(Fraction(x.strip()))
    return float(x)


def _sympy(x) -> sympy.Expr:
    if isinstance(x, sympy.Basic):
        return x
    if isinstance(x, str):
        return sympy.Rational(x.strip())
    return sympy.Rational(*_fraction(x).as_integer_ratio())


def _sympy_zero(x) -> bool:
    return sympy.cancel(sympy.sympify(x)) == 0


def _fraction_zero(x) -> bool:
    return x == 0


def _float_zero(x, atol: float = 0.0) -> bool:
    return abs(x) <= atol


def _sympy_tidy(a: np.ndarray) -> np.ndarray:
    """Canonical form of every entry (a rational function in the params, expanded)."""
    flat = [sympy.expand(sympy.cancel(sympy.sympify(x))) for x in a.ravel()]
    return np.array(flat + [None], dtype=object)[:-1].reshape(a.shape)


def _identity(a: np.ndarray) -> np.ndarray:
    return a


@dataclass(frozen=True)
class Scalars:
    """A ring of kernel entries: how to read one, decide zero, tidy a result."""

    name: str
    exact: bool
    dtype: object
    read: Callable[[object], object]
    is_zero: Callable[[object], bool]
    tidy: Callable[[np.ndarray], np.ndarray] = _identity

    def array(self, entries, shape: tuple[int, ...]) -> np.ndarray:
        """An array of ``shape`` from row-major entries, each read into this ring."""
        values = [self.read(x) for x in entries]
        if not self.exact:
            return np.array(values, dtype=np.float64).reshape(shape)
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out.reshape(shape)


FLOAT = Scalars("float", False, np.float64, _float, _float_zero)
FRACTION = Scalars("fraction", True, object, _fraction, _fraction_zero)
SYMPY = Scalars("sympy", True, object, _sympy, _sympy_zero, _sympy_tidy)


def substitute(entry, subs: dict[str, object]):
    """Replace params in a sympy entry by their values (exact values, numbers or 'p/q' strings)."""
    if not isinstance(entry, sympy.Basic) or not entry.free_symbols or not subs:
        return entry
    # match by name: the spec's symbols may carry assumptions that a bare Symbol(name) lacks
    return entry.subs({s: _sympy(subs[s.name]) for s in entry.free_symbols if s.name in subs})


def exact_equal(a, b) -> bool:
    """Exact equality of two entries in any exact ring (sympy compares after cancelling)."""
    if isinstance(a, sympy.Basic) or isinstance(b, sympy.Basic):
        return _sympy_zero(_sympy(a) - _sympy(b))
    return a == b
