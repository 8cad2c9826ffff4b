"""The inverse of the front end: ``ast`` records -> canonical ``.cat`` text, ``parse(format(s)) == s``.

Canonical text is ASCII (``->``, ``@``, ``>>``, ``.`` for ``∘``), one statement per line, with
the fewest parentheses that the precedences of ``grammar/catlm.lark`` allow. Each kind of record
has one rule in a dispatch table. Recursion follows the tree, whose depth the parser bounds
(``to_ast.MAX_DEPTH``); chains are flat (``ast.Then`` of any length is one level).

>>> from catlm.syntax.parser import parse
>>> print(format(parse("kernel j = flip >> copy >> (id ⊗ noisy)\\nlaw c : h ∘ (g ∘ f) == f >> g >> h")))
kernel j = flip >> copy >> id @ noisy
law c : h . g . f == f >> g >> h
<BLANKLINE>
"""
from __future__ import annotations

from catlm.syntax import ast

# binding strength: a child binds at least as tightly as its slot needs, or it is parenthesised
EXPR_LEVEL = {ast.Then: 1, ast.Compose: 1, ast.Tensor: 2, ast.KernelPower: 3}  # else 4 (an atom)
NUM_LEVEL = {ast.BinOp: None, ast.Neg: 3}  # BinOp: by operator; Number, ParamRef, Call: 5
OP_LEVEL = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}


def format(spec: ast.Spec) -> str:  # noqa: A001 -- the name of the stage, as in parse/format
    """The canonical text of a whole spec, one statement per line."""
    return "".join(format_statement(statement) + "\n" for statement in spec.statements)


def format_statement(statement: ast.Statement) -> str:
    return STATEMENTS[type(statement)](statement)


def format_expr(expr: ast.Expr) -> str:
    """A diagram expression, e.g. ``flip >> copy >> (id @ noisy)``."""
    return EXPRS[type(expr)](expr)


def format_ob(ob: ast.ObExpr) -> str:
    """An object, e.g. ``Tok* @ (A @ B)^2``."""
    return OBS[type(ob)](ob)


def format_num(num) -> str:
    """A literal entry: a number expression or a nested list, e.g. ``[9/10, 1 - p]``."""
    return NUMS[type(num)](num)


# --- statements ---------------------------------------------------------------------------------

def _kernel(k: ast.KernelDecl) -> str:
    text = f"kernel {k.name}"
    if k.type is not None:
        text += f" : {format_ob(k.type.dom)} -> {format_ob(k.type.cod)}"
    if k.deterministic:
        text += " deterministic"
    return text if k.body is None else f"{text} = {_body(k.body)}"


def _body(body) -> str:
    return BODIES.get(type(body), format_expr)(body)


def _law(law: ast.Law) -> str:
    text = f"law {law.name} : {format_expr(law.lhs)} {'==' if law.equal else '!='} {format_expr(law.rhs)}"
    return text if law.almost_surely is None else f"{text} a.s. {format_expr(law.almost_surely)}"


STATEMENTS = {
    ast.ObjectDecl: lambda s: f"object {s.name} = {format_ob(s.value)}",
    ast.ParamDecl: lambda s: "param " + ", ".join(s.names),
    ast.KernelDecl: _kernel,
    ast.Law: _law,
    ast.CheckDeterministic: lambda s: f"check deterministic {format_expr(s.expr)}",
    ast.CheckMarkov: lambda s: f"check markov {format_ob(s.ob)}",
    ast.Import: lambda s: f"import {_quote(s.path)}",
}


# --- objects: product < postfix (^n, *) < atoms -------------------------------------------------

def _factor(ob: ast.ObExpr) -> str:
    """An object in a slot that binds tighter than ``@`` (a factor or the base of ``^``, ``*``)."""
    return f"({format_ob(ob)})" if isinstance(ob, ast.Product) else format_ob(ob)


OBS = {
    ast.ObName: lambda o: o.name,
    ast.FinSet: lambda o: "{" + ", ".join(o.elements) + "}",
    ast.FinRange: lambda o: f"fin {o.size}",
    ast.RealSpace: lambda o: f"real {o.dim}",
    ast.Unit: lambda o: "I",
    ast.Product: lambda o: " @ ".join(_factor(f) for f in o.factors),
    ast.Power: lambda o: f"{_factor(o.base)}^{o.exponent}",
    ast.Star: lambda o: f"{_factor(o.base)}*",
}


# --- diagram expressions: (>> | ∘) < @ < atoms ----------------------------------------------------

def _operand(expr: ast.Expr, level: int) -> str:
    """``expr`` in a slot needing binding strength ``level`` (chains are flat: no part is of their kind)."""
    text = format_expr(expr)
    return text if EXPR_LEVEL.get(type(expr), 4) >= level else f"({text})"


def _brackets(*args) -> str:
    """``[A]``, ``[A, B]``, ``[A, 3]`` for the given arguments (objects or counts), or nothing."""
    given = [format_ob(a) if type(a) in OBS else str(a) for a in args if a is not None]
    return f"[{', '.join(given)}]" if given else ""


EXPRS = {
    ast.Name: lambda e: e.name,
    ast.Then: lambda e: " >> ".join(_operand(p, 2) for p in e.parts),
    ast.Compose: lambda e: " . ".join(_operand(p, 2) for p in e.parts),
    ast.Tensor: lambda e: " @ ".join(_operand(p, 3) for p in e.parts),
    ast.KernelPower: lambda e: f"{_operand(e.base, 4)}^{e.exponent}",
    ast.Identity: lambda e: "id" + _brackets(e.ob),
    ast.CopyExpr: lambda e: "copy" + _brackets(e.ob, e.n),
    ast.DeleteExpr: lambda e: "del" + _brackets(e.ob),
    ast.SwapExpr: lambda e: "swap" + _brackets(e.left, e.right),
}


# --- literals: + - < * / < unary - < ^ < atoms ------------------------------------------------------

def _level(num) -> int:
    if isinstance(num, ast.BinOp):
        return OP_LEVEL[num.op]
    return NUM_LEVEL.get(type(num), 5)


def _wrap(num, needed: int) -> str:
    text = format_num(num)
    return text if _level(num) >= needed else f"({text})"


def _binop(b: ast.BinOp) -> str:
    level = OP_LEVEL[b.op]
    if b.op == "^":  # right-associative: the base is an atom, the exponent any unary
        return f"{_wrap(b.left, 5)}^{_wrap(b.right, 3)}"
    separator = "/" if b.op == "/" else f" {b.op} "
    return f"{_wrap(b.left, level)}{separator}{_wrap(b.right, level + 1)}"


NUMS = {
    ast.Number: lambda n: n.text,
    ast.ParamRef: lambda n: n.name,
    ast.Neg: lambda n: "-" + _wrap(n.operand, 3),
    ast.BinOp: _binop,
    ast.Call: lambda n: f"{n.func}({', '.join(format_num(a) for a in n.args)})",
    ast.ListLit: lambda n: "[" + ", ".join(format_num(item) for item in n.items) + "]",
    ast.Ident: lambda n: n.name,
    ast.String: lambda n: _quote(n.text),
}

BODIES = {
    ast.ListLit: format_num,
    ast.Implementation: lambda i: f"{i.name}({', '.join(f'{a.name}={format_num(a.value)}' for a in i.args)})",
}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
