"""Signatures of the implementations: what ``kernel f : A -> B = name(args)`` may say, as data.

An implementation body names a module of the torch registry. Its ``Signature`` is pure data: the
kind of kernel it is (a ``deterministic`` Dirac kernel or a ``stochastic`` head returning logits),
its parameters with their types, defaults and ranges, what it accepts as domain and codomain, and
the equations that tie arguments to objects (``dim == cod.dim``). ``bind`` checks one call
against its signature and returns the arguments with the defaults filled in. ``catlm check`` runs
it on every implementation body without torch; ``catlm.models.registry.build`` runs the same
function before it builds a module, so the checker and the registry cannot disagree. It is part
of core because it is a typing judgement about boxes and objects, and it imports nothing numerical:
adding an implementation is one entry here and one factory in the registry. An argument left at
None (``tie=none``, or a default meaning "derived") takes part in no relation.

>>> from catlm.core.types import Finite, Real, Seq
>>> tok, E = Finite.range("Tok", 65), Real("E", 32)
>>> bind(Call("emb", "embedding", (("dim", 32),), Seq("Tok*", tok), Seq("E*", E)))
{'dim': 32, 'positions': 'learned', 'context': 1024, 'dropout': 0.0}
>>> bind(Call("emb", "embedding", (("dim", 16),), Seq("Tok*", tok), Seq("E*", E)))
Traceback (most recent call last):
  ...
catlm.errors.SpecError: kernel 'emb': embedding(dim=16) differs from E = real 32 (make them equal)
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from typing import Any

from catlm.core.diagram import Kind
from catlm.core.types import Finite, Ob, Real, Seq, Ty
from catlm.errors import Span, SpecError, WiringError

REQUIRED = object()  # the default of an argument the spec must give
POSITIONS = ("learned", "none")  # position encodings an embedding knows
GELUS = ("exact", "tanh")  # the erf GELU, or GPT-2's tanh approximation


@dataclass(frozen=True, slots=True)
class Param:
    """One argument: its type (a key of ``COERCE``), default, allowed words and range.

    ``of`` names the implementation a ``kernel`` argument must refer to (``tie=emb`` needs an
    ``embedding``); ``low <= value`` and ``value < below`` bound numbers where given.
    """

    name: str
    type: str
    default: Any = REQUIRED
    choices: tuple[str, ...] = ()
    low: float | None = None
    below: float | None = None
    of: str | None = None


@dataclass(frozen=True, slots=True)
class Side:
    """What one side of the kernel must be: ``finite``, ``real``, or a ``finite product``
    (any tensor of finite objects, I included); ``sequence`` True demands ``A*``, None allows both."""

    kind: str
    want: str
    sequence: bool | None = None


@dataclass(frozen=True, slots=True)
class Relation:
    """``left op right`` over terms: an argument (``dim``), an object's size or width (``cod.dim``,
    ``dom.size``), or one of a kernel argument's objects (``tie.dom.size``); ``why`` is the hint."""

    left: str
    op: str
    right: str
    why: str


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    kind: Kind  # DETERMINISTIC (a Dirac kernel: a function) or STOCHASTIC (logits of a categorical)
    shapes: str  # the tensor shapes, nanoGPT style
    params: tuple[Param, ...]
    dom: Side
    cod: Side
    relations: tuple[Relation, ...] = ()

    def describe(self) -> str:
        return f"{self.name}({', '.join(p.name for p in self.params)}) : {self.shapes}"


@dataclass(frozen=True, slots=True)
class Call:
    """An implementation body in place: ``kernel emb : dom -> cod = embedding(dim=256)``.

    ``span`` is the body's place in the spec and ``arg_spans`` each argument's, so that an error
    points at the argument it is about.
    """

    kernel: str
    name: str
    args: tuple[tuple[str, Any], ...]
    dom: Ob | Ty
    cod: Ob | Ty
    span: Span | None = None
    arg_spans: tuple[tuple[str, Span | None], ...] = field(default=(), compare=False)

    def where(self, arg: str | None = None) -> Span | None:
        return dict(self.arg_spans).get(arg) or self.span


def _dropout() -> Param:
    return Param("dropout", "float", 0.0, low=0.0, below=1.0)


FINITE = Side("finite", "a finite object (Tok or Tok*)")
REAL = Side("real", "a real object (E or E*)")

