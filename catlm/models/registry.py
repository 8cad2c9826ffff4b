"""The registry of torch implementations: the name in ``kernel f : A -> B = name(args)`` -> module.

The torch backend's arrow map for declared kernels. Each ``Implementation`` says its kind (a
``deterministic`` Dirac kernel or a ``stochastic`` head returning logits), its arguments with types
and defaults, and a factory that checks the arguments against the kernel's domain and codomain
objects (``catlm.core.types``) before building the module. Lookups that fail list the valid names,
as opt_einsum's backend table does.

>>> from catlm.core.types import Finite, Real, Seq
>>> tok, E = Finite.range("Tok", 65), Real("E", 32)
>>> emb = build("embedding", {"dim": 32}, Seq("Tok*", tok), Seq("E*", E), kernel="emb")
>>> head = build("linear_softmax", {"tie": "emb"}, Real("H", 32), tok, kernel="head",
...              modules={"emb": emb})
>>> head.weight is emb.weight, IMPLEMENTATIONS["linear_softmax"].kind
(True, 'stochastic')
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import prod
from typing import Any, Callable, Mapping

from torch import nn

from catlm.core.types import Finite, Ob, Real, Seq, Ty
from catlm.errors import SpecError, WiringError
from catlm.models.embedding import POSITIONS, Embedding
from catlm.models.heads import LinearSoftmax
from catlm.models.llama import Llama
from catlm.models.mlp import MLP
from catlm.models.table import Table
from catlm.models.transformer import GELUS, Transformer

REQUIRED = object()  # the default of an argument the spec must give


@dataclass(frozen=True, slots=True)
class Param:
    """One argument: its type ("int", "float", "bool", "choice", "kernel") and default."""

    name: str
    type: str
    default: Any = REQUIRED
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Site:
    """Where a module is built: the kernel's name, its objects, and the modules built before it."""

    kernel: str
    dom: Ob | Ty
    cod: Ob | Ty
    modules: Mapping[str, nn.Module]


@dataclass(frozen=True, slots=True)
class Implementation:
    name: str
    kind: str  # "deterministic" (a Dirac kernel: a function) or "stochastic" (logits of a categorical)
    signature: str
    params: tuple[Param, ...]
    make: Callable[[dict, Site], nn.Module]

    def describe(self) -> str:
        return f"{self.name}({', '.join(p.name for p in self.params)}) : {self.signature}"


# --- coercion of spec literals (ints, Fractions, floats, words, strings) -----------------------

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


COERCE = {"int": _to_int, "float": _to_float, "bool": _to_bool, "kernel": _to_kernel,
          "choice": _to_word}


def _arguments(impl: Implementation, args: Mapping[str, Any], kernel: str) -> dict:
    known = {p.name: p for p in impl.params}
    for name in args:
        if name not in known:
            raise SpecError(f"kernel '{kernel}': {impl.name}() has no argument '{name}'",
                            hint=f"valid arguments: {', '.join(known)}")
    return {p.name: _argument(impl, p, args, kernel) for p in impl.params}


def _argument(impl: Implementation, p: Param, args: Mapping[str, Any], kernel: str) -> Any:
    if p.name not in args:
        if p.default is REQUIRED:
            raise SpecError(f"kernel '{kernel}': {impl.name}() needs the argument '{p.name}'",
                            hint=f"write {impl.describe()}")
        return p.default
    try:
        value = COERCE[p.type](args[p.name])
    except ValueError as err:
        raise SpecError(f"kernel '{kernel}': {impl.name}({p.name}=...) must be {err}, "
                        f"not {args[p.name]!r}") from None
    if p.choices and value not in p.choices:
        raise SpecError(f"kernel '{kernel}': {impl.name}({p.name}={value}) is not one of "
                        f"{', '.join(p.choices)}")
    return value


# --- objects: what each implementation accepts as domain and codomain ------------------------

def _ob(x: Ob | Ty) -> Ob | Ty:
    """A one-object type is its object; products stay types."""
    return x.objects[0] if isinstance(x, Ty) and len(x) == 1 else x


def _base(x: Ob | Ty, accept: tuple[type, ...], site: Site, side: str, want: str) -> Ob:
    ob = _ob(x)
    ob = ob.base if isinstance(ob, Seq) else ob
    if not isinstance(ob, accept):
        raise WiringError(f"kernel '{site.kernel}': its {side} {x} is not {want}",
                          hint=f"declare the {side} as {want}")
    return ob


