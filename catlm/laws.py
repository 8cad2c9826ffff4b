"""Deciding equations between diagrams, each verdict with its scope: laws, checks, Markov axioms.

Every row decides one equation ``lhs == rhs`` (a ``!=`` law expects it to fail) at the widest
scope that settles it:

1. ``proved``: equal in the free Markov category on the boxes (``catlm.core.free``), so equal in
   every Markov category under every interpretation of the boxes.
2. ``all parameter values``: every box involved has literal entries; both sides are compiled
   exactly with the params as sympy symbols and compared as expressions. A failure names a
   counter-assignment of rational param values and the first differing entry.
3. ``counter-model``: some box has no entries (a parameter kernel) or is a module; a small
   FinStoch interpretation separating the sides is searched for (``catlm.countermodels``).
4. ``this instance``: otherwise both sides are compiled once (kernels drawn with the seed or read
   from the params file) and compared exactly, or within ``atol`` in float; ``detail`` names the
   instance.

Almost-sure equality under a state ``p`` (the paper, §2, after Fritz 2020) is the equation
``p >> copy >> (id @ f) == p >> copy >> (id @ g)``; determinism is naturality of copy at ``f``.

>>> from catlm.core.types import Finite, Ty
>>> from catlm.core.markov import axioms_at, determinism
>>> from catlm.core.diagram import Box, Literal
>>> X = Ty(Finite.range("X", 2))
>>> context = Context.exact()
>>> {prove(eq, context).scope for eq in axioms_at(X)}
{<Scope.PROVED: 'proved'>}
>>> f = Box("f", X, X, body=Literal((2, 2), (1, 0, "1/2", "1/2")))
>>> prove(determinism(f), context).detail
'at (1) -> (0, 0): 1/2 vs 1/4'
>>> r = prove(determinism(Box("g", X, X)), context)
>>> r.holds, r.scope, r.counterexample.difference
(False, <Scope.COUNTER_MODEL: 'counter-model'>, 'at (0) -> (0, 0): 3/5 vs 9/25')
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping

import numpy as np

from catlm import countermodels
from catlm.backends import finstoch as fs
from catlm.backends.functor import Functor, Kernel, finstoch
from catlm.backends.symbolic import FRACTION, SYMPY, exact_equal
from catlm.core.check import TypedDiagram, typecheck
from catlm.core.diagram import Box, Diagram, Implementation, Kind, Literal, copy, identity
from catlm.core.free import markov_equal, normal_form
from catlm.core.markov import Equation, axioms_at, determinism, kernel_axioms
from catlm.core.presentation import DeterministicCheck, LawDecl, MarkovCheck, Presentation
from catlm.core.types import Ty
from catlm.countermodels import CounterModel
from catlm.errors import CatlmError
from catlm.core.signatures import signature

__all__ = ["Scope", "LawResult", "Context", "decide", "prove", "decide_equation", "decide_law",
           "almost_surely", "is_one_hot", "first_difference"]


class Scope(Enum):
    """For which interpretations a verdict was established."""

    PROVED = "proved"                         # the free Markov category: every interpretation
    PARAMETERS = "all parameter values"       # literal kernels, params as symbols
    COUNTER_MODEL = "counter-model"           # a FinStoch interpretation separates the sides
    INSTANCE = "this instance"                # one compiled instance (seed or params file)


# what a verdict says, by (holds, scope); the detail names the counter-model or the instance
OUTCOME = {
    (True, Scope.PROVED): "proved",
    (True, Scope.PARAMETERS): "holds for all parameter values",
    (True, Scope.INSTANCE): "holds on this instance",
    (False, Scope.PROVED): "fails",
    (False, Scope.PARAMETERS): "fails exactly",
    (False, Scope.COUNTER_MODEL): "fails in a counter-model",
    (False, Scope.INSTANCE): "fails on this instance",
}


@dataclass(frozen=True, slots=True)
class LawResult:
    """One decided equation; ``expected`` is False for one that should fail (``ok``)."""

    name: str
    kind: str
    holds: bool
    scope: Scope = Scope.INSTANCE
    detail: str = ""
    expected: bool = True
    counterexample: CounterModel | None = None

    @property
    def ok(self) -> bool:
        return self.holds == self.expected

    @property
    def verdict(self) -> str:
        """The outcome with its scope, marked when it is not as stated: ``proved``, ``fails as
        stated (fails in a counter-model)``, ``FAILS (fails on this instance)`` ..."""
        outcome = OUTCOME[(self.holds, self.scope)]
        if self.ok:
            return outcome if self.holds else f"fails as stated ({outcome})"
        return f"HOLDS, STATED TO FAIL ({outcome})" if self.holds else f"FAILS ({outcome})"

    def as_json(self) -> dict:
        row = {"name": self.name, "kind": self.kind, "holds": self.holds, "scope": self.scope.value}
        if self.counterexample is not None:
            row["counterexample"] = self.counterexample.as_json()
        return row | {"detail": self.detail, "expected": self.expected}


@dataclass(frozen=True)
class Context:
    """Where equations are decided: the instance functor, the symbolic one, and their names."""

    instance: Functor
    symbolic: Functor | None = None       # exact, params as sympy symbols (None in float mode)
    where: str = "seed 0"                 # the instance, as the user chose it
    seed: int = 0
    searched: dict = field(default_factory=dict, compare=False)

    @staticmethod
    def exact(params: Mapping[str, object] | None = None, seed: int = 0) -> "Context":
        return Context(finstoch(params, exact=True, seed=seed), finstoch(exact=True, scalars=SYMPY),
                       f"seed {seed}", seed)


# --- comparing two tensors --------------------------------------------------------------------------

def first_difference(lhs: Kernel, rhs: Kernel, dom: Ty, cod: Ty) -> str | None:
    """``at (heads) -> (tails): 1/2 vs 1/4`` for the first differing entry, None if equal."""
    a, b = lhs.array.ravel(), rhs.array.ravel()
    if lhs.exact and rhs.exact:
        where = next((i for i, (x, y) in enumerate(zip(a, b)) if not exact_equal(x, y)), None)
    else:
        off = np.flatnonzero(np.abs(a.astype(float) - b.astype(float)) > lhs.atol)
        where = int(off[0]) if off.size else None
    if where is None:
        return None
    index = np.unravel_index(where, lhs.array.shape) if lhs.array.ndim else ()
    return f"at {_elements(dom, index[:len(dom)])} -> {_elements(cod, index[len(dom):])}: " \
           f"{_show(a[where])} vs {_show(b[where])}"


def _elements(ty: Ty, index) -> str:
    return "(" + ", ".join(ob.elements[i] for ob, i in zip(ty, index)) + ")"


def _show(x) -> str:
    return f"{x:.6g}" if isinstance(x, (float, np.floating)) else str(x)


def _typed(d: Diagram | TypedDiagram) -> TypedDiagram:
    return d if isinstance(d, TypedDiagram) else typecheck(d)


def _diagram(d: Diagram | TypedDiagram) -> Diagram:
    return d.diagram if isinstance(d, TypedDiagram) else d


# --- one equation, on one instance -------------------------------------------------------------------

def decide_equation(eq: Equation, F: Functor, kind: str = "axiom", where: str = "") -> LawResult:
    """Compare both sides compiled by ``F`` (scope: this instance)."""
    lhs, rhs = _typed(eq.lhs), _typed(eq.rhs)
    diff = first_difference(F(lhs), F(rhs), lhs.dom, lhs.cod)
    detail = "; ".join(x for x in (diff, where) if x)
    return LawResult(eq.name, kind, diff is None, Scope.INSTANCE, detail, eq.equal)


# --- one equation, at the widest scope that settles it ---------------------------------------------

def prove(eq: Equation, context: Context, kind: str = "axiom") -> LawResult:
    """The verdict on ``eq`` with its scope (see the module docstring for the order)."""
    lhs, rhs = _diagram(eq.lhs), _diagram(eq.rhs)
    if markov_equal(lhs, rhs, deterministic):
        return LawResult(eq.name, kind, True, Scope.PROVED, "equal in the free Markov category", eq.equal)
    boxes = set(normal_form(lhs, deterministic).boxes) | set(normal_form(rhs, deterministic).boxes)
    if all(isinstance(b.body, Literal) for b in boxes):  # the spec fixes every kernel involved
        if context.symbolic is None:
            return decide_equation(eq, context.instance, kind, f"on {context.where}")
        return _for_all_parameters(eq, boxes, context, kind)
    model = _search(lhs, rhs, context)
    if model is not None:
        return LawResult(eq.name, kind, False, Scope.COUNTER_MODEL, str(model), eq.equal, model)
    return decide_equation(eq, context.instance, kind, f"no counter-model found; on {context.where}")


def deterministic(box: Box) -> bool:
    """Declared ``deterministic``, or a module whose signature is a function (``embedding``)."""
    if box.deterministic:
        return True
    return isinstance(box.body, Implementation) and signature(box.body.name).kind is Kind.DETERMINISTIC


def _search(lhs: Diagram, rhs: Diagram, context: Context) -> CounterModel | None:
    key = (lhs.expr, rhs.expr, lhs.dom, lhs.cod)  # a law and a check may ask the same question
    if key not in context.searched:
        context.searched[key] = countermodels.search(lhs, rhs, seed=context.seed, deterministic=deterministic)
    return context.searched[key]


def _for_all_parameters(eq: Equation, boxes: set[Box], context: Context, kind: str) -> LawResult:
    """Literal kernels only: an identity of sympy expressions, or a counter-assignment."""
    lhs, rhs = _typed(eq.lhs), _typed(eq.rhs)
    diff = first_difference(context.symbolic(lhs), context.symbolic(rhs), lhs.dom, lhs.cod)
    if diff is None:
        return LawResult(eq.name, kind, True, Scope.PARAMETERS, "equal as functions of the params", eq.equal)
    names = tuple(sorted({str(s) for b in boxes for x in b.body.entries for s in getattr(x, "free_symbols", ())}))
    if not names:
        return LawResult(eq.name, kind, False, Scope.PARAMETERS, diff, eq.equal)
    for values in countermodels.assignments(names, context.seed):
        F = finstoch(exact=True, subs={k: str(v) for k, v in values.items()}, scalars=FRACTION)
        try:
            at = first_difference(F(lhs), F(rhs), lhs.dom, lhs.cod)
        except CatlmError:  # these values take a literal row off the simplex
            continue
        if at is not None:
            model = CounterModel((), (), tuple(values.items()), at)
            return LawResult(eq.name, kind, False, Scope.PARAMETERS, str(model), eq.equal, model)
    return LawResult(eq.name, kind, False, Scope.PARAMETERS,
                     f"{diff} (no rational param values found where the sides differ)", eq.equal)


# --- laws and checks ------------------------------------------------------------------------------------

def almost_surely(f: Diagram, g: Diagram, state: Diagram, name: str = "a.s.") -> Equation:
    """``f == g`` almost surely under ``state``, as the equation of the two joints with the input."""
    X = f.dom
    joint = lambda k: state >> copy(X) >> (identity(X) @ k)  # noqa: E731
    return Equation(name, joint(f), joint(g))


def _law_equation(law: LawDecl) -> tuple[Equation, str]:
    if law.state is None:
        return Equation(law.name, law.lhs.diagram, law.rhs.diagram, law.equal), "law"
    return almost_surely(law.lhs.diagram, law.rhs.diagram, law.state.diagram, law.name), "law a.s."


def decide_law(law: LawDecl, context: Context) -> LawResult:
    eq, kind = _law_equation(law)
    return prove(eq, context, kind)


def is_one_hot(k: Kernel) -> bool:
    """The row test: every row of the kernel has a single nonzero entry (equal to 1)."""
    rows = k.array.reshape(int(np.prod(k.dom, dtype=np.int64)), -1)
    if k.exact:
        return all(sum(not exact_equal(x, 0) for x in row) == 1 for row in rows)
    return bool(((np.abs(rows.astype(float)) > k.atol).sum(axis=1) == 1).all())


def decide_deterministic(d: TypedDiagram, context: Context, name: str | None = None) -> LawResult:
    """``d >> copy == copy >> (d @ d)``; on an instance, confirmed by the row test."""
    result = prove(determinism(d.diagram), context, kind="deterministic")
    if result.scope is Scope.INSTANCE and is_one_hot(context.instance(d)) != result.holds:
        result = LawResult(result.name, result.kind, False, result.scope,
                           f"the equation ({result.holds}) and the row test disagree {result.detail}")
    return LawResult(name or result.name, "deterministic", result.holds, result.scope, result.detail,
                     True, result.counterexample)


def _copy_naturality(box: Box, context: Context) -> LawResult:
    """Copy is natural at ``box`` exactly when it is deterministic: expected to hold just then."""
    function = deterministic(box) or _one_hot_literal(box, context)
    result = prove(determinism(box), context, kind="copy naturality")
    note = "deterministic" if function else "not deterministic: copy is natural only on deterministic kernels"
    return LawResult(result.name, "copy naturality", result.holds, result.scope,
                     f"{box.name} is {note}" + (f"; {result.detail}" if result.detail else ""),
                     function, result.counterexample)


def _one_hot_literal(box: Box, context: Context) -> bool:
    if not isinstance(box.body, Literal):
        return False
    return is_one_hot((context.symbolic or context.instance)(typecheck(Diagram.of(box))))


def decide_markov(check: MarkovCheck, p: Presentation, context: Context) -> list[LawResult]:
    others = tuple(dict.fromkeys(t for t in p.objects.values() if t != check.ty and t.is_finite))
    boxes = [b for b in p.generators.values() if _finite_box(b)]
    eqs = [prove(eq, context) for eq in axioms_at(check.ty, others)]
    eqs += [prove(eq, context, kind="naturality") for eq in kernel_axioms(tuple(boxes))]
    return eqs + [_copy_naturality(b, context) for b in boxes]


def _finite_box(box: Box) -> bool:
    return box.dom.is_finite and box.cod.is_finite and not isinstance(box.body, Implementation)


def _decide_check(check, p: Presentation, context: Context) -> list[LawResult]:
    if isinstance(check, DeterministicCheck):
        return [decide_deterministic(check.diagram, context, f"deterministic {check.diagram.diagram.expr}")]
    return decide_markov(check, p, context)


def decide(presentation: Presentation, *, exact: bool = True, params: Mapping[str, object] | None = None,
           seed: int | None = 0, subs: Mapping[str, object] | None = None, atol: float = 1e-9,
           budget: int = fs.DEFAULT_BUDGET, params_file: str | None = None) -> list[LawResult]:
    """Every law, then every check of the presentation, each at the widest scope that settles it.

    The instance (scope ``this instance``) is compiled exactly by default, keeping params symbolic
    (sympy) when ``subs`` does not give them all values; ``params_file`` names where ``params``
    came from in the verdicts.
    """
    symbolic = exact and not set(presentation.params) <= set(subs or {})
    instance = finstoch(params, exact=exact, seed=seed, subs=subs, atol=atol, budget=budget,
                        scalars=SYMPY if symbolic else (FRACTION if exact else None))
    where = f"params {params_file}" if params_file else f"seed {seed}"
    if subs:
        where += " with " + ", ".join(f"{k} = {v}" for k, v in subs.items())
    context = Context(instance, finstoch(exact=True, scalars=SYMPY, budget=budget) if exact else None,
                      where, seed or 0)
    results = [decide_law(law, context) for law in presentation.laws]
    for check in presentation.checks:
        results += _decide_check(check, presentation, context)
    return results
