"""Exact values of the numbers in a .cat file: Fractions, or sympy expressions in params.

Arithmetic is built from the syntax tree node by node: nothing here evaluates text, so a spec can
never run code. Rational arithmetic stays in ``Fraction``; a param or a function such as
``sqrt`` moves the value into sympy, which keeps it exact and symbolic. A tiny text can ask for a
huge number (``1e999999999``, ``((10^1000)^1000)^1000``), so the size of every result is bounded
before it is computed (``MAX_BITS``), and a value that is not a finite real number (``log(0)``,
``sqrt(-1)``) is a ``SpecError`` at the term that made it; whether the values make a Markov kernel
(non-negative, rows summing to 1) is decided for the whole literal by ``catlm.elaborate.literals``.

>>> from catlm.syntax import ast
>>> value(ast.BinOp("-", ast.Number("1"), ast.BinOp("/", ast.Number("9"), ast.Number("10"))), {})
Fraction(1, 10)
>>> value(ast.BinOp("-", ast.Number("1"), ast.ParamRef("p")), {"p": sympy.Symbol("p")})
1 - p
"""
from __future__ import annotations

import operator
from fractions import Fraction
from typing import Iterable, Union

import sympy

from catlm.elaborate.walk import fold
from catlm.errors import BackendError, CatlmError, SpecError
from catlm.syntax import ast
from catlm.syntax import parse as parse_syntax
from catlm.syntax.format import format_num

Exact = Union[int, Fraction, sympy.Expr]

MAX_EXPONENT = 1024  # |n| in p ^ n for symbolic p, and in the e-notation 1e-n
MAX_BITS = 1 << 16   # numerator and denominator of an exact rational: about 20,000 digits each
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
    exponent = node.text.lower().partition("e")[2]
    if exponent and abs(int(exponent)) > MAX_EXPONENT:
        raise SpecError(f"the exponent of {node.text[:20]} is too large (at most e{MAX_EXPONENT} "
                        f"and e-{MAX_EXPONENT})", node.span, hint="a kernel entry is a probability")
    try:
        x = Fraction(node.text)
    except (ValueError, ZeroDivisionError):
        raise SpecError(f"'{node.text}' is not a number", node.span) from None
    return int(x) if x.denominator == 1 else x  # a decimal is finite and real


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
    if node.op in "*/" and _bits(left) + _bits(right) > MAX_BITS:
        raise _too_large(node)
    return _checked(node, _simplify(_integral(OPERATORS[node.op](_lift(left, right), _lift(right, left)))))


def _integral(x: Exact) -> Exact:
    return int(x) if isinstance(x, Fraction) and x.denominator == 1 else x


def _power(node: ast.BinOp, base: Exact, exponent: Exact) -> Exact:
    if base == 0 and isinstance(exponent, (int, Fraction)) and exponent < 0:
        raise SpecError("zero to a negative power in a literal", node.span)
    if isinstance(exponent, int) and isinstance(base, (int, Fraction)):
        if base in (0, 1, -1):  # |result| <= 1 whatever the exponent: only its parity matters
            exponent = min(exponent, 1) if base != -1 else exponent % 2
        elif _bits(base) * abs(exponent) > MAX_BITS:  # the result's size, whatever the exponent
            raise _too_large(node)
        return _integral(Fraction(base) ** exponent)  # 3^-1 is 1/3, never a float
    if isinstance(exponent, int) and abs(exponent) > MAX_EXPONENT:
        raise SpecError(f"exponent {exponent} is too large for a symbolic power (at most "
                        f"{MAX_EXPONENT})", node.span)
    if not isinstance(exponent, int) and _bits(base) + _bits(exponent) > MAX_BITS:
        raise _too_large(node)
    return _checked(node, _simplify(sympy.Pow(_sym(base), _sym(exponent))))


def _bits(x: Exact) -> int:
    """The size of an exact rational: bits of its numerator plus its denominator (symbolic: 0)."""
    if isinstance(x, (int, Fraction)):
        return abs(x.numerator).bit_length() + x.denominator.bit_length()
    return 0


def _too_large(node, limit: int = MAX_BITS) -> SpecError:
    return SpecError(f"`{format_num(node)[:40]}` would have more than {limit:,} bits", node.span,
                     hint="a kernel entry is a probability; write it with fewer digits")


def _call(node: ast.Call, args, params) -> Exact:
    if node.func not in FUNCTIONS:
        raise SpecError(f"unknown function '{node.func}'", node.span,
                        hint=f"choose from {', '.join(FUNCTIONS)}")
    if len(args) != 1:
        raise SpecError(f"{node.func} takes one argument, got {len(args)}", node.span)
    if _bits(args[0]) > MAX_BITS // 16:  # sympy factors a rational under sqrt and log
        raise _too_large(node, MAX_BITS // 16)
    return _checked(node, _simplify(FUNCTIONS[node.func](_sym(args[0]))))


def _checked(node, x: Exact) -> Exact:
    """``x`` if it is a finite real number (or may be one, for some values of the params)."""
    if isinstance(x, sympy.Basic):
        if x.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo) or x.is_finite is False:
            raise SpecError(f"`{format_num(node)[:40]}` is not a finite number (it is {x})", node.span,
                            hint="a kernel entry is a probability (log(0) and 0/0 are not)")
        if x.is_extended_real is False:
            raise SpecError(f"`{format_num(node)[:40]}` is not a real number (it is {x})", node.span,
                            hint="a kernel entry is a probability")
    return x


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


# --- values given on the command line -------------------------------------------------------------

def parse_subs(items: list[str] | None, params: Iterable[str]) -> dict[str, Exact]:
    """``["p=1/3", "q=sqrt(2)/2"]`` -> exact values of declared params, read as a literal is read.

    >>> parse_subs(["p=1/3", "q = sqrt(2)/2"], ["p", "q"])
    {'p': Fraction(1, 3), 'q': sqrt(2)/2}
    """
    known, subs = tuple(params), {}
    for item in items or []:
        name, sep, text = (part.strip() for part in item.partition("="))
        if not sep or not name or not text:
            raise BackendError(f"cannot read the substitution {item!r}", hint="write it as NAME=VALUE, e.g. p=1/3")
        if name not in known:
            declared = f"its params are {', '.join(known)}" if known else "it declares no params"
            raise BackendError(f"--subs gives a value to '{name}', which is not a param of the spec; {declared}",
                               hint="give values only to declared params")
        subs[name] = read_number(text, name)
    return subs


def read_number(text: str, name: str = "value") -> Exact:
    """A number written as in a literal (``1/3``, ``0.25``, ``sqrt(2)/2``), exactly; params are not allowed."""
    try:
        spec = parse_syntax(f"kernel {name} : I -> I = [{text}]", f"<{name}>")
        body = spec.statements[0].body if len(spec.statements) == 1 else None
        if not isinstance(body, ast.ListLit) or len(body.items) != 1 or isinstance(body.items[0], ast.ListLit):
            raise SpecError("not a single number")
        return value(body.items[0], {})
    except CatlmError as err:
        raise BackendError(f"cannot read {name}={text!r} as a number: {err.message}",
                           hint="write an exact number such as 1/3, 0.25 or sqrt(2)/2") from None