SIGNATURES: dict[str, Signature] = {
    "embedding": Signature(
        "embedding", Kind.DETERMINISTIC, "Tok* (B, T) -> E* (B, T, dim)",
        (Param("dim", "int", low=1), Param("positions", "choice", "learned", POSITIONS),
         Param("context", "int", 1024, low=1), _dropout()),
        FINITE, REAL, (Relation("dim", "==", "cod.dim", "make them equal"),)),
    "transformer": Signature(
        "transformer", Kind.DETERMINISTIC, "E* (B, T, d) -> H (B, T, d) at every prefix",
        (Param("layers", "int", low=1), Param("heads", "int", low=1),
         Param("context", "int", low=1), _dropout(), Param("gelu", "choice", "exact", GELUS)),
        Side("real", "a real sequence (E*)", sequence=True), Side("real", "a real object (H)"),
        (Relation("dom.dim", "==", "cod.dim", "a transformer keeps the width"),
         Relation("heads", "divides", "dom.dim", "the width splits evenly over the heads"))),
    "llama": Signature(
        "llama", Kind.DETERMINISTIC, "E* (B, T, d) -> H (B, T, d) at every prefix",
        (Param("layers", "int", low=1), Param("heads", "int", low=1), Param("kv_heads", "int", low=1),
         Param("ffn", "int", low=1), Param("context", "int", low=1),
         Param("rope_base", "float", 10000.0, low=1.0), Param("eps", "float", 1e-5, low=0.0)),
        Side("real", "a real sequence (E*)", sequence=True), Side("real", "a real object (H)"),
        (Relation("dom.dim", "==", "cod.dim", "a llama backbone keeps the width"),
         Relation("heads", "divides", "dom.dim", "the width splits evenly over the heads"),
         Relation("kv_heads", "divides", "heads",
                  "each key/value head serves the same number of query heads"))),
    "mlp": Signature(
        "mlp", Kind.DETERMINISTIC, "real n (..., n) -> real m (..., m)",
        (Param("hidden", "int", 0, low=0), Param("layers", "int", 2, low=1)),
        Side("real", "a real object"), Side("real", "a real object")),
    "linear_softmax": Signature(
        "linear_softmax", Kind.STOCHASTIC, "H (..., d) -> logits over Tok (..., V)",
        (Param("tie", "kernel", None, of="embedding"), Param("bias", "bool", False)),
        Side("real", "a real object (H)"), Side("finite", "a finite object (Tok)"),
        (Relation("tie.dom.size", "==", "cod.size", "a tied head reads the embedding's vocabulary"),
         Relation("tie.cod.dim", "==", "dom.dim", "a tied head has the embedding's width"))),
    "table": Signature(
        "table", Kind.STOCHASTIC, "finite X (...) -> logits over finite Y (..., |Y|)", (),
        Side("finite product", "finite (fin n, {a, b}, their products)"),
        Side("finite product", "finite (fin n, {a, b}, their products)")),
}


def signature(name: str, span: Span | None = None) -> Signature:
    """The signature called ``name``; an unknown name lists the valid ones."""
    if name not in SIGNATURES:
        raise SpecError(f"unknown implementation '{name}'", span,
                        hint=f"choose from {', '.join(SIGNATURES)}")
    return SIGNATURES[name]


def bind(call: Call, kernels: Mapping[str, Call] | None = None) -> dict[str, Any]:
    """The arguments of ``call`` with defaults filled in, checked against its signature and objects.

    ``kernels`` are the spec's implementation calls by kernel name, for arguments such as
    ``tie=emb``; without them (the registry, which checks the built module instead) relations
    through a kernel argument are left out.
    """
    sig = signature(call.name, call.span)
    args = _arguments(sig, call)
    for side, want in (("domain", sig.dom), ("codomain", sig.cod)):
        _accept(call, side, want)
    referred = {p.name: _referred(call, p, args[p.name], kernels) for p in sig.params
                if p.type == "kernel" and args[p.name] is not None and kernels is not None}
    for relation in sig.relations:
        _relate(call, relation, args, referred)
    return args


# --- arguments: names, types, ranges ----------------------------------------------------------------

def _to_int(value: Any) -> int:
    if isinstance(value, (int, Fraction, float)) and not isinstance(value, bool) and value == int(value):
        return int(value)
    raise ValueError("an integer")


