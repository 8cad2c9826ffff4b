"""The torch functor on generators: each box of a diagram as one module and a schedule ``Node``.

The arrow map of ``catlm.backends.torch`` on generating boxes, one builder per kind of body (a
dispatch table, as in the numpy backend's ``params.BODIES``): an ``Implementation`` goes through
``catlm.models.registry`` and its kind is checked against the box's ``deterministic`` promise; a
``Literal`` becomes a ``Constant`` buffer (or a ``Function`` table when deterministic); a declared
finite kernel becomes a learnable ``catlm.models.table.Table`` whose logits are the log of
``params[name]`` or of the numpy backend's seeded draw, so that both backends hold the same kernel.

>>> import numpy as np
>>> from catlm.core.types import Finite, Ty
>>> from catlm.core.diagram import Box
>>> A = Ty(Finite.range("A", 2))
>>> module, node = generator(Box("f", A, A), GeneratorSource.of({"f": np.eye(2)[::-1]}), {})
>>> node.kind, module.probs().tolist()
(<Kind.STOCHASTIC: 'stochastic'>, [[0.0, 1.0], [1.0, 0.0]])
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from math import prod
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from catlm.backends.params import Source, box_tensor
from catlm.backends.symbolic import FLOAT
from catlm.core.diagram import Box, Implementation, Kind, Literal
from catlm.errors import BackendError
from catlm.models import registry
from catlm.models.table import Table

KEYWORDS = ("cache", "start_pos")  # what the language-model readings pass on to modules that take them


# --- modules for finite boxes ----------------------------------------------------

class Constant(nn.Module):
    """A literal kernel: flat index (...) -> log-probabilities (..., |Y|) of a fixed (|X|, |Y|) matrix."""

    def __init__(self, probs: torch.Tensor):
        super().__init__()
        self.register_buffer("table", probs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table[x].log()

    def probs(self) -> torch.Tensor:
        return self.table


class Function(nn.Module):
    """A deterministic kernel between finite objects: flat index (...) -> flat index (...)."""

    def __init__(self, index: torch.Tensor, n_out: int):
        super().__init__()
        self.n_out = n_out
        self.register_buffer("index", index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.index[x]

    def probs(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        return F.one_hot(self.index, self.n_out).to(dtype)  # (|X|, |Y|), one-hot rows

@dataclass(frozen=True)
class Node:
    """One box of the schedule: its module's key, its kind, and how values cross its boundary.

    ``dom``/``cod`` are the axis sizes when that side is finite (values are flattened row-major
    into one index), else None (the single value passes as it is).
    """

    name: str
    kind: Kind
    dom: tuple[int, ...] | None
    cod: tuple[int, ...] | None
    keywords: frozenset[str] = frozenset()     # which of KEYWORDS the module's forward takes


@dataclass(frozen=True)
class GeneratorSource:
    """Where the entries of finite boxes come from (as in numpy) and which names are parameters."""

    entries: Source
    params: Mapping[str, object] = field(default_factory=dict)

    @staticmethod
    def of(params: Mapping[str, object] | None = None, seed: int | None = None,
           subs: Mapping[str, object] | None = None, atol: float = 1e-9) -> "GeneratorSource":
        return GeneratorSource(Source(FLOAT, dict(params or {}), seed, dict(subs or {}), atol), dict(params or {}))


def generator(box: Box, source: GeneratorSource, modules: Mapping[str, nn.Module]) -> tuple[nn.Module, "Node"]:
    """The module of ``box`` and its schedule node; ``modules`` are those built so far (for ``tie=``)."""
    module, kind = BUILDERS[type(box.body)](box, source, modules)
    return module, _node(box, kind, module)


def _node(box: Box, kind: str, module: nn.Module) -> Node:
    takes = inspect.signature(module.forward).parameters
    finite = lambda ty: ty.shape if ty.is_finite else None  # noqa: E731
    return Node(box.name, kind, finite(box.dom), finite(box.cod),
                frozenset(k for k in KEYWORDS if k in takes))


def _implementation(box: Box, source: GeneratorSource, modules: dict) -> tuple[nn.Module, str]:
    body: Implementation = box.body
    kind = registry.kind(body.name)
    if box.deterministic and kind is Kind.STOCHASTIC:
        raise BackendError(f"kernel '{box.name}' is declared deterministic but {body.name}(...) is a "
                           "stochastic implementation", box.span,
                           hint="drop `deterministic` or choose a deterministic implementation")
    if box.name in source.params:
        raise BackendError(f"params['{box.name}'] given, but '{box.name}' is the module "
                           f"{body.name}(...)", box.span, hint="load its weights with load_state_dict")
    return registry.build(body.name, body.kwargs, box.dom, box.cod, kernel=box.name,
                          modules=modules), kind


def _literal(box: Box, source: GeneratorSource, modules: dict) -> tuple[nn.Module, str]:
    return _finite(box, box_tensor(box, source.entries), constant=True)


def _parameter(box: Box, source: GeneratorSource, modules: dict) -> tuple[nn.Module, str]:
    _require_finite_box(box)
    if box.name in source.params or source.entries.seed is not None:
        return _finite(box, box_tensor(box, source.entries), constant=False)
    rows, cols = prod(box.dom.shape), prod(box.cod.shape)
    if box.deterministic:
        return Function(torch.randint(cols, (rows,)), cols), Kind.DETERMINISTIC
    return Table(rows, cols), Kind.STOCHASTIC


BUILDERS = {Implementation: _implementation, Literal: _literal, type(None): _parameter}


def _finite(box: Box, tensor: np.ndarray, constant: bool) -> tuple[nn.Module, str]:
    """A verified FinStoch tensor as a module: a function table, a constant, or a table's logits."""
    m = np.asarray(tensor, dtype=np.float64).reshape(prod(box.dom.shape), prod(box.cod.shape))
    if box.deterministic:
        return Function(torch.as_tensor(m.argmax(axis=1)), m.shape[1]), Kind.DETERMINISTIC
    if constant:
        return Constant(torch.as_tensor(m)), Kind.STOCHASTIC
    table = Table(*m.shape)
    with np.errstate(divide="ignore"):
        table.logits = nn.Parameter(torch.as_tensor(np.log(m)))  # zeros stay zero: logit -inf
    return table, Kind.STOCHASTIC


def _require_finite_box(box: Box) -> None:
    if not (box.dom.is_finite and box.cod.is_finite):
        raise BackendError(f"kernel '{box.name}' : {box.dom} -> {box.cod} has no body, and torch "
                           "learns free kernels only between finite objects", box.span,
                           hint="give it an implementation, e.g. `= mlp()` or `= linear_softmax()`")
