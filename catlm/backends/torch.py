"""The functor to torch: a typed diagram as a ``DiagramModule``, an ``nn.Module`` with three readings.

The object map sends a finite set to index tensors (int64, batch shape), ``real d`` to vectors
(..., d) and ``A*`` to sequences (B, T, ...); a sequence kernel reads every prefix at once, so the
wires after it carry an extra T axis. The arrow map sends each generating box to one module in
``kernels`` (a box used twice shares it): an implementation body goes through
``catlm.models.registry``, a declared finite kernel becomes a learnable ``Table`` (or a function
table when ``deterministic``), a literal a constant buffer. ``DiagramModule`` then reads the
schedule of ``diagram.wiring`` three ways (docs/torch.md):

* ``sample(*inputs)``: ancestral sampling in schedule order;
* ``log_prob(inputs, outputs)``: observed stochastic boxes scored directly, internal ones
  marginalised exactly through ``probs`` when the diagram is finite;
* ``probs(*inputs)``: exact marginalisation over internal finite wires, one einsum whose indices are
  the wire classes of ``catlm.backends.finstoch`` plus batch axes, refused past the budget.

On small finite objects tabulating ``probs`` gives the numpy backend's tensor for the same
parameters (the functor-agreement test). A chain ``Tok* -> ... -> Tok`` ending in a stochastic head
is also a nanoGPT-style language model: ``forward(idx, cache, start_pos)`` gives the logits of every
prefix, ``loss`` the chunked cross-entropy, ``new_cache`` a KV cache, so ``catlm.models.training``
and ``catlm.decoding.sampling`` run on it as on ``catlm.models.gpt.GPT``.

>>> import numpy as np, torch
>>> from catlm.core.types import Finite, Ty
>>> from catlm.core.diagram import Box, copy
>>> from catlm.core.check import typecheck
>>> A = Ty(Finite.range("A", 2))
>>> f = np.array([[0.5, 0.5], [0.0, 1.0]])
>>> m = compile_torch(typecheck(Box("f", A, A) >> copy(A)), params={"f": f}, dtype=torch.float64)
>>> m.probs().tolist()
[[[0.5, 0.0], [0.0, 0.5]], [[0.0, 0.0], [0.0, 1.0]]]
>>> m.log_prob((torch.tensor([0, 1]),), (torch.tensor([1, 1]), torch.tensor([1, 0]))).exp().tolist()
[0.5, 0.0]
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from math import prod
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from catlm.backends import finstoch as fs
from catlm.backends.torch_generators import Constant, Function, GeneratorSource, Node, generator
from catlm.backends.torch_values import (agree, align, contract, event_ndim, left_broadcast, ravel,
                                         unravel)
from catlm.core.check import TypedDiagram
from catlm.core.diagram import Box, Kind
from catlm.core.types import Finite, Ob, Seq, Ty
from catlm.errors import BackendError, BudgetError, format_bytes
from catlm.models.heads import DEFAULT_CHUNK

__all__ = ["compile_torch", "DiagramModule", "DiagramConfig", "Constant", "Function"]

# --- the schedule -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    node: Node
    ins: tuple[int, ...]   # wire classes read
    outs: tuple[int, ...]  # wire classes written


@dataclass(frozen=True)
class DiagramConfig:
    """What a checkpoint records about a compiled diagram (``model_config`` in state.json)."""

    kernel: str | None
    vocab: int | None
    context: int
    chunk: int = DEFAULT_CHUNK

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Positions:
    """The cache of a language model without attention: only the number of positions seen."""

    length: int = 0


# --- the compiler ------------------------------------------------------------------------------------

def compile_torch(diagram: TypedDiagram, params: Mapping[str, object] | None = None,
                  seed: int | None = None, *, budget: int = fs.DEFAULT_BUDGET,
                  dtype: torch.dtype | None = None, subs: Mapping[str, object] | None = None,
                  atol: float = 1e-9, chunk: int = DEFAULT_CHUNK) -> "DiagramModule":
    """The ``DiagramModule`` of ``diagram``; ``params``/``seed`` fix declared finite kernels as in numpy."""
    if not isinstance(diagram, TypedDiagram):
        raise BackendError(f"a backend compiles a TypedDiagram, not {type(diagram).__name__}",
                           hint="call catlm.typecheck(diagram) first")
    source = GeneratorSource.of(params, seed, subs, atol)
    modules: dict[str, nn.Module] = {}
    nodes: dict[str, Node] = {}
    for box in diagram.diagram.boxes:  # a box used twice is one generator: one module
        if box.name not in modules:
            modules[box.name], nodes[box.name] = generator(box, source, modules)
    module = DiagramModule(diagram, modules, nodes, budget=budget, chunk=chunk)
    return module.to(dtype or torch.get_default_dtype())


# --- the module ----------------------------------------------------------------------------------------

class DiagramModule(nn.Module):
    """A compiled typed diagram: ``kernels`` holds one module per box; the schedule is fixed data."""

    def __init__(self, diagram: TypedDiagram, modules: Mapping[str, nn.Module], nodes: Mapping[str, Node],
                 budget: int = fs.DEFAULT_BUDGET, chunk: int = DEFAULT_CHUNK):
        super().__init__()
        self.diagram, self.budget, self.chunk = diagram, budget, chunk
        self.kernels = nn.ModuleDict(modules)
        # an empty float buffer that .to(device, dtype) moves: where new tensors are made, and how
        self.register_buffer("anchor", torch.zeros(0), persistent=False)
        wiring = diagram.wiring
        self.classes = fs.wire_classes(wiring)
        self.obs = {self.classes[w]: ob for w, ob in enumerate(wiring.wires)}
        cls = lambda ws: tuple(self.classes[w] for w in ws)  # noqa: E731
        self.calls = tuple(Call(nodes[s.gen.name], cls(s.ins), cls(s.outs))
                           for s in wiring.steps if isinstance(s.gen, Box))
        self.inputs, self.outputs = cls(wiring.inputs), cls(wiring.outputs)
        self.lm = _language_model(diagram, self.calls, self.inputs, self.outputs)
        self.config = DiagramConfig(diagram.name, self.lm and self.lm.vocab, self._context(), chunk)

    def extra_repr(self) -> str:
        return f"{self._name()} : {self.diagram.dom} -> {self.diagram.cod}"

    @property
    def dom(self) -> Ty:
        return self.diagram.dom

    @property
    def cod(self) -> Ty:
        return self.diagram.cod

    @property
    def context(self) -> int:
        return self.config.context

    def _context(self) -> int:
        found = [getattr(m, "context") for m in self.kernels.values()
                 if getattr(m, "context", None) and getattr(m, "positions", "learned") != "none"]
        return min(found, default=2 ** 31 - 1)

    def _device(self) -> torch.device:
        return self.anchor.device

    def _dtype(self) -> torch.dtype:
        return self.anchor.dtype

    # one box

    def _input(self, call: Call, ins: list, batch: tuple) -> torch.Tensor:
        if call.node.dom is None:
            return ins[0]
        return ravel(ins, call.node.dom, batch, None if ins else self._device())

    def _run(self, call: Call, ins: list, batch: tuple, **kw) -> list[torch.Tensor]:
        """A deterministic box's output values."""
        kw = {k: v for k, v in kw.items() if k in call.node.keywords}
        return unravel(self.kernels[call.node.name](self._input(call, ins, batch), **kw), call.node.cod)

    def _log_probs(self, call: Call, ins: list, batch: tuple) -> torch.Tensor:
        """A stochastic box's log-probabilities (batch..., |cod|) over its flattened codomain."""
        return torch.log_softmax(self.kernels[call.node.name](self._input(call, ins, batch)), dim=-1)

    def _table(self, call: Call) -> torch.Tensor:
        """A finite box's whole stochastic matrix, shaped dom sizes + cod sizes."""
        module = self.kernels[call.node.name]
        if call.node.dom is None or call.node.cod is None or not hasattr(module, "probs"):
            raise BackendError(f"kernel '{call.node.name}' would have to be summed over an internal "
                               "wire it cannot tabulate", hint="estimate with sample(...) instead")
        probs = module.probs(self._dtype()) if isinstance(module, Function) else module.probs()
        return probs.reshape(call.node.dom + call.node.cod)

    # the readings

    def _values(self, values, wires: tuple[int, ...], what: str) -> list[torch.Tensor]:
        values = (values,) if isinstance(values, torch.Tensor) else tuple(values)
        if len(values) != len(wires):
            ty = self.dom if what == "inputs" else self.cod
            raise BackendError(f"`{self._name()}` : {self.dom} -> {self.cod} takes {len(wires)} {what}, "
                               f"got {len(values)}", hint=f"pass one tensor per object of {ty}")
        return [self._value(v, self.obs[c]) for c, v in zip(wires, values)]

    def _value(self, v, ob: Ob) -> torch.Tensor:
        v = torch.as_tensor(v, device=self._device())
        base = ob.base if isinstance(ob, Seq) else ob
        if isinstance(base, Finite):
            if v.numel() and (int(v.min()) < 0 or int(v.max()) >= base.size):
                raise BackendError(f"a value of {ob} is outside [0, {base.size})",
                                   hint=f"indices of {base} run from 0 to {base.size - 1}")
            return v.long()
        return v.to(self._dtype()) if v.is_floating_point() else v

    def _name(self) -> str:
        return self.diagram.name or self.diagram.diagram.expr

    def _batch(self, known: Mapping[int, torch.Tensor], extra: tuple = ()) -> tuple[int, ...]:
        shapes = [v.shape[:v.dim() - event_ndim(self.obs[c])] for c, v in known.items()]
        return left_broadcast(shapes + [tuple(extra)])

    def sample(self, *inputs, generator: torch.Generator | None = None, batch: tuple = ()
               ) -> tuple[torch.Tensor, ...]:
        """Ancestral sampling in schedule order: one value per codomain object.

        ``batch`` sets the number of draws when no input fixes it (a state ``I -> X``).
        """
        known = dict(zip(self.inputs, self._values(inputs, self.inputs, "inputs")))
        shape = self._batch(known, batch)
        for call in self.calls:
            ins = [known[c] for c in call.ins]
            known.update(zip(call.outs, self._draw(call, ins, shape, generator)))
        return tuple(known[c] for c in self.outputs)

    def _draw(self, call: Call, ins: list, batch: tuple, generator) -> list[torch.Tensor]:
        if call.node.kind is Kind.DETERMINISTIC:
            return self._run(call, ins, batch)
        logp = self._log_probs(call, ins, batch)
        flat = torch.multinomial(logp.exp().reshape(-1, logp.shape[-1]), 1, generator=generator)
        return unravel(flat.reshape(logp.shape[:-1]), call.node.cod)

    def log_prob(self, inputs, outputs, batch: tuple = ()) -> torch.Tensor:
        """log P(outputs | inputs) per batch element; internal stochastic wires summed out exactly."""
        known = dict(zip(self.inputs, self._values(inputs, self.inputs, "inputs")))
        terms = self._observe(known, self._values(outputs, self.outputs, "outputs"))
        latent: set[int] = set()
        for call in self.calls:
            if not self._score(call, known, latent, terms, self._batch(known, batch)):
                return self._marginal_log_prob(inputs, outputs, batch)
        shape = left_broadcast([t.shape for t in terms] + [self._batch(known, batch)])
        zero = torch.zeros(shape, dtype=self._dtype(), device=self._device())
        return sum((align(t, shape, 0) for t in terms), zero)

    def _observe(self, known: dict, values: list[torch.Tensor]) -> list[torch.Tensor]:
        """Bind the observed outputs; a wire observed twice (or an input) must agree with itself."""
        terms = []
        for c, v in zip(self.outputs, values):
            if c in known:
                terms.append(agree(known[c], v, self.obs[c], self._dtype()))
            else:
                known[c] = v
        return terms

    def _score(self, call: Call, known: dict, latent: set, terms: list, batch: tuple) -> bool:
        """Score one box; False when an observed value depends on a wire that must be summed out."""
        observed = [c in known for c in call.outs]
        if any(c in latent for c in call.ins):
            latent.update(call.outs)
            return not any(observed)
        ins = [known[c] for c in call.ins]
        if call.node.kind is Kind.DETERMINISTIC:
            for c, v in zip(call.outs, self._run(call, ins, batch)):
                if c in known:
                    terms.append(agree(known[c], v, self.obs[c], self._dtype()))
                known.setdefault(c, v)
        elif all(observed):
            terms.append(self._observed_log_prob(call, ins, [known[c] for c in call.outs], batch))
        elif any(observed):
            return False
        else:
            latent.update(call.outs)
        return True

    def _observed_log_prob(self, call: Call, ins: list, outs: list, batch: tuple) -> torch.Tensor:
        logp = self._log_probs(call, ins, batch)  # (b..., |cod|)
        flat = ravel(outs, call.node.cod, (), None) if call.node.cod is not None else outs[0]
        shape = left_broadcast([logp.shape[:-1], flat.shape])
        return torch.gather(align(logp, shape, 1), -1, align(flat, shape, 0)[..., None])[..., 0]

    def _marginal_log_prob(self, inputs, outputs, batch: tuple) -> torch.Tensor:
        if not self.cod.is_finite:
            raise BackendError(f"log_prob of `{self._name()}` needs a sum over an internal stochastic "
                               "wire, which is exact only for finite outputs",
                               hint="estimate it with sample(...)")
        p = self.probs(*((inputs,) if isinstance(inputs, torch.Tensor) else inputs), batch=batch)
        shape = p.shape[:p.dim() - len(self.cod)]
        ys = [align(y, shape, 0) for y in self._values(outputs, self.outputs, "outputs")]
        flat = ravel(ys, self.cod.shape, shape, p.device)
        return torch.gather(p.reshape(shape + (-1,)), -1, flat[..., None])[..., 0].log()

    def probs(self, *inputs, batch: tuple = (), budget: int | None = None) -> torch.Tensor:
        """P(outputs | inputs) as (batch..., cod sizes...); no inputs: the whole (dom + cod) tensor."""
        if not inputs and len(self.dom):
            return self._tabulate(budget)
        known = dict(zip(self.inputs, self._values(inputs, self.inputs, "inputs")))
        shape0 = self._batch(known, batch)
        factors: list[tuple[torch.Tensor, int, tuple[int, ...]]] = []  # (tensor, batch ndim, classes)
        for call in self.calls:
            factors += self._factor(call, known, shape0)
        factors += [self._one_hot(c, known[c]) for c in dict.fromkeys(self.outputs) if c in known]
        shape = left_broadcast([t.shape[:b] for t, b, _ in factors] + [shape0])
        return self._contract(factors, shape, budget or self.budget)

    def _factor(self, call: Call, known: dict, batch: tuple) -> list:
        if all(c in known for c in call.ins):
            ins = [known[c] for c in call.ins]
            if call.node.kind is Kind.DETERMINISTIC:
                known.update(zip(call.outs, self._run(call, ins, batch)))
                return []
            if call.node.cod is None:
                raise BackendError(f"kernel '{call.node.name}' : its codomain is not finite, and probs "
                                   "sums over finite wires only", hint="use sample(...)")
            p = self._log_probs(call, ins, batch).exp()
            return [(p.reshape(p.shape[:-1] + call.node.cod), p.dim() - 1, call.outs)]
        table = self._table(call)
        given = [i for i, c in enumerate(call.ins) if c in known]
        free = [i for i in range(table.dim()) if i not in given]
        values = [known[call.ins[i]] for i in given]
        shape = left_broadcast([v.shape for v in values])
        part = table.permute(given + free)[tuple(align(v, shape, 0) for v in values)] if given else table
        return [(part, len(shape) if given else 0, tuple(call.ins[i] for i in free if i < len(call.ins)) + call.outs)]

    def _one_hot(self, c: int, value: torch.Tensor) -> tuple:
        ob = self.obs[c]
        if not isinstance(ob, Finite):
            raise BackendError(f"probs tabulates finite outputs only; {ob} is not finite",
                               hint="use sample(...) or log_prob(...)")
        return F.one_hot(value, ob.size).to(self._dtype()), value.dim(), (c,)

    def _contract(self, factors: list, batch: tuple, budget: int) -> torch.Tensor:
        if not factors:  # nothing random and no finite output: the scalar 1 per batch element
            return torch.ones(batch, dtype=self._dtype(), device=self._device())
        return contract(factors, self.outputs, batch, budget, self._name())

    def _tabulate(self, budget: int | None) -> torch.Tensor:
        if not self.dom.is_finite:
            raise BackendError(f"probs() without inputs tabulates finite domains; {self.dom} is not finite",
                               hint="pass the inputs: probs(idx)")
        cells = prod(self.dom.shape) * prod(self.cod.shape) if self.cod.is_finite else 0
        if cells * (torch.finfo(self._dtype()).bits // 8) > (budget or self.budget):
            raise BudgetError(f"tabulating `{self._name()}` needs "
                              f"{cells:,} entries, over the budget of {format_bytes(budget or self.budget)}",
                              hint="pass inputs to probs(...) or estimate with sample(...)")
        grids = torch.meshgrid(*(torch.arange(n, device=self._device()) for n in self.dom.shape), indexing="ij")
        return self.probs(*grids, budget=budget)

    # the language-model readings (a chain Tok* -> ... -> Tok ending in a stochastic head)

    def _require_lm(self, what: str) -> "LanguageModel":
        if self.lm is None:
            raise BackendError(f"{what} needs a language-model-shaped diagram (Tok* -> ... -> Tok, a chain "
                               f"ending in a stochastic head); `{self.diagram.name}` : {self.dom} -> "
                               f"{self.cod} is not one", hint="use log_prob, sample or probs")
        return self.lm

    @property
    def head(self) -> nn.Module:
        """The head k_head of a language model (its last box), as ``GPT.head``."""
        if self.lm is None:
            raise AttributeError(f"{self._name()} is not a language model: it has no head")
        return self.kernels[self.lm.head]

    @property
    def bb(self) -> nn.Module:
        """The box that keeps the KV cache (the backbone k_bb), as ``GPT.bb``."""
        found = [m for m in self.kernels.values() if hasattr(m, "new_cache")] if self.lm else []
        if not found:
            raise AttributeError(f"{self._name()} has no backbone with a KV cache")
        return found[0]

    def hidden(self, idx: torch.Tensor, cache=None, start_pos: int = 0) -> torch.Tensor:
        """Every box but the head, at every prefix: idx (B, T) -> the head's input (B, T, ...)."""
        self._require_lm("hidden")
        x = idx
        if isinstance(cache, Positions):
            cache.length += idx.shape[-1]
        for call in self.calls[:-1]:
            x, = self._run(call, [x], (), cache=cache, start_pos=start_pos)
        return x

    def forward(self, idx: torch.Tensor, cache=None, start_pos: int = 0) -> torch.Tensor:
        """Logits of the next token after every prefix: idx (B, T) -> (B, T, V)."""
        lm = self._require_lm("forward")
        return self.kernels[lm.head](self.hidden(idx, cache, start_pos))

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean NLL in nats of targets (B, T) after each prefix of idx (B, T)."""
        if self.lm is None:
            return -self.log_prob((idx,), (targets,)).mean()
        head = self.kernels[self.lm.head]
        if hasattr(head, "loss"):
            return head.loss(self.hidden(idx), targets, chunk=self.chunk)
        return F.cross_entropy(self(idx).flatten(0, -2), targets.reshape(-1))

    def new_cache(self):
        """A fresh KV cache for incremental decoding (``Positions`` when nothing attends)."""
        self._require_lm("new_cache")
        makers = [m.new_cache for m in self.kernels.values() if hasattr(m, "new_cache")]
        if len(makers) > 1:
            raise BackendError("more than one module keeps a cache; decode without one (use_cache=False)")
        return makers[0]() if makers else Positions()


# --- language-model shape --------------------------------------------------------------------------------

@dataclass(frozen=True)
class LanguageModel:
    """The head's module key and the vocabulary size."""

    head: str
    vocab: int


def _language_model(diagram: TypedDiagram, calls, inputs, outputs) -> LanguageModel | None:
    dom, cod = diagram.dom, diagram.cod
    if len(dom) != 1 or len(cod) != 1 or not isinstance(dom[0], Seq) or not isinstance(cod[0], Finite):
        return None
    links = [inputs] + [c.outs for c in calls]
    if not calls or any(len(c.ins) != 1 or c.ins != prev for c, prev in zip(calls, links)):
        return None
    if calls[-1].outs != outputs or calls[-1].node.kind is not Kind.STOCHASTIC or calls[-1].node.dom is not None:
        return None
    return LanguageModel(calls[-1].node.name, cod[0].size)
