"""Exact values of the numbers in a .cat file: Fractions, or sympy expressions in params.

Arithmetic is built from the syntax tree node by node: nothing here evaluates text, so a spec can
never run code. Rational arithmetic stays in ``Fraction``; a param or a function such as
``sqrt`` moves the value into sympy, which keeps it exact and symbolic.

>>> from catlm.syntax import ast
>>> value(ast.BinOp("-", ast.Number("1"), ast.BinOp("/", ast.Number("9"), ast.Number("10"))), {})
Fraction(1, 10)
>>> value(ast.BinOp("-", ast.Number("1"), ast.ParamRef("p")), {"p": sympy.Symbol("p")})
1 - p
"""
from __future__ import annotations

import operator
from fractions import Fraction
from typing import Union

import sympy

from catlm.elaborate.walk import fold
from catlm.errors import SpecError
from catlm.syntax import ast

Exact = Union[int, Fraction, sympy.Expr]

MAX_EXPONENT = 1024  # |n| in a ^ n; larger powers of rationals only exhaust memory
FUNCTIONS = {"sqrt": sympy.sqrt, "exp": sympy.exp, "log": sympy.log}
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
             "^": operator.pow}


def value(node: ast.NumExpr, params: dict[str, sympy.Symbol]) -> Exact:
    """The exact value of a number expression; ``params`` maps declared params to symbols."""
    children = {ast.Neg: lambda n: (n.operand,), ast.BinOp: lambda n: (n.left, n.right),
                ast.Call: lambda n: n.args}
    return fold(node, lambda n: children.get(type(n), lambda _: ())(n),
                lambda n, args: _RULES[type(n)](n, args, params))


def _number(node: ast.Number, args, params) -> Exact:
    try:
        x = Fraction(node.text)
    except (ValueError, ZeroDivisionError):
        raise SpecError(f"'{node.text}' is not a number", node.span) from None
    return int(x) if x.denominator == 1 else x


def _param(node: ast.ParamRef, args, params) -> Exact:
    if node.name not in params:
        raise SpecError(f"unknown param '{node.name}' in a literal", node.span,
                        hint=f"declare it with `param {node.name}`")
    return params[node.name]


def _neg(node: ast.Neg, args, params) -> Exact:
    return -args[0]


def _binop(node: ast.BinOp, args, params) -> Exact:
    left, right = args
    if node.op == "/" and right == 0:
        raise SpecError("division by zero in a literal", node.span)
    if node.op == "^":
        return _power(node, left, right)
    if node.op == "/" and not isinstance(left, sympy.Basic):
        left = Fraction(left)  # int / int is a float in Python; a literal stays exact
    return _simplify(_integral(OPERATORS[node.op](_lift(left, right), _lift(right, left))))


def _integral(x: Exact) -> Exact:
    return int(x) if isinstance(x, Fraction) and x.denominator == 1 else x


def _power(node: ast.BinOp, base: Exact, exponent: Exact) -> Exact:
    if isinstance(exponent, int) and abs(exponent) > MAX_EXPONENT:
        raise SpecError(f"exponent {exponent} is too large (at most {MAX_EXPONENT})", node.span)
    if base == 0 and isinstance(exponent, (int, Fraction)) and exponent < 0:
        raise SpecError("zero to a negative power in a literal", node.span)
    if isinstance(exponent, int) and isinstance(base, (int, Fraction)):
        return base ** exponent
    return _simplify(sympy.Pow(_sym(base), _sym(exponent)))


def _call(node: ast.Call, args, params) -> Exact:
    if node.func not in FUNCTIONS:
        raise SpecError(f"unknown function '{node.func}'", node.span,
                        hint=f"choose from {', '.join(FUNCTIONS)}")
    if len(args) != 1:
        raise SpecError(f"{node.func} takes one argument, got {len(args)}", node.span)
    return _simplify(FUNCTIONS[node.func](_sym(args[0])))


def _sym(x: Exact) -> sympy.Expr:
    if isinstance(x, Fraction):
        return sympy.Rational(x.numerator, x.denominator)
    return sympy.Integer(x) if isinstance(x, int) else x


def _lift(x: Exact, other: Exact) -> Exact:
    """Keep rationals as Fractions unless the other operand is symbolic."""
    return _sym(x) if isinstance(other, sympy.Basic) and not isinstance(x, sympy.Basic) else x


def _simplify(x: Exact) -> Exact:
    """A sympy value that is rational becomes a Fraction again (``sqrt(4)`` is 2)."""
    if isinstance(x, sympy.Basic) and x.is_Rational:
        return Fraction(int(x.p), int(x.q)) if x.q != 1 else int(x.p)
    return x


_RULES = {ast.Number: _number, ast.ParamRef: _param, ast.Neg: _neg, ast.BinOp: _binop,
          ast.Call: _call}
