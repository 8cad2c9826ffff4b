"""Checkpoints: safetensors for every tensor, JSON for everything else, every file written atomically.

A run folder ``OUT`` holds ``checkpoints/step-NNNNNNNN/`` folders and the pointer
``checkpoint.json`` naming the newest complete one (the layout is in docs/torch.md). A checkpoint
folder holds ``model.safetensors`` (the module's tensors; tied weights stored once),
``optimizer.safetensors`` (the optimizer's per-parameter state; absent in a weights-only run),
``state.json`` (step, run id, configs, tokenizer, RNG states as lists of ints, optimizer
hyperparameters, loss history, free ``meta``) and any text files the writer adds (the spec).

Writing is crash-safe at every instant: the files are written and fsynced in ``.tmp-step-N-PID``,
the folder is renamed into place, and only then is the pointer replaced (itself written to a
temporary file, fsynced and renamed). A kill at any point leaves the pointer on a complete
checkpoint; the leftovers (``.tmp-*``, a step folder the pointer never reached) are removed by
``clean_stale`` when the run is resumed. Pruning keeps the pointer's checkpoint and the one before
it *of the same run* (``state.json``'s ``run``), so it never deletes another run's checkpoints.
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
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file, save_model

from catlm.errors import BackendError

FORMAT = "catlm-checkpoint"
VERSION = 1
POINTER = "checkpoint.json"
PLOT = "loss.png"
CHECKPOINTS = "checkpoints"
WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
STATE = "state.json"
TMP = ".tmp-"         # prefix of everything written before it is renamed into place
STEP = re.compile(r"step-(\d{8,})")
KEEP = 2              # checkpoints of the current run kept on disk: the newest and the one before it


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    model: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]  # empty when not loaded or when the run stores none
    state: dict


def step_folder(out_dir: str | os.PathLike, step: int) -> Path:
    return Path(out_dir) / CHECKPOINTS / f"step-{step:08d}"


# --- writing ---------------------------------------------------------------------------------------

def save_checkpoint(out_dir: str | os.PathLike, step: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None, state: dict,
                    files: dict[str, str] | None = None) -> Path:
    """Write ``model``, ``optimizer``, the JSON ``state`` and text ``files`` as the checkpoint of ``step``.

    The pointer moves to it last, then older checkpoints of the same run (``state["run"]``) beyond
    the newest ``KEEP`` are pruned.
    """
    out = Path(out_dir)
    final = step_folder(out, step)
    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{TMP}{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_model(model, str(tmp / WEIGHTS))
    tensors, groups = optimizer_state(optimizer)
    if optimizer is not None:
        save_file(tensors, str(tmp / OPTIMIZER))
    body = {"format": FORMAT, "version": VERSION, **state, "step": step, "optimizer": groups}
    (tmp / STATE).write_text(json.dumps(body), encoding="utf-8")
    for name, text in (files or {}).items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text, encoding="utf-8")
    _fsync_tree(tmp)
    if final.exists():  # left by an attempt killed before its pointer update: never the pointer's target
        os.replace(final, root / f"{TMP}old-{final.name}-{os.getpid()}")
    os.replace(tmp, final)
    _fsync(root)
    write_atomic(out / POINTER, json.dumps({"latest": f"{CHECKPOINTS}/{final.name}",
                                            "run": state.get("run")}).encode())
    clean_stale(out)
    _prune(root, step, state.get("run"))
    return final


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` so that a reader sees the old file or the new one, never a mix."""
    tmp = path.with_name(f"{TMP}{path.name}-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):  # files before the folders holding them
        _fsync(path)
    _fsync(folder)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(root: Path, step: int, run: str | None) -> None:
    """Keep the newest ``KEEP`` checkpoints of ``run`` up to ``step``; never touch another run's."""
    older = sorted(s for s, path in _steps(root) if s < step and _run_of(path) == run)
    for s in older[:max(0, len(older) - (KEEP - 1))]:
        shutil.rmtree(step_folder(root.parent, s), ignore_errors=True)


def clean_stale(out_dir: str | os.PathLike) -> None:
    """Remove what an interrupted write left: the pointer's and plot's temporaries, ``checkpoints/.tmp-*``,
    and step folders of the pointer's run newer than the pointer (renamed, never pointed at)."""
    out = Path(out_dir)
    ours = [p for name in (POINTER, PLOT) for p in out.glob(f"{TMP}{name}-*")]  # never a user's file
    for junk in [*ours, *(out / CHECKPOINTS).glob(f"{TMP}*")]:
        if junk.is_dir():
            shutil.rmtree(junk, ignore_errors=True)
        else:
            junk.unlink(missing_ok=True)
    latest = latest_checkpoint(out)
    if latest is None:
        return
    run, newest = _run_of(latest), int(STEP.fullmatch(latest.name).group(1))
    for s, path in _steps(out / CHECKPOINTS):
        if s > newest and _run_of(path) == run:
            shutil.rmtree(path, ignore_errors=True)


def _steps(root: Path) -> list[tuple[int, Path]]:
    found = ((STEP.fullmatch(p.name), p) for p in root.iterdir()) if root.is_dir() else ()
    return [(int(m.group(1)), p) for m, p in found if m]


def _run_of(folder: Path) -> str | None:
    try:
        return json.loads((folder / STATE).read_text(encoding="utf-8")).get("run")
    except (OSError, ValueError, AttributeError):
        return "<unreadable>"  # no run's: never pruned as ours


def holds_run(out_dir: str | os.PathLike) -> bool:
    """Whether ``out_dir`` already holds a run: a pointer or a step folder."""
    out = Path(out_dir)
    return (out / POINTER).exists() or bool(_steps(out / CHECKPOINTS))


# --- reading ---------------------------------------------------------------------------------------

def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The folder ``checkpoint.json`` points at, or None when ``out_dir`` has no pointer."""
    out = Path(out_dir)
    pointer = out / POINTER
    if not pointer.exists():
        return None
    try:
        latest = json.loads(pointer.read_text(encoding="utf-8"))["latest"]
        root, name = latest.split("/")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise BackendError(f"{pointer} is not a catlm checkpoint pointer "
                           '(expected JSON {"latest": "checkpoints/step-NNNNNNNN"})',
                           hint=f"name a checkpoint folder directly ({out / CHECKPOINTS}/step-...), "
                                "or delete the run folder and train again") from None
    path = out / CHECKPOINTS / name
    if root != CHECKPOINTS or not STEP.fullmatch(name) or not (path / STATE).is_file():
        raise BackendError(f"{pointer} points at {latest!r}, which is not a complete checkpoint "
                           f"of this folder", hint=f"name a checkpoint folder directly "
                                                   f"({out / CHECKPOINTS}/step-...)")
    return path


def load_checkpoint(path: str | os.PathLike, optimizer: bool = True) -> Checkpoint:
    """Read a checkpoint folder; ``optimizer=False`` skips the optimizer file (sampling needs none)."""
    path = Path(path)
    state = read_state(path)
    moments = {}
    if optimizer and (path / OPTIMIZER).is_file():
        moments = _tensors(path / OPTIMIZER)
    return Checkpoint(path, _tensors(path / WEIGHTS), moments, state)


def read_state(path: Path) -> dict:
    """``state.json`` of a checkpoint folder, checked to be a catlm checkpoint's."""
    file = path / STATE
    try:
        state = json.loads(file.read_text(encoding="utf-8"))
    except OSError as err:
        raise BackendError(f"cannot read {file}: {err.strerror or err}") from None
    except ValueError:
        raise BackendError(f"{file} is not valid JSON (a damaged checkpoint)",
                           hint="use an older checkpoints/step-* folder of the run") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise BackendError(f"{path} is not a catlm checkpoint (no format '{FORMAT}' in {STATE})")
    return state


def _tensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise BackendError(f"the checkpoint has no {file.name} ({file})",
                           hint="a checkpoint needs its weights; use another checkpoints/step-* folder")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise BackendError(f"{file} is not a readable safetensors file ({str(err)[:120]})",
                           hint="the file is damaged or truncated; use another checkpoints/step-* "
                                "folder of the run") from None


def restore(ckpt: Checkpoint, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
    """Load the checkpoint's tensors into ``model`` (strict, tied weights re-shared) and ``optimizer``."""
    current = model.state_dict(keep_vars=True)
    stored = set(ckpt.model)
    shapes = [f"{name} {tuple(t.shape)} where the model has {tuple(current[name].shape)}"
              for name, t in ckpt.model.items() if name in current and current[name].shape != t.shape]
    missing = [name for name in current if name not in stored  # tied weights are stored once
               and not any(current[name] is current[other] for other in stored if other in current)]
    unexpected = sorted(stored - set(current))
    problems = [f"{label} {items[:4]}" for label, items in
                (("wrong shapes:", shapes), ("missing", sorted(missing)), ("unexpected", unexpected)) if items]
    if problems:
        raise BackendError(f"checkpoint {ckpt.path} does not fit this model: {'; '.join(problems)}",
                           hint="build the model with the spec and config stored in the checkpoint")
    with torch.no_grad():
        for name, value in ckpt.model.items():
            current[name].copy_(value)
    if optimizer is not None:
        if "param_groups" not in (ckpt.state.get("optimizer") or {}):
            raise BackendError(f"checkpoint {ckpt.path} stores weights but no optimizer state",
                               hint="it can be sampled, but training cannot resume from it")
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
