"""The abstract syntax of .cat files: frozen records named after the grammar's rules.

Every node carries the ``span`` of the text it came from; spans take no part in equality, so
``parse(format(spec)) == spec`` compares meaning, not layout. Numbers keep their source text
(``Number("9/10")`` is not built here: ``9/10`` is ``BinOp("/", Number("9"), Number("10"))``);
exact values are built from these nodes by ``catlm.elaborate``, never by ``eval`` or ``sympify``.

>>> Then((Name("emb"), Name("head"))) == Then((Name("emb", span=None), Name("head")))
True
>>> Then((Then((Name("f"), Name("g"))), Name("h"))).parts  # n-ary and flat
(Name(name='f'), Name(name='g'), Name(name='h'))
"""
from __future__ import annotations

from dataclasses import dataclass, field

from catlm.errors import Span


def _span() -> Span | None:
    return field(default=None, compare=False, repr=False)  # type: ignore[return-value]


# --- objects ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ObName:
    """A reference to a declared object: ``Coin``."""
    name: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class FinSet:
    """A finite set with named elements: ``{heads, tails}``."""
    elements: tuple[str, ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class FinRange:
    """The finite set ``fin n`` = {0, ..., n-1}."""
    size: int
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class RealSpace:
    """``real d``: the space R^d."""
    dim: int
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Unit:
    """``I``: the monoidal unit."""
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Product:
    """``A @ B @ C`` (or with ``⊗``); at least two factors, flattened."""
    factors: tuple["ObExpr", ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Power:
    """``A^n``: the product of n copies of A."""
    base: "ObExpr"
    exponent: int
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Star:
    """``A*``: finite sequences over A."""
    base: "ObExpr"
    span: Span | None = _span()


ObExpr = ObName | FinSet | FinRange | RealSpace | Unit | Product | Power | Star


# --- numbers in literals and parameters ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Number:
    """An unsigned integer or decimal literal, kept as its text: ``3``, ``0.25``, ``1e-3``."""
    text: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class ParamRef:
    """A declared parameter used in an expression: ``p``."""
    name: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Neg:
    """``-x``."""
    operand: "NumExpr"
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class BinOp:
    """``a + b``, ``a - b``, ``a * b``, ``a / b``, ``a ^ b``; ``op`` is one of ``+ - * / ^``."""
    op: str
    left: "NumExpr"
    right: "NumExpr"
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Call:
    """A function of the fixed table in ``catlm.elaborate`` (``sqrt``, ``exp``, ``log``): ``sqrt(p)``."""
    func: str
    args: tuple["NumExpr", ...]
    span: Span | None = _span()


NumExpr = Number | ParamRef | Neg | BinOp | Call


@dataclass(frozen=True, slots=True)
class ListLit:
    """A bracketed list ``[a, b, ...]`` whose items are numbers or nested lists."""
    items: tuple["NumExpr | ListLit", ...]
    span: Span | None = _span()


# --- kernel bodies -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Ident:
    """A bare word as an implementation argument: ``learned`` in ``positions=learned``."""
    name: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class String:
    """A double-quoted string as an implementation argument."""
    text: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Arg:
    """``name=value`` in an implementation body; value is a number (maybe negative), word or string."""
    name: str
    value: "NumExpr | Ident | String"
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Implementation:
    """A kernel implemented by a registered module: ``embedding(dim=256, positions=learned)``."""
    name: str
    args: tuple[Arg, ...]
    span: Span | None = _span()


# --- diagram expressions ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Name:
    """A reference to a declared kernel: ``noisy``."""
    name: str
    span: Span | None = _span()


class _Chain:
    """An n-ary, flat operator: a part of the same operator is spliced in (the operator is associative).

    So ``f >> g >> h`` is one node of three parts however it was bracketed, a chain of any length
    is one level deep, and every later stage walks it as a list.
    """

    __slots__ = ()

    def __post_init__(self) -> None:
        if len(self.parts) < 2:
            raise ValueError(f"{type(self).__name__} joins at least two parts")
        if any(type(p) is type(self) for p in self.parts):
            flat = tuple(q for p in self.parts for q in (p.parts if type(p) is type(self) else (p,)))
            object.__setattr__(self, "parts", flat)


@dataclass(frozen=True, slots=True)
class Then(_Chain):
    """Diagrammatic composition ``f >> g >> h`` ("first f, then g, then h"): the parts in order."""
    parts: tuple["Expr", ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Compose(_Chain):
    """Applicative composition ``h ∘ g ∘ f`` (also ``.``) = ``f >> g >> h``: the parts as written."""
    parts: tuple["Expr", ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Tensor(_Chain):
    """The monoidal product ``f @ g @ h`` (also ``⊗``): the parts left to right."""
    parts: tuple["Expr", ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class KernelPower:
    """``f^n``: ``f >> ... >> f``, n times, for ``f : A -> A`` (``f^0`` is ``id[A]``)."""
    base: "Expr"
    exponent: int
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Identity:
    """``id`` or ``id[A]``; ``ob`` is None when it is to be inferred."""
    ob: ObExpr | None = None
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class CopyExpr:
    """``copy``, ``copy[A]`` or ``copy[A, n]`` (A -> A^n; n defaults to 2)."""
    ob: ObExpr | None = None
    n: int | None = None
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class DeleteExpr:
    """``del`` or ``del[A]`` (A -> I)."""
    ob: ObExpr | None = None
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class SwapExpr:
    """``swap`` or ``swap[A, B]`` (A @ B -> B @ A); both objects given or neither."""
    left: ObExpr | None = None
    right: ObExpr | None = None
    span: Span | None = _span()


Expr = Name | Then | Compose | Tensor | KernelPower | Identity | CopyExpr | DeleteExpr | SwapExpr


# --- statements -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ObjectDecl:
    """``object Name = ObExpr``."""
    name: str
    value: ObExpr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class ParamDecl:
    """``param p`` or ``param p, q``: symbols kept symbolic by the exact backends."""
    names: tuple[str, ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class KernelType:
    """``dom -> cod`` (also ``→``)."""
    dom: ObExpr
    cod: ObExpr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class KernelDecl:
    """``kernel name [: dom -> cod] [deterministic] [= body]``.

    ``body`` is a literal (always a bracketed ``ListLit``), an ``Implementation``, or a diagram
    ``Expr``; None for a parameter kernel. At least one of ``type`` and ``body`` is present.
    """
    name: str
    type: KernelType | None
    deterministic: bool
    body: "ListLit | Implementation | Expr | None"
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Law:
    """``law name : lhs == rhs [a.s. state]`` or ``law name : lhs != rhs``."""
    name: str
    lhs: Expr
    rhs: Expr
    equal: bool = True
    almost_surely: Expr | None = None
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class CheckDeterministic:
    """``check deterministic expr``."""
    expr: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class CheckMarkov:
    """``check markov Obj``: every Markov-category axiom instantiated at the object."""
    ob: ObExpr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Import:
    """``import "other.cat"``, relative to the importing file."""
    path: str
    span: Span | None = _span()


Statement = ObjectDecl | ParamDecl | KernelDecl | Law | CheckDeterministic | CheckMarkov | Import


@dataclass(frozen=True, slots=True)
class Spec:
    """A whole .cat file: its statements in order. ``file`` names it in error messages."""
    statements: tuple[Statement, ...]
    file: str = field(default="<string>", compare=False)
