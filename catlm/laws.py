"""Deciding equations between diagrams on a FinStoch backend: laws, checks, the Markov axioms.

An ``Equation`` of ``catlm.core.markov`` (or a spec's ``law``) is decided by compiling both sides
with the same FinStoch functor and comparing the tensors: exactly in the exact rings, within
``atol`` in float. Almost-sure equality under a state ``p`` (PAPER.md §1.1) is the equation
``p >> copy >> (id @ f) == p >> copy >> (id @ g)``; determinism is naturality of copy at ``f``
(``f >> copy == copy >> (f @ f)``), confirmed by the row test (every row one-hot). Each answer is
a ``LawResult`` whose ``detail`` names the first differing entry by domain and codomain elements.

>>> from catlm.core.types import Finite, Ty
>>> from catlm.core.markov import axioms_at, determinism
>>> from catlm.core.diagram import Box, Literal
>>> from catlm.backends.functor import finstoch
>>> X = Ty(Finite.range("X", 2))
>>> F = finstoch(exact=True, seed=0)
>>> all(decide_equation(eq, F).holds for eq in axioms_at(X))
True
>>> f = Box("f", X, X, body=Literal((2, 2), (1, 0, "1/2", "1/2")))
>>> decide_equation(determinism(f), F)
LawResult(name='deterministic[f]', kind='axiom', holds=False, detail='at (1) -> (0, 0): 1/2 vs 1/4', expected=True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from catlm.backends import finstoch as fs
from catlm.backends.functor import Functor, Kernel, finstoch
from catlm.backends.symbolic import FRACTION, SYMPY, exact_equal
from catlm.core.check import TypedDiagram, typecheck
from catlm.core.diagram import Box, Diagram, Implementation, copy, identity
from catlm.core.markov import Equation, axioms_at, determinism, kernel_axioms
from catlm.core.presentation import DeterministicCheck, LawDecl, MarkovCheck, Presentation
from catlm.core.types import Ty

__all__ = ["LawResult", "decide", "decide_equation", "decide_law", "almost_surely", "is_one_hot"]


@dataclass(frozen=True, slots=True)
class LawResult:
    """One decided relation; ``expected`` is False for an equation that should fail (``ok``)."""

    name: str
    kind: str
    holds: bool
    detail: str = ""
    expected: bool = True

    @property
    def ok(self) -> bool:
        return self.holds == self.expected

    def as_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "holds": self.holds, "detail": self.detail,
                "expected": self.expected}


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


# --- equations, laws, checks ---------------------------------------------------------------------------

def _typed(d: Diagram | TypedDiagram) -> TypedDiagram:
    return d if isinstance(d, TypedDiagram) else typecheck(d)


def _compare(name: str, kind: str, lhs, rhs, equal: bool, F: Functor) -> LawResult:
    lhs, rhs = _typed(lhs), _typed(rhs)
    diff = first_difference(F(lhs), F(rhs), lhs.dom, lhs.cod)
    if equal:
        return LawResult(name, kind, diff is None, diff or "")
    return LawResult(name, kind, diff is not None, "" if diff else "both sides are equal")


def decide_equation(eq: Equation, F: Functor, kind: str = "axiom") -> LawResult:
    return _compare(eq.name, kind, eq.lhs, eq.rhs, eq.equal, F)


def almost_surely(f: Diagram, g: Diagram, state: Diagram, name: str = "a.s.") -> Equation:
    """``f == g`` almost surely under ``state``, as the equation of the two joints with the input."""
    X = f.dom
    joint = lambda k: state >> copy(X) >> (identity(X) @ k)  # noqa: E731
    return Equation(name, joint(f), joint(g))


def decide_law(law: LawDecl, F: Functor) -> LawResult:
    if law.state is None:
        return _compare(law.name, "law", law.lhs, law.rhs, law.equal, F)
    eq = almost_surely(law.lhs.diagram, law.rhs.diagram, law.state.diagram, law.name)
    return decide_equation(eq, F, kind="law a.s.")


def is_one_hot(k: Kernel) -> bool:
    """The row test: every row of the kernel has a single nonzero entry (equal to 1)."""
    rows = k.array.reshape(int(np.prod(k.dom, dtype=np.int64)), -1)
    if k.exact:
        return all(sum(not exact_equal(x, 0) for x in row) == 1 for row in rows)
    return bool(((np.abs(rows.astype(float)) > k.atol).sum(axis=1) == 1).all())


def decide_deterministic(d: TypedDiagram, F: Functor, name: str | None = None) -> LawResult:
    result = decide_equation(determinism(d.diagram), F, kind="deterministic")
    rows = is_one_hot(F(d))
    detail = result.detail if rows == result.holds else \
        f"the equation ({result.holds}) and the row test ({rows}) disagree {result.detail}"
    return LawResult(name or result.name, "deterministic", result.holds and rows, detail)


def _copy_naturality(box: Box, F: Functor) -> LawResult:
    d = typecheck(Diagram.of(box))
    rows = is_one_hot(F(d))
    result = decide_equation(determinism(d.diagram), F, kind="copy naturality")
    note = "deterministic" if rows else "not deterministic: copy is natural only on deterministic kernels"
    return LawResult(result.name, "copy naturality", result.holds,
                     f"{box.name} is {note}" + (f"; {result.detail}" if result.detail else ""), rows)


def decide_markov(check: MarkovCheck, p: Presentation, F: Functor) -> list[LawResult]:
    others = tuple(dict.fromkeys(t for t in p.objects.values() if t != check.ty and t.is_finite))
    boxes = [b for b in p.generators.values() if _finite_box(b)]
    eqs = [decide_equation(eq, F) for eq in axioms_at(check.ty, others)]
    eqs += [decide_equation(eq, F, kind="naturality") for eq in kernel_axioms(tuple(boxes))]
    return eqs + [_copy_naturality(b, F) for b in boxes]


def _finite_box(box: Box) -> bool:
    return box.dom.is_finite and box.cod.is_finite and not isinstance(box.body, Implementation)


def _decide_check(check, p: Presentation, F: Functor) -> list[LawResult]:
    if isinstance(check, DeterministicCheck):
        return [decide_deterministic(check.diagram, F, f"deterministic {check.diagram.diagram.expr}")]
    return decide_markov(check, p, F)


def decide(presentation: Presentation, *, exact: bool = True, params: Mapping[str, object] | None = None,
           seed: int | None = 0, subs: Mapping[str, object] | None = None, atol: float = 1e-9,
           budget: int = fs.DEFAULT_BUDGET) -> list[LawResult]:
    """Every law, then every check of the presentation, decided on one FinStoch functor.

    Exact mode keeps params symbolic (sympy) when ``subs`` does not give them all values.
    """
    symbolic = exact and not set(presentation.params) <= set(subs or {})
    F = finstoch(params, exact=exact, seed=seed, subs=subs, atol=atol, budget=budget,
                 scalars=SYMPY if symbolic else (FRACTION if exact else None))
    results = [decide_law(law, F) for law in presentation.laws]
    for check in presentation.checks:
        results += _decide_check(check, presentation, F)
    return results
