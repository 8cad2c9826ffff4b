"""Checkpoints: safetensors for every tensor, JSON for everything else, written atomically.

A checkpoint is a folder ``OUT/checkpoints/step-NNNNNNNN/`` holding ``model.safetensors`` (the
module's tensors; tied weights stored once), ``optimizer.safetensors`` (the optimizer's per-
parameter state) and ``state.json`` (step, model and train configs, tokenizer, RNG states as lists
of ints, optimizer hyperparameters, loss history, free metadata such as the spec text). The folder
is written under a temporary name and renamed into place, then ``OUT/checkpoint.json`` is
replaced to point at it, so a crash at any moment leaves the previous checkpoint readable.
Nothing is ever unpickled.

>>> import tempfile, torch
>>> model = torch.nn.Linear(2, 2)
>>> opt = torch.optim.AdamW(model.parameters())
>>> out = tempfile.mkdtemp()
>>> path = save_checkpoint(out, 3, model, opt, {"note": "demo"})
>>> ckpt = load_checkpoint(latest_checkpoint(out))
>>> ckpt.state["step"], ckpt.state["note"], sorted(ckpt.model)
(3, 'demo', ['bias', 'weight'])
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from catlm.errors import BackendError

FORMAT = "catlm-checkpoint"
VERSION = 1
POINTER = "checkpoint.json"
KEEP = 2  # checkpoints kept on disk: the newest and the one before it


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    model: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]
    state: dict


def save_checkpoint(out_dir: str | os.PathLike, step: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None, state: dict) -> Path:
    """Write ``model``, ``optimizer`` and the JSON ``state`` as the checkpoint of ``step``."""
    root = Path(out_dir) / "checkpoints"
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))
    tensors, groups = optimizer_state(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    body = {"format": FORMAT, "version": VERSION, **state, "step": step, "optimizer": groups}
    (tmp / "state.json").write_text(json.dumps(body))
    _fsync_dir(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _write_pointer(Path(out_dir), final)
    _prune(root)
    return final


def _write_pointer(out_dir: Path, final: Path) -> None:
    tmp = out_dir / f".{POINTER}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps({"latest": str(final.relative_to(out_dir))}))
    os.replace(tmp, out_dir / POINTER)


def _fsync_dir(path: Path) -> None:
    for f in path.iterdir():
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())


def _prune(root: Path) -> None:
    for old in sorted(root.glob("step-*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The folder ``checkpoint.json`` points at, or None when ``out_dir`` has no checkpoint."""
    pointer = Path(out_dir) / POINTER
    if not pointer.exists():
        return None
    path = Path(out_dir) / json.loads(pointer.read_text())["latest"]
    if not (path / "state.json").exists():
        raise BackendError(f"{pointer} points at {path}, which is not a complete checkpoint",
                           hint="remove checkpoint.json to start afresh")
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    path = Path(path)
    state = json.loads((path / "state.json").read_text())
    if state.get("format") != FORMAT:
        raise BackendError(f"{path} is not a catlm checkpoint (no format '{FORMAT}' in state.json)")
    return Checkpoint(path, load_file(str(path / "model.safetensors")),
                      load_file(str(path / "optimizer.safetensors")), state)


def restore(ckpt: Checkpoint, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
    """Load the checkpoint's tensors into ``model`` (strict, tied weights re-shared) and ``optimizer``."""
    missing, unexpected = load_model(model, str(ckpt.path / "model.safetensors"), strict=False)
    if missing or unexpected:
        raise BackendError(f"checkpoint {ckpt.path} does not fit this model: missing "
                           f"{sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}",
                           hint="build the model with the config stored in state.json")
    if optimizer is not None:
        optimizer.load_state_dict(optimizer_from(ckpt.optimizer, ckpt.state["optimizer"]))


def optimizer_state(optimizer: torch.optim.Optimizer | None) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors ``state.{param}.{key}`` and a JSON remainder."""
    if optimizer is None:
        return {}, {}
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from(tensors: dict[str, torch.Tensor], groups: dict) -> dict:
    """Reassemble the ``state_dict`` that ``optimizer_state`` split."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    for name, value in groups.get("scalars", {}).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": groups["param_groups"]}


def rng_to_json(state: torch.Tensor) -> list[int]:
    """A generator state (a uint8 tensor) as a JSON list of byte values."""
    return state.tolist()


def rng_from_json(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.uint8)
