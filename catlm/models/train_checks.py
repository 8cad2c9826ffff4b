"""What training refuses: hyperparameters that cannot train, and a resume that would change the run.

``check_config`` runs before any work (a batch of 0, a NaN rate, ``min_lr`` above ``lr``, an
unknown device); the resume checks compare a checkpoint with the run that would continue it: the
same trajectory (``TRAJECTORY``; ``steps`` may grow when ``decay_steps`` keeps the cosine), the same
tokenizer (the same alphabet size is not enough: ids would change meaning), the same world size.

>>> from catlm.models.training import TrainConfig
>>> check_config(TrainConfig(batch=0))
Traceback (most recent call last):
catlm.errors.UsageError: batch (--batch) must be an integer >= 1, not 0 (omit --batch to use its default)
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import torch

from catlm.errors import UsageError
from catlm.models.distributed import DistContext, resolve_device

# fields that shape the trajectory: a resumed run must agree with the checkpoint on all of them
TRAJECTORY = ("batch", "block", "lr", "min_lr", "warmup", "weight_decay", "beta1", "beta2",
              "grad_clip", "seed", "val_fraction", "dtype")
# dtype name -> (parameter dtype, autocast dtype or None)
PRECISION = {"float32": (torch.float32, None), "float64": (torch.float64, None),
             "bfloat16": (torch.float32, torch.bfloat16)}


def _positive(v) -> bool:
    return math.isfinite(v) and v > 0


def _at_least(low: int):
    return lambda v: v >= low


# field -> (holds for a usable value, what it must be); None passes where the field is optional
RULES = {
    "steps": (_at_least(0), "an integer >= 0"),
    "batch": (_at_least(1), "an integer >= 1"),
    "block": (_at_least(1), "an integer >= 1"),
    "lr": (_positive, "a positive finite number"),
    "min_lr": (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0"),
    "warmup": (_at_least(0), "an integer >= 0"),
    "decay_steps": (lambda v: v is None or v >= 1, "an integer >= 1"),
    "weight_decay": (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0"),
    "beta1": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "beta2": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "grad_clip": (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0 (0: no clipping)"),
    "eval_interval": (_at_least(1), "an integer >= 1"),
    "eval_iters": (_at_least(1), "an integer >= 1"),
    "checkpoint_interval": (lambda v: v is None or v >= 1, "an integer >= 1"),
    "val_fraction": (lambda v: 0 < v < 1, "strictly between 0 and 1"),
}


def check_config(config) -> None:
    """Refuse hyperparameters that cannot train (a batch of 0, a NaN rate) before any work."""
    for name, (holds, expected) in RULES.items():
        value, flag = getattr(config, name), f"--{name.replace('_', '-')}"
        if not holds(value):
            raise UsageError(f"{name} ({flag}) must be {expected}, not {value}", hint=f"omit {flag} to use its default")
    if config.min_lr > config.lr:
        raise UsageError(f"min_lr {config.min_lr} is above lr {config.lr}: the cosine would raise the rate",
                         hint="choose --min-lr at most --lr")
    if config.dtype not in PRECISION:
        raise UsageError(f"dtype '{config.dtype}' is not supported", hint=f"choose {', '.join(PRECISION)}")
    resolve_device(config.device)


def this_rank(states: list, ctx: DistContext, path: Path) -> list[int]:
    if states and isinstance(states[0], int):  # a checkpoint of one process, before states by rank
        states = [states]
    if len(states) != ctx.world_size:
        raise UsageError(f"{path} was written by {len(states)} process(es); this run has {ctx.world_size}",
                         hint=f"resume with --nproc-per-node {len(states)}")
    return states[ctx.rank]


def check_same_tokenizer(saved: str | None, tokenizer, path: Path) -> None:
    """Token ids keep their meaning only with the run's own tokenizer (the same alphabet size is not enough)."""
    if saved is None or tokenizer is None or saved == tokenizer.to_json():
        return
    raise UsageError(f"cannot resume {path}: this corpus gives a different tokenizer than the run's "
                     f"({_difference(json.loads(saved), json.loads(tokenizer.to_json()))})",
                     hint="resume with the run's corpus and --tokenizer, or start a new run (--force or another --out)")


def _difference(theirs: dict, ours: dict) -> str:
    """What differs between two tokenizers' JSON: the kind, the size, or the first id that changes meaning."""
    if theirs.get("kind") != ours.get("kind"):
        return f"{theirs.get('kind')} in the run, {ours.get('kind')} here"
    chars = (theirs.get("chars"), ours.get("chars"))
    if None in chars:
        return "the same kind, other vocabularies"
    if len(chars[0]) != len(chars[1]):
        return f"{len(chars[0])} tokens in the run, {len(chars[1])} here"
    i = next(i for i, (a, b) in enumerate(zip(*chars)) if a != b)
    return f"both have {len(chars[0])} tokens, but id {i} is {chars[0][i]!r} in the run, {chars[1][i]!r} here"


def check_same_trajectory(saved: dict, config, path: Path) -> None:
    """The hyperparameters that shape the steps already taken must not change on resume; ``steps``
    may grow when ``decay_steps`` keeps the cosine where it was (``decay_steps`` = the old steps)."""
    now = asdict(config)
    pairs = {f: (saved[f], now[f]) for f in TRAJECTORY}
    pairs["decay_steps"] = (saved["decay_steps"] or saved["steps"], config.decay_steps or config.steps)
    changed = {f: pair for f, pair in pairs.items() if pair[0] != pair[1]}
    if changed:
        said = ", ".join(f"{f} {new} here, {old} in the run" for f, (old, new) in changed.items())
        extend = (f"; to extend the finished run, add --decay-steps {pairs['decay_steps'][0]}"
                  if "decay_steps" in changed else "")
        raise UsageError(f"cannot resume from {path}: {said}",
                         hint=f"use the run's values{extend}")
