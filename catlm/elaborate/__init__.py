"""Elaboration: a parsed .cat file (``syntax.ast.Spec``) to a checked ``Presentation``.

The one stage that reads both the syntax and the core: objects become types, params become sympy
symbols, declared kernels become boxes (with their literal entries or implementation), defined
kernels become typed diagrams, and laws and checks are elaborated into diagrams to be decided.
Errors are ``SpecError`` (names) and ``WiringError`` (types), each with the span of the text.

>>> spec = parse('''
... object Coin = {heads, tails}
... kernel flip : I -> Coin = [1/2, 1/2]
... kernel joint = flip >> copy
... ''')
>>> spec.kernels["joint"]
TypedDiagram(joint : I -> Coin @ Coin)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sympy

from catlm.core.check import TypedDiagram, typecheck
from catlm.core.diagram import Box, Diagram, Implementation, Kind
from catlm.core.presentation import DeterministicCheck, LawDecl, MarkovCheck, Presentation
from catlm.core.types import I, Ty
from catlm.elaborate.infer import infer, infer_parallel
from catlm.elaborate.literals import literal
from catlm.elaborate.numbers import value
from catlm.elaborate.objects import object_type
from catlm.errors import Span, SpecError, WiringError
from catlm.core.signatures import Call, bind, signature
from catlm.syntax import ast, load_files
from catlm.syntax import parse as parse_syntax
from catlm.syntax.format import format_ob

__all__ = ["parse", "load", "elaborate", "Presentation"]


def parse(text: str, file: str = "<string>") -> Presentation:
    """Parse and check .cat text; imports are resolved relative to the current directory."""
    spec = parse_syntax(text, file)
    base = Path(file).parent if not file.startswith("<") else Path.cwd()
    imported = [s for imp in _imports(spec) for s in load_files(base / imp.path)]
    return elaborate([*_unique(imported), spec], source=text)


def load(path: str | Path) -> Presentation:
    """Read, parse and check a .cat file and the files it imports."""
    specs = load_files(Path(path))
    source = Path(path).read_text(encoding="utf-8", errors="replace")
    return elaborate(specs, source=source)


def elaborate(specs: list[ast.Spec], source: str = "") -> Presentation:
    """Check specs given in dependency order (imported files first) as one presentation."""
    env = _Env()
    for spec in specs:
        for statement in spec.statements:
            _STATEMENTS[type(statement)](env, statement)
    for call in env.calls.values():  # arguments naming kernels (tie=emb), once all are declared
        bind(call, env.calls)
    file = specs[-1].file if specs else "<string>"
    return Presentation(file, dict(env.objects), tuple(env.params), dict(env.typed),
                        tuple(env.laws), tuple(env.checks), source)


@dataclass
class _Env:
    """Everything declared so far, by name, with the span of each declaration."""

    objects: dict[str, Ty] = field(default_factory=dict)
    params: dict[str, sympy.Symbol] = field(default_factory=dict)
    diagrams: dict[str, Diagram] = field(default_factory=dict)
    typed: dict[str, TypedDiagram] = field(default_factory=dict)
    laws: list[LawDecl] = field(default_factory=list)
    checks: list = field(default_factory=list)
    spans: dict[str, Span | None] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)  # implementation bodies, for ``tie=``

    def declare(self, name: str, span: Span | None, what: str) -> None:
        if name in self.spans:
            raise SpecError(f"'{name}' is already declared", span, related=self.spans[name],
                            hint=f"rename this {what}")
        self.spans[name] = span


def _object(env: _Env, s: ast.ObjectDecl) -> None:
    env.declare(s.name, s.span, "object")
    env.objects[s.name] = object_type(s.value, env.objects, name=s.name)


def _param(env: _Env, s: ast.ParamDecl) -> None:
    for name in s.names:
        env.declare(name, s.span, "param")
        env.params[name] = sympy.Symbol(name, real=True)


def _kernel(env: _Env, s: ast.KernelDecl) -> None:
    env.declare(s.name, s.span, "kernel")
    dom, cod = (None, None) if s.type is None else (object_type(s.type.dom, env.objects),
                                                    object_type(s.type.cod, env.objects))
    body = s.body
    if body is None or isinstance(body, (ast.ListLit, ast.Implementation)):
        diagram = Diagram.of(_box(env, s, dom, cod), s.span)
    else:
        diagram = infer(body, env.diagrams, env.objects, dom, cod)
        if s.deterministic:
            env.checks.append(DeterministicCheck(typecheck(diagram, name=s.name), s.span))
    env.diagrams[s.name] = diagram.with_span(diagram.span or s.span, s.name)
    env.typed[s.name] = typecheck(diagram, dom=dom, cod=cod, name=s.name, span=s.span)


def _box(env: _Env, s: ast.KernelDecl, dom: Ty | None, cod: Ty | None) -> Box:
    if dom is None:
        what = "a literal" if isinstance(s.body, ast.ListLit) else "an implementation"
        raise SpecError(f"kernel '{s.name}' has {what} body but no type", s.span,
                        hint=f"declare it as `kernel {s.name} : A -> B = ...`")
    body = s.body
    if isinstance(body, ast.ListLit):
        body = literal(body, dom, cod, env.params, deterministic=s.deterministic, kernel=s.name)
    elif isinstance(body, ast.Implementation):
        body = _implementation(env, s, body, dom, cod)
    return Box(s.name, dom, cod, s.deterministic, body, s.span)


def _implementation(env: _Env, s: ast.KernelDecl, node: ast.Implementation, dom: Ty,
                    cod: Ty) -> Implementation:
    """Bind the arguments against the implementation's signature, as the torch registry will."""
    args = tuple((a.name, _arg(a.value, env)) for a in node.args)
    call = Call(s.name, node.name, args, dom, cod, node.span, tuple((a.name, a.span) for a in node.args))
    bind(call)  # kernel arguments are related at the end of the spec, when every kernel is known
    if s.deterministic and signature(node.name).kind is Kind.STOCHASTIC:
        raise SpecError(f"kernel '{s.name}' is declared deterministic but {node.name}(...) is a "
                        "stochastic implementation", node.span,
                        hint="drop `deterministic` or choose a deterministic implementation")
    env.calls[s.name] = call
    return Implementation(node.name, args)


