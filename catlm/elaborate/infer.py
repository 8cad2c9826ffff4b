"""Diagram expressions to diagrams, inferring the objects of ``id``, ``copy``, ``del`` and ``swap``.

``flip >> copy >> (id @ noisy)`` leaves the objects of ``copy`` and ``id`` to context. Each
sub-expression gets a domain and a codomain slot; composition equates neighbouring slots, a tensor
splits its slots among its factors, and each structural map relates its own two slots (``copy``:
cod = dom^n). The constraints are propagated to a fixed point, in both directions, so
``copy >> (f @ g)`` learns the object of ``copy`` from ``f``. A slot holds a tuple of objects and
object variables (unification, as in Hindley–Milner, over products of known length). When the
constraints alone leave the width of a structural map open, it is taken to be one wire (two for
``swap``) and propagation resumes; what stays unknown is reported with the expression's span and
the explicit spelling to use.

>>> from catlm.core.types import Finite, Ty
>>> from catlm.core.diagram import Box, Diagram
>>> from catlm.syntax import parse
>>> A = Ty(Finite.range("A", 2))
>>> kernels = {"f": Diagram.of(Box("f", A, A))}
>>> d = infer(parse("kernel k = copy >> (id @ f)").statements[0].body, kernels)
>>> d.dom, d.cod
(Ty(A), Ty(A, A))
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from catlm.core.diagram import Diagram, copy, delete, swap
from catlm.core.types import Ob, Ty
from catlm.elaborate.objects import object_type
from catlm.elaborate.walk import fold
from catlm.errors import Span, SpecError, WiringError
from catlm.syntax import ast
from catlm.syntax.format import format_expr


class Var:
    """An object not known yet; bound at most once, by reference (union-find)."""

    __slots__ = ("ref",)

    def __init__(self) -> None:
        self.ref: "Var | Ob | None" = None


Slot = tuple  # of Ob | Var


class _Clash(Exception):
    """Two different known objects were equated."""


def _find(t):
    while isinstance(t, Var) and t.ref is not None:
        t = t.ref
    return t


def _merge(a, b) -> bool:
    a, b = _find(a), _find(b)
    if a is b:
        return False
    if isinstance(a, Var) or isinstance(b, Var):
        var, value = (a, b) if isinstance(a, Var) else (b, a)
        var.ref = value
        return True
    if a != b:
        raise _Clash
    return False


def _show(slot: Slot | None) -> str:
    if slot is None:
        return "?"
    return " @ ".join(getattr(_find(t), "name", "?") for t in slot) or "I"


def _clashes(x: Slot | None, y: Slot | None) -> bool:
    if x is None or y is None:
        return False
    pairs = [(_find(a), _find(b)) for a, b in zip(x, y)]
    return len(x) != len(y) or any(not isinstance(a, Var) and not isinstance(b, Var) and a != b
                                   for a, b in pairs)


@dataclass(eq=False)
class _Node:
    """A sub-expression with its two type slots (None while unknown)."""

    kind: str
    expr: ast.Expr
    children: list["_Node"] = field(default_factory=list)
    dom: Slot | None = None
    cod: Slot | None = None
    n: int = 2                 # copies made by a copy
    split: int | None = None   # where a swap's domain splits, once known
    origin: dict = field(default_factory=dict)  # side -> the node that filled it (None: declared)

    @property
    def span(self) -> Span | None:
        return self.expr.span

    @property
    def text(self) -> str:
        return format_expr(self.expr)


class Inference:
    """The slots of one expression tree and the propagation of their constraints."""

    def __init__(self, expr: ast.Expr, kernels: dict[str, Diagram], objects: dict[str, Ty]):
        self.kernels, self.objects = kernels, objects
        self.root: _Node = fold(expr, _children, self._node)
        self.nodes: list[_Node] = fold(self.root, lambda n: n.children,
                                       lambda n, subs: [x for s in subs for x in s] + [n])

    def seed(self, dom: Ty | Slot | None, cod: Ty | Slot | None) -> None:
        if dom is not None:
            _unify(self.root, "dom", _slot(dom), None)
        if cod is not None:
            _unify(self.root, "cod", _slot(cod), None)

    def propagate(self) -> None:
        while True:
            changed = True
            while changed:
                changed = any([_RULES[n.kind](n) for n in self.nodes])
            open_width = [n for n in self.nodes if n.kind in _DEFAULT_WIDTH and n.dom is None]
            if not open_width:
                return
            node = open_width[0]  # the context leaves its width open: one wire (swap: two)
            _unify(node, "dom", tuple(Var() for _ in range(_DEFAULT_WIDTH[node.kind])), node)

    def diagram(self) -> Diagram:
        for node in self.nodes:
            resolved = [_resolve(node.dom), _resolve(node.cod)]
            if None in resolved:
                raise SpecError(f"cannot infer the objects of `{node.text}` here", node.span,
                                hint=_explicit_hint(node))
            node.dom, node.cod = resolved
        return fold(self.root, lambda n: n.children, self._build)

    def _build(self, node: _Node, parts: list[Diagram]) -> Diagram:
        if node.kind == "name":
            return self.kernels[node.expr.name].with_span(node.span, node.text)
        return _BUILD[node.kind](node, parts).with_span(node.span, node.text)

    # building the slot tree from the syntax tree

    def _node(self, expr: ast.Expr, kids: list[_Node]) -> _Node:
        return _LEAVES[type(expr)](self, expr, kids)

    def _name(self, expr: ast.Name, kids) -> _Node:
        if expr.name not in self.kernels:
            raise _unknown_kernel(expr, self.kernels, self.objects)
        d = self.kernels[expr.name]
        return _Node("name", expr, dom=_slot(d.dom), cod=_slot(d.cod))

    def _seq(self, expr: ast.Then | ast.Compose, kids: list[_Node]) -> _Node:
        steps = kids[::-1] if isinstance(expr, ast.Compose) else kids  # h ∘ g ∘ f is f >> g >> h
        return _Node("seq", expr, [k for kid in steps for k in _flatten("seq", kid)])

    def _par(self, expr: ast.Tensor, kids: list[_Node]) -> _Node:
        return _Node("par", expr, [k for kid in kids for k in _flatten("par", kid)])

    def _power(self, expr: ast.KernelPower, kids: list[_Node]) -> _Node:
        return _Node("power", expr, kids, n=expr.exponent)

    def _ty(self, ob: ast.ObExpr | None) -> Slot | None:
        return None if ob is None else _slot(object_type(ob, self.objects))

    def _id(self, expr: ast.Identity, kids) -> _Node:
        ty = self._ty(expr.ob)
        return _Node("id", expr, dom=ty, cod=ty)

    def _copy(self, expr: ast.CopyExpr, kids) -> _Node:
        n = 2 if expr.n is None else expr.n
        if not 0 <= n <= 64:
            raise SpecError(f"copy[..., {n}]: the number of copies must be 0 to 64", expr.span)
        ty = self._ty(expr.ob)
        return _Node("copy", expr, dom=ty, cod=None if ty is None else ty * n, n=n)

    def _delete(self, expr: ast.DeleteExpr, kids) -> _Node:
        return _Node("del", expr, dom=self._ty(expr.ob), cod=())

    def _swap(self, expr: ast.SwapExpr, kids) -> _Node:
        if (expr.left is None) != (expr.right is None):
            raise SpecError("swap takes both objects or neither", expr.span, hint="write swap[A, B]")
        if expr.left is None:
            return _Node("swap", expr)
        a, b = self._ty(expr.left), self._ty(expr.right)
        return _Node("swap", expr, dom=a + b, cod=b + a, split=len(a))


_LEAVES = {ast.Name: Inference._name, ast.Then: Inference._seq, ast.Compose: Inference._seq,
           ast.Tensor: Inference._par, ast.KernelPower: Inference._power, ast.Identity: Inference._id, ast.CopyExpr: Inference._copy,
           ast.DeleteExpr: Inference._delete, ast.SwapExpr: Inference._swap}


def infer(expr: ast.Expr, kernels: dict[str, Diagram], objects: dict[str, Ty] | None = None,
          dom: Ty | None = None, cod: Ty | None = None) -> Diagram:
    """The diagram of ``expr``, with ``dom``/``cod`` given by a declaration when known."""
    inference = Inference(expr, kernels, objects or {})
    inference.seed(dom, cod)
    inference.propagate()
    return inference.diagram()


def infer_parallel(exprs: list[ast.Expr], kernels: dict[str, Diagram],
                   objects: dict[str, Ty]) -> list[Diagram]:
    """Diagrams of expressions that must share one type (the two sides of a law)."""
    runs = [Inference(e, kernels, objects) for e in exprs]
    for _ in range(2):  # each side seeds the others; two rounds reach every side
        for run in runs:
            run.propagate()
            for other in runs:
                if other is not run:
                    other.seed(run.root.dom, run.root.cod)
    return [run.diagram() for run in runs]


# --- propagation rules: each returns whether it filled a slot -------------------------------------

def _unify(node: _Node, side: str, slot: Slot, other: _Node | None) -> bool:
    """Fill a slot, or equate it with ``slot``; ``other`` is where the value comes from."""
    current = getattr(node, side)
    if current is None:
        setattr(node, side, slot)
        node.origin[side] = other
        return True
    try:
        if len(current) != len(slot):
            raise _Clash
        return any([_merge(a, b) for a, b in zip(current, slot)])
    except _Clash:
        first = node.origin.get(side, node)
        raise WiringError(
            f"type mismatch at `{node.text}`: {_who(first, node)} makes its {_SIDE[side]} "
            f"{_show(current)}, but {_who(other, node)} makes it {_show(slot)}", node.span,
            related=next((n.span for n in (other, first) if n is not None and n is not node), None),
            hint="the codomain of each step must equal the domain of the next") from None


def _who(source: _Node | None, node: _Node) -> str:
    if source is None:
        return "the declared type"
    return "its own definition" if source is node else f"`{source.text}`"


_SIDE = {"dom": "domain", "cod": "codomain"}


def _seq_rule(node: _Node) -> bool:
    kids, changed = node.children, False
    changed |= _link(node, "dom", kids[0], "dom") | _link(node, "cod", kids[-1], "cod")
    for a, b in zip(kids, kids[1:]):
        if _clashes(a.cod, b.dom):
            raise WiringError(f"cannot compose `{a.text}` : {_show(a.dom)} -> {_show(a.cod)} with "
                              f"`{b.text}` : {_show(b.dom)} -> {_show(b.cod)}: {_show(a.cod)} is not "
                              f"{_show(b.dom)}", b.span, related=a.span,
                              hint="the codomain of the first must equal the domain of the second")
        changed |= _link(a, "cod", b, "dom")
    return changed


def _link(a: _Node, side_a: str, b: _Node, side_b: str) -> bool:
    x, y = getattr(a, side_a), getattr(b, side_b)
    if x is not None and y is None:
        return _unify(b, side_b, x, a)
    if y is not None and x is None:
        return _unify(a, side_a, y, b)
    return x is not None and _unify(b, side_b, x, a)


def _par_rule(node: _Node) -> bool:
    return _split(node, "dom") | _split(node, "cod")


def _split(node: _Node, side: str) -> bool:
    parts = [getattr(c, side) for c in node.children]
    unknown = [i for i, p in enumerate(parts) if p is None]
    if not unknown:
        return _unify(node, side, _concat(parts), node.children[0]) if getattr(node, side) is None \
            else _check_concat(node, side, parts)
    whole = getattr(node, side)
    if whole is None or len(unknown) > 1:
        return False
    i = unknown[0]
    before, after = sum(len(p) for p in parts[:i]), sum(len(p) for p in parts[i + 1:])
    if before + after > len(whole):
        raise WiringError(f"`{node.text}` needs more than the {len(whole)} wires of {_show(whole)} "
                          f"in its {_SIDE[side]}", node.span)
    return _unify(node.children[i], side, whole[before:len(whole) - after], node)


def _check_concat(node: _Node, side: str, parts: list[Slot]) -> bool:
    return _unify(node, side, _concat(parts), node.children[0])


def _concat(parts: list[Slot]) -> Slot:
    return tuple(t for p in parts for t in p)


def _id_rule(node: _Node) -> bool:
    return _link(node, "dom", node, "cod")


def _power_rule(node: _Node) -> bool:
    """``f^n`` has the type of ``f``, which must be an endomorphism ``A -> A``."""
    base = node.children[0]
    if _clashes(base.dom, base.cod):
        raise WiringError(f"`{node.text}`: a power repeats a kernel from an object to itself, but "
                          f"`{base.text}` : {_show(base.dom)} -> {_show(base.cod)}", node.span,
                          hint="compose different kernels with >> instead")
    return (_link(base, "dom", base, "cod") | _link(node, "dom", base, "dom")
            | _link(node, "cod", base, "cod"))


def _copy_rule(node: _Node) -> bool:
    if node.dom is not None:
        return _unify(node, "cod", node.dom * node.n, node)
    if node.cod is None or node.n == 0 or len(node.cod) % node.n:
        return False
    return _unify(node, "dom", node.cod[:len(node.cod) // node.n], node)


def _swap_rule(node: _Node) -> bool:
    known = node.dom if node.dom is not None else node.cod
    if known is None or node.split is not None:
        return False
    if len(known) != 2:
        raise SpecError(f"cannot tell which wires `swap` exchanges in {_show(known)}", node.span,
                        hint="write swap[A, B] with the two objects")
    node.split = 1
    dom = known if node.dom is not None else (known[1], known[0])
    return _unify(node, "dom", dom, node) | _unify(node, "cod", (dom[1], dom[0]), node)


_RULES = {"seq": _seq_rule, "par": _par_rule, "power": _power_rule, "name": lambda n: False, "id": _id_rule,
          "copy": _copy_rule, "del": lambda n: False, "swap": _swap_rule}


# --- building the diagram once every slot is known --------------------------------------------------

def _fold_op(op):
    def build(node: _Node, parts: list[Diagram]) -> Diagram:
        out = parts[0]
        for part in parts[1:]:
            out = op(out, part)
        return out
    return build


def _power(node: _Node, parts: list[Diagram]) -> Diagram:
    """``f^n`` by repeated squaring: the term shares its halves, so it has O(log n) nodes."""
    out, square, n = None, parts[0], node.n
    while n:
        if n & 1:
            out = square if out is None else out >> square
        square, n = (square >> square if n > 1 else square), n >> 1
    return Diagram.id(node.dom) if out is None else out


_BUILD = {
    "seq": _fold_op(Diagram.then),
    "power": _power,
    "par": _fold_op(Diagram.tensor),
    "id": lambda node, parts: Diagram.id(node.dom),
    "copy": lambda node, parts: copy(node.dom, node.n),
    "del": lambda node, parts: delete(node.dom),
    "swap": lambda node, parts: swap(node.dom[:node.split], node.dom[node.split:]),
}


_DEFAULT_WIDTH = {"copy": 1, "del": 1, "id": 1, "swap": 2}


def _slot(ty: Ty | Slot) -> Slot:
    return tuple(ty.objects) if isinstance(ty, Ty) else ty


def _resolve(slot: Slot | None) -> Ty | None:
    if slot is None:
        return None
    terms = [_find(t) for t in slot]
    return None if any(isinstance(t, Var) for t in terms) else Ty(*terms)


def _children(expr: ast.Expr) -> tuple:
    if isinstance(expr, ast.KernelPower):
        return (expr.base,)
    return expr.parts if isinstance(expr, (ast.Then, ast.Compose, ast.Tensor)) else ()


def _flatten(kind: str, node: _Node) -> list[_Node]:
    return node.children if node.kind == kind else [node]


def _explicit_hint(node: _Node) -> str:
    return {"copy": "write copy[A] with the object to copy", "del": "write del[A]",
            "id": "write id[A]", "swap": "write swap[A, B]"}.get(node.kind, "give the objects explicitly")


def _unknown_kernel(expr: ast.Name, kernels: dict, objects: dict) -> SpecError:
    if expr.name in objects:
        return SpecError(f"'{expr.name}' is an object, not a kernel", expr.span,
                         hint=f"use id[{expr.name}] for its identity")
    close = difflib.get_close_matches(expr.name, list(kernels), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "declare it with `kernel NAME : A -> B`"
    return SpecError(f"unknown kernel '{expr.name}'", expr.span, hint=hint)
