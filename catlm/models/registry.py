"""The registry of torch implementations: the name in ``kernel f : A -> B = name(args)`` -> module.

The torch backend's arrow map for declared kernels. Each ``Implementation`` pairs a ``Signature``
of ``catlm.core.signatures`` (its kind: a ``deterministic`` Dirac kernel or a ``stochastic`` head
returning logits; its arguments with types, defaults and ranges; how they relate to the domain and
codomain objects) with a factory. ``build`` binds the arguments with the same ``bind`` that
``catlm check`` runs without torch, then builds the module. Lookups that fail list the valid names,
as opt_einsum's backend table does.

>>> from catlm.core.types import Finite, Real, Seq
>>> tok, E = Finite.range("Tok", 65), Real("E", 32)
>>> emb = build("embedding", {"dim": 32}, Seq("Tok*", tok), Seq("E*", E), kernel="emb")
>>> head = build("linear_softmax", {"tie": "emb"}, Real("H", 32), tok, kernel="head",
...              modules={"emb": emb})
>>> head.weight is emb.weight, IMPLEMENTATIONS["linear_softmax"].kind
(True, <Kind.STOCHASTIC: 'stochastic'>)
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from math import prod
from typing import Any

from torch import nn

from catlm.core.diagram import Kind
from catlm.core.types import Ob, Seq, Ty
from catlm.errors import SpecError
from catlm.models.embedding import Embedding
from catlm.models.heads import LinearSoftmax
from catlm.models.llama import Llama
from catlm.models.mlp import MLP
from catlm.core.signatures import SIGNATURES, Call, Param, Signature, bind, signature
from catlm.models.table import Table
from catlm.models.transformer import Transformer


@dataclass(frozen=True, slots=True)
class Site:
    """Where a module is built: the kernel's name, its objects, and the modules built before it."""

    kernel: str
    dom: Ob | Ty
    cod: Ob | Ty
    modules: Mapping[str, nn.Module]


@dataclass(frozen=True, slots=True)
class Implementation:
    """A signature (pure data, ``catlm.core.signatures``) and the factory that builds its module."""

    signature: Signature
    make: Callable[[dict, Site], nn.Module]

    @property
    def name(self) -> str:
        return self.signature.name

    @property
    def kind(self) -> Kind:
        return self.signature.kind

    @property
    def params(self) -> tuple[Param, ...]:
        return self.signature.params

    def describe(self) -> str:
        return self.signature.describe()


def _ob(x: Ob | Ty) -> Ob | Ty:
    """A one-object type is its object; products stay types (the signature has checked which)."""
    ob = x.objects[0] if isinstance(x, Ty) and len(x) == 1 else x
    return ob.base if isinstance(ob, Seq) else ob


def _size(x: Ob | Ty) -> int:
    return prod(ob.size for ob in ((x,) if isinstance(x, Ob) else tuple(x)))


# --- factories: arguments and objects are already checked against the signature ---------------------

def _embedding(a: dict, site: Site) -> nn.Module:
    return Embedding(_ob(site.dom).size, a["dim"], a["positions"], a["context"], a["dropout"])


def _transformer(a: dict, site: Site) -> nn.Module:
    return Transformer(_ob(site.dom).dim, a["layers"], a["heads"], a["context"], a["dropout"], a["gelu"])


def _llama(a: dict, site: Site) -> nn.Module:
    dim = _ob(site.dom).dim
    if (dim // a["heads"]) % 2:
        raise SpecError(f"kernel '{site.kernel}': the head dimension {dim // a['heads']} is odd, and "
                        "rotary positions rotate pairs", hint="choose heads so that dim / heads is even")
    return Llama(dim, a["layers"], a["heads"], a["kv_heads"], a["ffn"], a["context"], a["rope_base"], a["eps"])


def _mlp(a: dict, site: Site) -> nn.Module:
    x, y = _ob(site.dom), _ob(site.cod)
    return MLP(x.dim, y.dim, a["hidden"] or 4 * x.dim, a["layers"])


def _linear_softmax(a: dict, site: Site) -> nn.Module:
    h, tok = _ob(site.dom), _ob(site.cod)
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
    return Table(_size(site.dom), _size(site.cod))


FACTORIES: dict[str, Callable[[dict, Site], nn.Module]] = {
    "embedding": _embedding, "transformer": _transformer, "llama": _llama, "mlp": _mlp,
    "linear_softmax": _linear_softmax, "table": _table,
}

IMPLEMENTATIONS: dict[str, Implementation] = {
    name: Implementation(SIGNATURES[name], make) for name, make in FACTORIES.items()}


def implementation(name: str) -> Implementation:
    """The registered implementation called ``name``; unknown names list the valid ones."""
    return IMPLEMENTATIONS[signature(name).name]


def kind(name: str) -> Kind:
    """``Kind.DETERMINISTIC`` or ``Kind.STOCHASTIC``: what ``kernel f : A -> B deterministic`` is checked against."""
    return signature(name).kind


def build(name: str, args: Mapping[str, Any], dom: Ob | Ty, cod: Ob | Ty, *, kernel: str | None = None,
          modules: Mapping[str, nn.Module] | None = None) -> nn.Module:
    """Build the module of ``kernel : dom -> cod = name(**args)``, checking args against the objects."""
    a = bind(Call(kernel or name, name, tuple(args.items()), dom, cod))
    return IMPLEMENTATIONS[name].make(a, Site(kernel or name, dom, cod, modules or {}))