def _arg(node, env: _Env):
    """An implementation argument: a number, a word or a string."""
    if isinstance(node, (ast.Ident, ast.String)):
        return node.name if isinstance(node, ast.Ident) else node.text
    x = value(node, {})
    return int(x) if x == int(x) else float(x)


def _law(env: _Env, s: ast.Law) -> None:
    first = next((law for law in env.laws if law.name == s.name), None)
    if first is not None:  # a law is reported and selected by its name (``pytest -k``)
        raise SpecError(f"law '{s.name}' is already declared", s.span, related=first.span,
                        hint="give each law its own name")
    sides = [s.lhs, s.rhs] + ([s.almost_surely] if s.almost_surely is not None else [])
    lhs, rhs = infer_parallel([s.lhs, s.rhs], env.diagrams, env.objects)
    typed = [typecheck(lhs), typecheck(rhs)]
    if (lhs.dom, lhs.cod) != (rhs.dom, rhs.cod):
        raise WiringError(f"the sides of law '{s.name}' have different types: {lhs.dom} -> "
                          f"{lhs.cod} and {rhs.dom} -> {rhs.cod}", rhs.span, related=lhs.span)
    state = None
    if len(sides) == 3:
        state = typecheck(infer(s.almost_surely, env.diagrams, env.objects, I, lhs.dom),
                          )
    env.laws.append(LawDecl(s.name, typed[0], typed[1], s.equal, state, s.span))


def _check_deterministic(env: _Env, s: ast.CheckDeterministic) -> None:
    env.checks.append(DeterministicCheck(typecheck(infer(s.expr, env.diagrams, env.objects)), s.span))


def _check_markov(env: _Env, s: ast.CheckMarkov) -> None:
    env.checks.append(MarkovCheck(object_type(s.ob, env.objects), format_ob(s.ob), s.span))


def _import(env: _Env, s: ast.Import) -> None:
    """Imports were loaded before this file by ``load_files``; nothing is left to do here."""


_STATEMENTS = {ast.ObjectDecl: _object, ast.ParamDecl: _param, ast.KernelDecl: _kernel,
               ast.Law: _law, ast.CheckDeterministic: _check_deterministic,
               ast.CheckMarkov: _check_markov, ast.Import: _import}


def _imports(spec: ast.Spec) -> list[ast.Import]:
    return [s for s in spec.statements if isinstance(s, ast.Import)]


def _unique(specs: list[ast.Spec]) -> list[ast.Spec]:
    seen, out = set(), []
    for spec in specs:
        if spec.file not in seen:
            seen.add(spec.file)
            out.append(spec)
    return out
