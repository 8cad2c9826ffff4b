"""The second stage of the front end: a Lark parse tree of ``grammar/catlm.lark`` -> ``ast.Spec``.

One method per grammar rule (or alias), named after it, in the style of Lark's transformers. The
tree is walked bottom-up from an explicit list (``Tree.iter_subtrees``), so a tree of any depth is
converted without recursion; a statement nested deeper than ``MAX_DEPTH`` is refused with a
``ParseError``, because every later stage (equality of frozen records included) walks the records
recursively. Chains (``>>``, ``∘``, ``@``) are n-ary and flat, so ``f >> g >> ... >> h`` of any
length is one level deep. Numbers keep their text; nothing here evaluates anything.

>>> from catlm.syntax.parser import parse
>>> parse("kernel f : I -> fin 2 = [9/10, 1/10]").statements[0].body.items[0]
BinOp(op='/', left=Number(text='9'), right=Number(text='10'))
"""
from __future__ import annotations

from lark import Token, Tree

from catlm.errors import ParseError, Span
from catlm.syntax import ast

MAX_DEPTH = 200  # nested operators or brackets in one statement; see docs/language.md
MAX_DIGITS = 18  # whole numbers (sizes, exponents, copy counts) fit in a signed 64-bit integer
ESCAPES = {"\\": "\\", '"': '"'}  # \\ and \" are the only escapes inside a string
CHAINS = (ast.Then, ast.Compose, ast.Tensor)  # n-ary: a part of the same kind is spliced in


def to_ast(tree: Tree, file: str = "<string>") -> ast.Spec:
    """Convert a parse tree to a ``Spec``; raise ``ParseError`` on what the grammar cannot refuse."""
    return ToAst(file).transform(tree)


def lark_span(file: str, start, end) -> Span:
    """The ``Span`` from Lark positions: ``start``'s line and column to ``end``'s end.

    Lark's end column is exclusive and a ``Span``'s inclusive; an empty region keeps one column.
    """
    end_line = end.end_line or start.line
    end_column = (end.end_column or start.column + 1) - 1
    if end_line == start.line:
        end_column = max(start.column, end_column)
    return Span(file, start.line, start.column, end_line, end_column)


def token_span(token: Token, file: str) -> Span:
    return lark_span(file, token, token)