def _sequence(x: Ob | Ty) -> bool:
    return isinstance(_ob(x), Seq)


def _size(x: Ob | Ty, site: Site, side: str) -> int:
    obs = (x,) if isinstance(x, Ob) else tuple(x)
    if not all(isinstance(ob, Finite) for ob in obs):
        raise WiringError(f"kernel '{site.kernel}': its {side} {x} is not finite",
                          hint="a table maps finite objects (fin n, {a, b}, their products)")
    return prod(ob.size for ob in obs)


def _same_dim(site: Site, what: str, given: int, ob: Real) -> None:
    if given != ob.dim:
        raise SpecError(f"kernel '{site.kernel}': {what}={given} disagrees with "
                        f"{ob.name} = real {ob.dim}", hint="make them equal")


# --- factories -----------------------------------------------------------------------------------

def _embedding(a: dict, site: Site) -> nn.Module:
    tok = _base(site.dom, (Finite,), site, "domain", "a finite object (Tok or Tok*)")
    out = _base(site.cod, (Real,), site, "codomain", "a real object (E or E*)")
    _same_dim(site, "dim", a["dim"], out)
    return Embedding(tok.size, a["dim"], a["positions"], a["context"], a["dropout"])


def _backbone_width(a: dict, site: Site, what: str) -> int:
    """The width d of a backbone ``E* -> H`` (E = H = real d) whose heads divide d."""
    x = _base(site.dom, (Real,), site, "domain", "a real sequence (E*)")
    h = _base(site.cod, (Real,), site, "codomain", "a real object (H)")
    if not _sequence(site.dom):
        raise WiringError(f"kernel '{site.kernel}': a {what} reads sequences, not {site.dom}",
                          hint=f"declare the domain as {x.name}*")
    if x.dim != h.dim:
        raise WiringError(f"kernel '{site.kernel}': {x.name} = real {x.dim} and "
                          f"{h.name} = real {h.dim} differ; a {what} keeps the width")
    if x.dim % a["heads"]:
        raise SpecError(f"kernel '{site.kernel}': heads={a['heads']} does not divide real {x.dim}")
    return x.dim


def _transformer(a: dict, site: Site) -> nn.Module:
    dim = _backbone_width(a, site, "transformer")
    return Transformer(dim, a["layers"], a["heads"], a["context"], a["dropout"], a["gelu"])