def _to_float(value: Any) -> float:
    if isinstance(value, (int, Fraction, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError("a number")


def _to_bool(value: Any) -> bool:
    words = {"true": True, "false": False, True: True, False: False}
    if isinstance(value, (bool, str)) and value in words:
        return words[value]
    raise ValueError("true or false")


def _to_kernel(value: Any) -> str | None:
    if isinstance(value, str):
        return None if value == "none" else value
    raise ValueError("a kernel name or none")


def _to_word(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError("a word")


COERCE: dict[str, Callable[[Any], Any]] = {"int": _to_int, "float": _to_float, "bool": _to_bool,
                                           "kernel": _to_kernel, "choice": _to_word}


def _arguments(sig: Signature, call: Call) -> dict[str, Any]:
    known = [p.name for p in sig.params]
    seen: set[str] = set()
    for name, _ in call.args:
        if name in seen:
            raise SpecError(f"kernel '{call.kernel}': {sig.name}() is given '{name}' twice",
                            call.where(name), hint="give each argument once")
        seen.add(name)
        if name not in known:
            raise SpecError(f"kernel '{call.kernel}': {sig.name}() has no argument '{name}'",
                            call.where(name), hint=f"valid arguments: {', '.join(known) or 'none'}")
    given = dict(call.args)
    return {p.name: _argument(sig, p, given, call) for p in sig.params}


def _argument(sig: Signature, p: Param, given: Mapping[str, Any], call: Call) -> Any:
    if p.name not in given:
        if p.default is REQUIRED:
            raise SpecError(f"kernel '{call.kernel}': {sig.name}() needs the argument '{p.name}'",
                            call.span, hint=f"write {sig.describe()}")
        return p.default
    where = call.where(p.name)
    try:
        value = COERCE[p.type](given[p.name])
    except ValueError as err:
        raise SpecError(f"kernel '{call.kernel}': {sig.name}({p.name}=...) must be {err}, "
                        f"not {given[p.name]!r}", where) from None
    if p.choices and value not in p.choices:
        raise SpecError(f"kernel '{call.kernel}': {sig.name}({p.name}={value}) is not one of "
                        f"{', '.join(p.choices)}", where)
    if not _in_range(p, value):
        bound = f"lie in [{p.low:g}, {p.below:g})" if p.below is not None else f"be at least {p.low:g}"
        raise SpecError(f"kernel '{call.kernel}': {sig.name}({p.name}={value}) must {bound}", where)
    return value


def _in_range(p: Param, value: Any) -> bool:
    return (p.low is None or value >= p.low) and (p.below is None or value < p.below)


# --- objects: what each side accepts ---------------------------------------------------------------

def _ob(x: Ob | Ty) -> Ob | Ty:
    """A one-object type is its object; products stay types."""
    return x.objects[0] if isinstance(x, Ty) and len(x) == 1 else x


def _base(x: Ob | Ty) -> Ob | Ty:
    ob = _ob(x)
    return ob.base if isinstance(ob, Seq) else ob


def _finite_product(x: Ob | Ty) -> bool:
    return all(isinstance(ob, Finite) for ob in ((x,) if isinstance(x, Ob) else tuple(x)))


KINDS: dict[str, Callable[[Ob | Ty], bool]] = {
    "finite": lambda x: isinstance(_base(x), Finite),
    "real": lambda x: isinstance(_base(x), Real),
    "finite product": _finite_product,
}


def _accept(call: Call, side: str, want: Side) -> None:
    x = call.dom if side == "domain" else call.cod
    if not KINDS[want.kind](x):
        raise WiringError(f"kernel '{call.kernel}': its {side} {x} is not {want.want}", call.span,
                          hint=f"declare the {side} as {want.want}")
    if want.sequence and not isinstance(_ob(x), Seq):
        raise WiringError(f"kernel '{call.kernel}': {call.name}() reads sequences, not {x}",
                          call.span, hint=f"declare the {side} as {_base(x)}*")


# --- relations between arguments and objects -------------------------------------------------------

# op -> (the test, what a message says when it fails)
OPERATORS: dict[str, tuple[Callable[[int, int], bool], str]] = {
    "==": (operator.eq, "differs from"),
    "divides": (lambda a, b: b % a == 0, "does not divide"),
}


def _referred(call: Call, p: Param, name: str, kernels: Mapping[str, Call]) -> Call:
    other = kernels.get(name)
    if other is None or other.name != p.of:
        what = f"kernel '{name}' is not an {p.of}(...)" if name in kernels else f"no {p.of} is declared as '{name}'"
        raise SpecError(f"kernel '{call.kernel}': {call.name}({p.name}={name}) needs an {p.of}; {what}",
                        call.where(p.name), hint=f"declare `kernel {name} : ... = {p.of}(...)`")
    return other


def _relate(call: Call, relation: Relation, args: Mapping[str, Any], referred: Mapping[str, Call]) -> None:
    terms = (relation.left, relation.right)
    if any(_through(t) and _through(t) not in referred for t in terms):
        return  # a relation through a kernel argument that is absent or unknown here
    if any(t in args and args[t] is None for t in terms):
        return  # an argument left at None is derived later, not related
    (a, say_a), (b, say_b) = (_term(call, t, args, referred) for t in terms)
    holds, verb = OPERATORS[relation.op]
    if holds(a, b):
        return
    arg = next((t for t in terms if t in args or _through(t)), None)
    error = WiringError if arg is None else SpecError  # objects alone disagreeing is a typing error
    raise error(f"kernel '{call.kernel}': {say_a} {verb} {say_b}",
                call.where(_through(arg) or arg if arg else None), hint=relation.why)


def _through(term: str) -> str | None:
    """The kernel argument a term reads through (``tie`` in ``tie.dom.size``), if any."""
    parts = term.split(".")
    return parts[0] if len(parts) == 3 else None


def _term(call: Call, term: str, args: Mapping[str, Any], referred: Mapping[str, Call]) -> tuple[int, str]:
    """The value of a term and how to say it in a message."""
    if term in args:
        return args[term], f"{call.name}({term}={args[term]})"
    *through, side, measure = term.split(".")
    site = referred[through[0]] if through else call
    ob = _base(site.dom if side == "dom" else site.cod)
    whose = f"{site.kernel}'s " if through else ""
    if measure == "dim":
        return ob.dim, f"{whose}{ob.name} = real {ob.dim}"
    size = prod(o.size for o in ((ob,) if isinstance(ob, Ob) else tuple(ob)))
    return size, f"{whose}{ob} of size {size}"