class ToAst:
    """One method per rule of the grammar; each returns the ``ast`` record of the same name."""

    def __init__(self, file: str):
        self.file = file

    def transform(self, tree: Tree):
        """Bottom-up over the subtrees, children before parents; no recursion."""
        values: dict[int, object] = {}
        depths: dict[int, int] = {}
        for sub in tree.iter_subtrees():
            kids = [values.pop(id(c)) if isinstance(c, Tree) else c for c in sub.children]
            value = getattr(self, sub.data)(sub.meta, kids)
            spliced = type(value) if isinstance(value, CHAINS) else None  # a flat chain adds no level
            depths[id(sub)] = max((depths.pop(id(c)) + (type(k) is not spliced)
                                   for c, k in zip(sub.children, kids) if isinstance(c, Tree)), default=1)
            if depths[id(sub)] > MAX_DEPTH + 1:  # the +1 is the statement itself
                raise self._too_deep(sub.meta)
            values[id(sub)] = value
        return values[id(tree)]

    def _too_deep(self, meta) -> ParseError:
        return ParseError(f"nesting deeper than {MAX_DEPTH} levels (brackets or chained operators)",
                          self._span(meta),
                          hint="name the inner parts with separate `kernel` or `object` declarations")

    def _span(self, meta) -> Span | None:
        if getattr(meta, "empty", True):
            return None
        return lark_span(self.file, meta, meta)

    def _whole(self, token: Token, what: str) -> int:
        if not token.value.isdigit():
            raise ParseError(f"{what} must be a whole number, not {token.value}", token_span(token, self.file))
        if len(token.value) > MAX_DIGITS:
            raise ParseError(f"{what} {token.value[:12]}... is too large (more than {MAX_DIGITS} digits)",
                             token_span(token, self.file))
        return int(token.value)

    def _string(self, token: Token) -> str:
        return _unescape(token, self.file)

    # --- statements ---------------------------------------------------------------------------

    def start(self, meta, statements):
        return ast.Spec(tuple(statements), self.file)

    def object_decl(self, meta, children):
        name, value = children
        return ast.ObjectDecl(name.value, value, self._span(meta))

    def param_decl(self, meta, names):
        return ast.ParamDecl(tuple(name.value for name in names), self._span(meta))

    def import_stmt(self, meta, children):
        return ast.Import(self._string(children[0]), self._span(meta))

    def kernel_decl(self, meta, children):
        name, kernel_type, deterministic, body = children
        return ast.KernelDecl(name.value, kernel_type, deterministic is not None, body, self._span(meta))

    def kernel_untyped(self, meta, children):
        name, deterministic, body = children
        return ast.KernelDecl(name.value, None, deterministic is not None, body, self._span(meta))

    def kernel_type(self, meta, children):
        dom, cod = children
        return ast.KernelType(dom, cod, self._span(meta))

    def law_equal(self, meta, children):
        name, lhs, rhs, state = children
        return ast.Law(name.value, lhs, rhs, True, state, self._span(meta))

    def law_unequal(self, meta, children):
        name, lhs, rhs = children
        return ast.Law(name.value, lhs, rhs, False, None, self._span(meta))

    def check_deterministic(self, meta, children):
        return ast.CheckDeterministic(children[-1], self._span(meta))

    def check_markov(self, meta, children):
        return ast.CheckMarkov(children[0], self._span(meta))

    # --- objects -------------------------------------------------------------------------------

    def product(self, meta, factors):
        return ast.Product(tuple(factors), self._span(meta))

    def power(self, meta, children):
        base, exponent = children
        return ast.Power(base, self._whole(exponent, "an exponent of an object"), self._span(meta))

    def star(self, meta, children):
        return ast.Star(children[0], self._span(meta))

    def ob_name(self, meta, children):
        return ast.ObName(children[0].value, self._span(meta))

    def unit(self, meta, children):
        return ast.Unit(self._span(meta))

    def finset(self, meta, names):
        return ast.FinSet(tuple(name.value for name in names), self._span(meta))

    def fin_range(self, meta, children):
        return ast.FinRange(self._whole(children[0], "the size after 'fin'"), self._span(meta))

    def real_space(self, meta, children):
        return ast.RealSpace(self._whole(children[0], "the dimension after 'real'"), self._span(meta))

    # --- diagram expressions -------------------------------------------------------------------

    def then(self, meta, items):
        return ast.Then(tuple(items), self._span(meta))

    def compose(self, meta, items):
        return ast.Compose(tuple(items), self._span(meta))

    def tensor(self, meta, children):
        return ast.Tensor(tuple(children), self._span(meta))

    def kernel_power(self, meta, children):
        base, exponent = children
        return ast.KernelPower(base, self._whole(exponent, "the exponent of a kernel power"), self._span(meta))

    def name(self, meta, children):
        return ast.Name(children[0].value, self._span(meta))

    def identity(self, meta, children):
        return ast.Identity(children[0], self._span(meta))

    def copy(self, meta, children):
        ob, n = children
        count = None if n is None else self._whole(n, "the number of copies")
        return ast.CopyExpr(ob, count, self._span(meta))

    def delete(self, meta, children):
        return ast.DeleteExpr(children[0], self._span(meta))

    def swap(self, meta, children):
        left, right = children
        return ast.SwapExpr(left, right, self._span(meta))

    # --- kernel bodies -------------------------------------------------------------------------

    def list(self, meta, items):
        return ast.ListLit(tuple(item for item in items if item is not None), self._span(meta))

    def implementation(self, meta, children):
        name, *args = children
        return ast.Implementation(name.value, tuple(arg for arg in args if arg is not None), self._span(meta))

    def arg(self, meta, children):
        name, value = children
        return ast.Arg(name.value, value, self._span(meta))

    def negative(self, meta, children):
        return ast.Neg(ast.Number(children[0].value, token_span(children[0], self.file)), self._span(meta))

    def ident(self, meta, children):
        return ast.Ident(children[0].value, self._span(meta))

    def string(self, meta, children):
        return ast.String(self._string(children[0]), self._span(meta))

    # --- arithmetic in literals ------------------------------------------------------------------

    def number(self, meta, children):
        return ast.Number(children[0].value, self._span(meta))

    def param_ref(self, meta, children):
        return ast.ParamRef(children[0].value, self._span(meta))

    def call(self, meta, children):
        func, *args = children  # which functions exist is elaboration's table, not the grammar's
        return ast.Call(func.value, tuple(args), self._span(meta))

    def neg(self, meta, children):
        return ast.Neg(children[0], self._span(meta))

    def _binop(op):  # noqa: N805 -- builds the five arithmetic methods below
        def method(self, meta, children):
            left, right = children
            return ast.BinOp(op, left, right, self._span(meta))
        return method

    add, sub, mul, div, pow = _binop("+"), _binop("-"), _binop("*"), _binop("/"), _binop("^")
    del _binop


def _unescape(token: Token, file: str) -> str:
    """The text of a double-quoted string token, with ``\\\\`` and ``\\"`` undone."""
    body, out, i = token.value[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            escaped = body[i + 1]  # the lexer guarantees a character after a backslash
            if escaped not in ESCAPES:
                raise ParseError(f"unknown escape '\\{escaped}' in a string", token_span(token, file),
                                 hint='only \\\\ and \\" may follow a backslash')
            char, i = ESCAPES[escaped], i + 1
        out.append(char)
        i += 1
    return "".join(out)
