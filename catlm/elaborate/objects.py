"""Object expressions of a .cat file as types: ``{a, b}``, ``fin n``, ``real d``, ``A @ B``, ``A^n``, ``A*``.

>>> from catlm.syntax import ast
>>> env = {"Coin": Ty(Finite("Coin", ("heads", "tails")))}
>>> object_type(ast.Power(ast.ObName("Coin"), 2), env)
Ty(Coin, Coin)
>>> object_type(ast.FinRange(6), env, name="Die").shape
(6,)
"""
from __future__ import annotations

import difflib

from catlm.core.types import I, Finite, Real, Seq, Ty
from catlm.elaborate.walk import fold
from catlm.errors import SpecError
from catlm.syntax import ast
from catlm.syntax.format import format_ob

MAX_POWER = 64  # A^n with n above this is a typo, not a tensor anyone can build
MAX_ELEMENTS = 1 << 20  # fin n names each element: a million names, not 10^18 of them


def object_type(node: ast.ObExpr, env: dict[str, Ty], name: str | None = None) -> Ty:
    """The type an object expression denotes; ``name`` names a declared generating object."""
    children = {ast.Product: lambda n: n.factors, ast.Power: lambda n: (n.base,),
                ast.Star: lambda n: (n.base,)}
    top = node

    def combine(n, args: list[Ty]) -> Ty:
        label = name if n is top and name else format_ob(n)
        return _RULES[type(n)](n, args, env, label)

    return fold(node, lambda n: children.get(type(n), lambda _: ())(n), combine)


def _name(n: ast.ObName, args, env, label) -> Ty:
    if n.name not in env:
        close = difflib.get_close_matches(n.name, env, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"declare it with `object {n.name} = ...`"
        raise SpecError(f"unknown object '{n.name}'", n.span, hint=hint)
    return env[n.name]


def _finset(n: ast.FinSet, args, env, label) -> Ty:
    seen = set()
    for element in n.elements:
        if element in seen:
            raise SpecError(f"element '{element}' appears twice in {format_ob(n)}", n.span)
        seen.add(element)
    if not n.elements:
        raise SpecError("an empty set has no probability distributions", n.span,
                        hint="give the set at least one element")
    return Ty(Finite(label, tuple(n.elements)))


def _range(n: ast.FinRange, args, env, label) -> Ty:
    if n.size < 1:
        raise SpecError(f"fin {n.size} is empty: it has no probability distributions", n.span,
                        hint="use fin 1 or more")
    if n.size > MAX_ELEMENTS:
        raise SpecError(f"fin {n.size} has more elements than catlm names (at most {MAX_ELEMENTS:,})",
                        n.span, hint="a finite object is a set whose distributions catlm tabulates; "
                        "for a larger space use real d or a sequence A*")
    return Ty(Finite.range(label, n.size))


def _real(n: ast.RealSpace, args, env, label) -> Ty:
    if n.dim < 1:
        raise SpecError(f"real {n.dim} has no dimensions", n.span, hint="use real 1 or more")
    return Ty(Real(label, n.dim))


def _unit(n: ast.Unit, args, env, label) -> Ty:
    return I


def _product(n: ast.Product, args: list[Ty], env, label) -> Ty:
    out = I
    for ty in args:
        out = out @ ty
    return out


def _power(n: ast.Power, args: list[Ty], env, label) -> Ty:
    if not 0 <= n.exponent <= MAX_POWER:
        raise SpecError(f"power {n.exponent} out of range (0 to {MAX_POWER})", n.span)
    return args[0] ** n.exponent


def _star(n: ast.Star, args: list[Ty], env, label) -> Ty:
    if len(args[0]) != 1:
        raise SpecError(f"sequences are over one object, not {args[0]}", n.span,
                        hint="declare the product as an object first: `object P = A @ B`")
    return Ty(Seq(label, args[0][0]))


_RULES = {ast.ObName: _name, ast.FinSet: _finset, ast.FinRange: _range, ast.RealSpace: _real,
          ast.Unit: _unit, ast.Product: _product, ast.Power: _power, ast.Star: _star}
