"""A trained model back from its checkpoint: the one loader every command uses.

A checkpoint (``catlm.models.checkpoint``: safetensors + JSON, never pickle) records how to rebuild
its model. One written by ``catlm train`` keeps its spec as ``spec.cat`` (older ones: the text in
``meta["spec"]``) and the kernel's name in ``meta["kernel"]``; the model is that kernel compiled
again by the torch backend, and the spec may import only files inside the checkpoint. One written
for a bare ``GPT`` stores its ``GPTConfig`` as ``model_config``. Either way the weights are then
restored by name. Only the weights and ``state.json`` are read: a run written without optimizer
state (a converted model) loads, and a damaged optimizer file never stops sampling.

>>> import tempfile, torch
>>> from catlm.models.checkpoint import save_checkpoint
>>> from catlm.models.gpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab=5, context=8, layers=1, heads=1, dim=4))
>>> folder = tempfile.mkdtemp()
>>> _ = save_checkpoint(folder, 0, model, None, {"model_config": model.config.to_dict()})
>>> loaded = load_run(folder)
>>> type(loaded.model).__name__, torch.equal(loaded.model.head.weight, model.head.weight)
('GPT', True)
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from catlm.errors import BackendError, CatlmError
from catlm.runs.spec import SPEC

if TYPE_CHECKING:  # torch loads when a model is rebuilt, not when this module is imported
    from torch import nn


@dataclass(frozen=True)
class Loaded:
    """A model in eval mode with its tokenizer (None if none was saved) and checkpoint state."""

    model: nn.Module
    tokenizer: object | None
    folder: Path
    state: dict

    @property
    def meta(self) -> dict:
        return self.state.get("meta") or {}


def checkpoint_folder(where: str | Path) -> Path:
    """A ``step-*`` folder as given, or the latest checkpoint of a training output folder."""
    from catlm.models.checkpoint import latest_checkpoint
    where = Path(where)
    if (where / "state.json").is_file():
        return where
    found = latest_checkpoint(where) if where.is_dir() else None
    if found is None:
        raise BackendError(f"no catlm checkpoint at {str(where)!r}",
                           hint="pass the --out folder of catlm train or one of its checkpoints/step-* folders")
    return found


def load_run(where: str | Path) -> Loaded:
    """Rebuild the model of a checkpoint (spec + kernel, or a GPT config) and restore its weights."""
    from catlm.data.tokenizers import tokenizer_from_json
    from catlm.models.checkpoint import load_checkpoint, restore
    folder = checkpoint_folder(where)
    saved = load_checkpoint(folder, optimizer=False)
    state = _with_spec_text(folder, saved.state)
    rebuild = next((r for key, r in REBUILD.items() if key(state, folder)), None)
    if rebuild is None:
        raise BackendError(f"checkpoint {folder} records neither a spec and kernel nor a GPT config",
                           hint="load checkpoints written by catlm train (or train() with a GPT)")
    try:
        model = rebuild(state, folder)
        text = state.get("tokenizer")
        tokenizer = tokenizer_from_json(text) if text else None
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        if isinstance(err, CatlmError):
            raise
        raise BackendError(f"{folder / 'state.json'} is damaged: it does not say how to rebuild the model "
                           f"and tokenizer ({type(err).__name__}: {str(err)[:80]})",
                           hint="use another checkpoints/step-* folder of the run") from None
    if saved.model:
        model.to(next(iter(saved.model.values())).dtype)
    restore(saved, model, None)
    return Loaded(model.eval(), tokenizer, folder, state)


def untrained_twin(loaded: Loaded, seed: int = 0) -> nn.Module:
    """The loaded model's architecture at its random initialisation (seeded, without touching the
    global torch RNG), in the loaded model's dtype and device: the baseline that says how much of
    an analysis is the architecture and how much is training."""
    import torch
    rebuild = next(r for key, r in REBUILD.items() if key(loaded.state, loaded.folder))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = rebuild(loaded.state, loaded.folder)
    parameter = next(loaded.model.parameters())
    return fresh.to(parameter.device, parameter.dtype).eval()


def _with_spec_text(folder: Path, state: dict) -> dict:
    """The state with ``meta["spec"]``, the text of the stored ``spec.cat``, for readers of the state alone."""
    meta = state.get("meta")
    if not (isinstance(meta, dict) and (folder / SPEC).is_file()):
        return state
    return {**state, "meta": {**meta, "spec": (folder / SPEC).read_text(encoding="utf-8", errors="replace")}}


def _from_spec(state: dict, folder: Path | None = None) -> nn.Module:
    """The kernel of the spec the run trained, compiled again from the checkpoint's own files
    (without the folder, a spec that imports anything is refused)."""
    from catlm.backends.torch import compile_torch
    from catlm.runs.spec import language_model, read_stored_spec
    meta = state["meta"]
    spec = read_stored_spec(folder, meta["spec"])
    return compile_torch(language_model(spec, meta["kernel"], SPEC)[1])


def _from_gpt_config(state: dict, folder: Path | None = None) -> nn.Module:
    from catlm.models.gpt import GPT, GPTConfig
    return GPT(GPTConfig(**state["model_config"]))


def _has_spec(state: dict, folder: Path | None = None) -> bool:
    meta = state.get("meta") or {}
    return isinstance(meta, dict) and "kernel" in meta and "spec" in meta


def _has_gpt_config(state: dict, folder: Path | None = None) -> bool:
    from catlm.models.gpt import GPTConfig
    config = state.get("model_config") or {}
    return bool(config) and set(config) <= {f.name for f in fields(GPTConfig)}


load_model = load_run  # the name catlm.decoding.drafters re-exports


# how a checkpoint's state (and folder, for the spec's imports) says what its model is -> how to
# build that model, first match wins; catlm.analysis rebuilds an untrained twin from the state alone
REBUILD = {_has_spec: _from_spec, _has_gpt_config: _from_gpt_config}