def _llama(a: dict, site: Site) -> nn.Module:
    dim = _backbone_width(a, site, "llama backbone")
    kv_heads = a["kv_heads"] or a["heads"]
    if a["heads"] % kv_heads:
        raise SpecError(f"kernel '{site.kernel}': kv_heads={kv_heads} does not divide heads={a['heads']}",
                        hint="each key/value head serves the same number of query heads")
    if (dim // a["heads"]) % 2:
        raise SpecError(f"kernel '{site.kernel}': the head dimension {dim // a['heads']} is odd, and "
                        "rotary positions rotate pairs", hint="choose heads so that dim / heads is even")
    return Llama(dim, a["layers"], a["heads"], kv_heads, a["ffn"] or 4 * dim, a["context"],
                 a["rope_base"], a["eps"])


def _mlp(a: dict, site: Site) -> nn.Module:
    x = _base(site.dom, (Real,), site, "domain", "a real object")
    y = _base(site.cod, (Real,), site, "codomain", "a real object")
    return MLP(x.dim, y.dim, a["hidden"] or 4 * x.dim, a["layers"])


def _linear_softmax(a: dict, site: Site) -> nn.Module:
    h = _base(site.dom, (Real,), site, "domain", "a real object (H)")
    tok = _base(site.cod, (Finite,), site, "codomain", "a finite object (Tok)")
    tied = _tied_weight(a["tie"], site, tok.size, h.dim) if a["tie"] else None
    return LinearSoftmax(h.dim, tok.size, a["bias"], tied)


def _tied_weight(name: str, site: Site, vocab: int, dim: int) -> nn.Parameter:
    module = site.modules.get(name)
    if module is None:
        raise SpecError(f"kernel '{site.kernel}': tie={name} names no embedding built so far",
                        hint=f"built: {', '.join(site.modules) or 'none'}; declare {name} first")
    weight = getattr(module, "weight", None)
    if not isinstance(module, Embedding) or tuple(weight.shape) != (vocab, dim):
        shape = tuple(weight.shape) if weight is not None else "no weight"
        raise SpecError(f"kernel '{site.kernel}': tie={name} has a table of shape {shape}, "
                        f"the head needs ({vocab}, {dim})")
    return weight


def _table(a: dict, site: Site) -> nn.Module:
    return Table(_size(site.dom, site, "domain"), _size(site.cod, site, "codomain"))


def _param_dropout() -> Param:
    return Param("dropout", "float", 0.0)


IMPLEMENTATIONS: dict[str, Implementation] = {
    "embedding": Implementation(
        "embedding", "deterministic", "Tok* (B, T) -> E* (B, T, dim)",
        (Param("dim", "int"), Param("positions", "choice", "learned", POSITIONS),
         Param("context", "int", 1024), _param_dropout()), _embedding),
    "transformer": Implementation(
        "transformer", "deterministic", "E* (B, T, d) -> H (B, T, d) at every prefix",
        (Param("layers", "int"), Param("heads", "int"), Param("context", "int"), _param_dropout(),
         Param("gelu", "choice", "exact", tuple(GELUS))),
        _transformer),
    "llama": Implementation(
        "llama", "deterministic", "E* (B, T, d) -> H (B, T, d) at every prefix",
        (Param("layers", "int"), Param("heads", "int"), Param("kv_heads", "int", 0),
         Param("ffn", "int", 0), Param("context", "int"), Param("rope_base", "float", 10000.0),
         Param("eps", "float", 1e-5)), _llama),
    "mlp": Implementation(
        "mlp", "deterministic", "real n (..., n) -> real m (..., m)",
        (Param("hidden", "int", 0), Param("layers", "int", 2)), _mlp),
    "linear_softmax": Implementation(
        "linear_softmax", "stochastic", "H (..., d) -> logits over Tok (..., V)",
        (Param("tie", "kernel", None), Param("bias", "bool", False)), _linear_softmax),
    "table": Implementation(
        "table", "stochastic", "finite X (...) -> logits over finite Y (..., |Y|)", (), _table),
}

POSITIVE = ("dim", "layers", "heads", "context")


def implementation(name: str) -> Implementation:
    """The registered implementation called ``name``; unknown names list the valid ones."""
    if name not in IMPLEMENTATIONS:
        raise SpecError(f"unknown implementation '{name}'",
                        hint=f"choose from {', '.join(IMPLEMENTATIONS)}")
    return IMPLEMENTATIONS[name]


def kind(name: str) -> str:
    """``"deterministic"`` or ``"stochastic"``: what ``kernel f : A -> B deterministic`` is checked against."""
    return implementation(name).kind


def build(name: str, args: Mapping[str, Any], dom: Ob | Ty, cod: Ob | Ty, *, kernel: str | None = None,
          modules: Mapping[str, nn.Module] | None = None) -> nn.Module:
    """Build the module of ``kernel : dom -> cod = name(**args)``, checking args against the objects."""
    impl = implementation(name)
    site = Site(kernel or name, dom, cod, modules or {})
    a = _arguments(impl, args, site.kernel)
    _check_ranges(impl, a, site)
    return impl.make(a, site)


def _check_ranges(impl: Implementation, a: dict, site: Site) -> None:
    for p in POSITIVE:
        if p in a and a[p] < 1:
            raise SpecError(f"kernel '{site.kernel}': {impl.name}({p}={a[p]}) must be at least 1")
    if not 0.0 <= a.get("dropout", 0.0) < 1.0:
        raise SpecError(f"kernel '{site.kernel}': dropout={a['dropout']} must lie in [0, 1)")
    for p in ("kv_heads", "ffn"):  # 0 means the default: kv_heads = heads, ffn = 4 d
        if a.get(p, 0) < 0:
            raise SpecError(f"kernel '{site.kernel}': {impl.name}({p}={a[p]}) must be positive")
    for p in ("rope_base", "eps"):
        if p in a and a[p] <= 0:
            raise SpecError(f"kernel '{site.kernel}': {impl.name}({p}={a[p]}) must be positive")
    if a.get("hidden", 0) < 0:
        raise SpecError(f"kernel '{site.kernel}': mlp(hidden={a['hidden']}) must be positive")
