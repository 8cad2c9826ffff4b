"""Training a language model by maximum likelihood: minimise the NLL of ``k_gen`` on a corpus.

nanoGPT's ``train.py`` (https://github.com/karpathy/nanoGPT) as a function: AdamW (decay on
matrices only), linear warmup then cosine decay to ``min_lr``, gradient clipping, random
windows of ``block`` tokens drawn by a seeded ``torch.Generator``, held-out evaluation on the last
``val_fraction`` of the tokens, checkpoints (``catlm.models.checkpoint``) that resume to the same
parameters as an uninterrupted run, DDP under ``torchrun`` (``catlm.models.distributed``), a tqdm
bar, and a loss-curve PNG. The model needs only ``loss(idx, targets) -> mean nats/token``.

>>> import torch
>>> from catlm.models.gpt import GPT, GPTConfig
>>> torch.manual_seed(0) and None
>>> model = GPT(GPTConfig(vocab=5, context=8, layers=1, heads=1, dim=8))
>>> tokens = torch.tensor([0, 1, 2, 3, 4] * 40)
>>> summary = train(model, tokens, TrainConfig(steps=30, batch=8, block=8, lr=3e-2, warmup=5,
...                 eval_interval=30, eval_iters=1, device="cpu"), progress=False)
>>> summary.steps, summary.history[0]["val"] > 1.0 > 0.2 > summary.val_loss  # 0 1 2 3 4 is learned
(30, True)
"""
from __future__ import annotations

import io
import math
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from catlm.errors import BackendError, CatlmError, UsageError
from catlm.models import checkpoint as ckpt
from catlm.models.distributed import DistContext, all_ranks, barrier, init_from_env, shard, wrap
from catlm.models.train_checks import (PRECISION, check_config, check_same_tokenizer, check_same_trajectory,
                                       this_rank)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Hyperparameters of ``train``; nanoGPT's names where it has one (``block`` = block_size)."""

    steps: int = 200
    batch: int = 12               # global batch (sequences per step, over all processes)
    block: int = 64               # tokens per sequence
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 20
    decay_steps: int | None = None  # end of the cosine; None: the run's steps
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0        # 0 turns clipping off
    eval_interval: int = 50
    eval_iters: int = 10
    checkpoint_interval: int | None = None  # None: every eval_interval steps
    seed: int = 1337
    val_fraction: float = 0.1
    device: str = "auto"
    dtype: str = "float32"


@dataclass(frozen=True, slots=True)
class TrainSummary:
    steps: int
    train_loss: float             # nats/token, mean of eval_iters batches of the training split
    val_loss: float               # nats/token on the held-out split
    tokens_per_s: float           # this run's training throughput (all processes together)
    checkpoint: str | None
    plot: str | None
    history: tuple[dict, ...]     # {"step", "train", "val", "lr"} at step 0 and every evaluation


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warmup to ``lr`` over ``warmup`` steps, then cosine decay to ``min_lr`` at ``decay_steps``."""
    decay = config.decay_steps or config.steps
    if step < config.warmup:
        return config.lr * (step + 1) / (config.warmup + 1)
    if step >= decay:
        return config.min_lr
    ratio = (step - config.warmup) / max(1, decay - config.warmup)
    return config.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (config.lr - config.min_lr)


def split(tokens: torch.Tensor, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val): the held-out split is the last ``val_fraction`` of the tokens."""
    n_val = int(len(tokens) * config.val_fraction)
    train, val = tokens[:len(tokens) - n_val], tokens[len(tokens) - n_val:]
    for name, part in (("training", train), ("validation", val)):
        if len(part) <= config.block:
            raise UsageError(f"the {name} split has {len(part)} tokens, fewer than block + 1 = "
                             f"{config.block + 1}", hint="use more text, a smaller block or val_fraction")
    return train, val


def draw_batch(data: torch.Tensor, generator: torch.Generator, batch: int, block: int):
    """Random windows: x (batch, block) and the next tokens y (batch, block)."""
    starts = torch.randint(len(data) - block, (batch,), generator=generator)
    offsets = starts[:, None] + torch.arange(block)  # (batch, block)
    return data[offsets], data[offsets + 1]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices (dim >= 2) only, as in nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2))


class Objective(nn.Module):
    """``forward`` = the model's loss, so that DistributedDataParallel sees the whole step."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.model.loss(x, y)


@dataclass
class _Run:
    """The mutable state of one training run; everything a checkpoint must capture."""

    model: nn.Module
    objective: nn.Module
    optimizer: torch.optim.AdamW
    generator: torch.Generator
    ctx: DistContext
    run_id: str | None = field(default_factory=lambda: uuid.uuid4().hex)  # tells this run's checkpoints apart
    step: int = 0
    history: list = field(default_factory=list)


def train(model: nn.Module, tokens, config: TrainConfig, out_dir: str | Path | None = None,
          progress: bool = True, resume: bool = False, tokenizer=None, meta: dict | None = None,
          files: dict[str, str] | None = None) -> TrainSummary:
    """Train ``model`` on ``tokens`` (a 1-D int tensor, or text when ``tokenizer`` is given).

    ``model.loss(idx, targets)`` (B, T) x (B, T) -> mean nats/token is all that is asked of the model.
    With ``out_dir``, checkpoints go to ``out_dir/checkpoints`` and the loss curve to
    ``out_dir/loss.png``; a folder that already holds a run is refused unless ``resume=True``,
    which continues from its newest checkpoint (or starts afresh when there is none) after
    checking that the tokenizer is the run's. ``tokenizer``, ``meta`` (e.g. the kernel's name)
    and the text ``files`` (e.g. the spec, as ``spec.cat``) are stored in every checkpoint.
    ``progress`` shows a bar on a terminal and a plain line every 5% of the steps elsewhere.
    """
    check_config(config)
    run, data = _setup(model, tokens, config, tokenizer)
    if out_dir is not None:
        _open_folder(run, Path(out_dir), config, resume, tokenizer)
    if run.step == 0:
        _record(run, data, config)  # the loss of the initial parameters (about log V)
    bar = _progress_bar(config, run, progress)
    started, seen = time.perf_counter(), 0
    saved = None
    while run.step < config.steps:
        loss = _step(run, data, config)
        seen += config.batch * config.block
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{seen / (time.perf_counter() - started):.0f}")
        saved = _after_step(run, data, config, out_dir, tokenizer, meta, files) or saved
    bar.close()
    rate = seen / max(time.perf_counter() - started, 1e-9)
    return _summary(run, data, config, out_dir, rate, saved)


def _setup(model, tokens, config: TrainConfig, tokenizer):
    ctx = init_from_env(config.device)
    # dropout: one stream per rank (the same masks on every rank would correlate the replicas'
    # noise); rank 0's is the single-process one; every rank's is restored from checkpoints
    torch.manual_seed(config.seed + ctx.rank)
    model.to(device=ctx.device, dtype=PRECISION[config.dtype][0])
    data = split(_as_tokens(tokens, tokenizer), config)
    generator = torch.Generator().manual_seed(config.seed)
    run = _Run(model, wrap(Objective(model), ctx), make_optimizer(model, config), generator, ctx)
    return run, data


def _open_folder(run: _Run, out: Path, config: TrainConfig, resume: bool, tokenizer) -> None:
    """Refuse a folder in the way; on resume, clear what a killed write left and continue."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"the run folder {out} is a file", hint="choose another --out")
    if not resume and run.ctx.is_main and ckpt.holds_run(out):  # rank 0 alone writes (and clears) it
        raise UsageError(f"{out} already holds a training run", hint="continue it with --resume, "
                         "replace it with --force, or choose another --out")
    if resume:
        if run.ctx.is_main:
            ckpt.clean_stale(out)
        barrier(run.ctx)
        if ckpt.latest_checkpoint(out) is not None:
            _resume(run, out, config, tokenizer)


def _as_tokens(tokens, tokenizer) -> torch.Tensor:
    if isinstance(tokens, str):
        if tokenizer is None:
            raise UsageError("train() got text but no tokenizer", hint="pass tokenizer=CharTokenizer...")
        tokens = tokenizer.encode(tokens)
    tokens = torch.as_tensor(tokens, dtype=torch.long).cpu()  # batches are drawn on the CPU
    if tokens.dim() != 1:
        raise UsageError(f"tokens must be one long 1-D sequence, not of shape {tuple(tokens.shape)}")
    return tokens


def _step(run: _Run, data, config: TrainConfig) -> float:
    for group in run.optimizer.param_groups:
        group["lr"] = lr_at(run.step, config)
    x, y = draw_batch(data[0], run.generator, config.batch, config.block)
    x, y = (shard(t, run.ctx).to(run.ctx.device) for t in (x, y))
    with _autocast(run.ctx, config):
        loss = run.objective(x, y)
    loss.backward()
    if config.grad_clip > 0:
        nn.utils.clip_grad_norm_(run.model.parameters(), config.grad_clip)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    return float(loss.detach())


def _autocast(ctx: DistContext, config: TrainConfig):
    dtype = PRECISION[config.dtype][1]
    return torch.autocast(torch.device(ctx.device).type, dtype=dtype, enabled=dtype is not None)


@torch.no_grad()
def evaluate(model: nn.Module, data, config: TrainConfig, device: str = "cpu") -> dict[str, float]:
    """Mean loss on ``eval_iters`` batches of each split; the batches are the same at every call."""
    model.eval()
    losses = {}
    for name, part in zip(("train", "val"), data):
        generator = torch.Generator().manual_seed(config.seed + 1)
        batches = [draw_batch(part, generator, config.batch, config.block) for _ in range(config.eval_iters)]
        losses[name] = sum(float(model.loss(x.to(device), y.to(device))) for x, y in batches) / len(batches)
    model.train()
    return losses


def _after_step(run: _Run, data, config: TrainConfig, out_dir, tokenizer, meta, files) -> Path | None:
    last = run.step == config.steps
    if run.step % config.eval_interval == 0 or last:
        _record(run, data, config)
    every = config.checkpoint_interval or config.eval_interval
    if out_dir is None or not (run.step % every == 0 or last):
        return None
    rng = _rng_states(run)  # every rank's, gathered collectively before rank 0 writes
    path = _save(run, out_dir, config, tokenizer, meta, files, rng) if run.ctx.is_main else None
    barrier(run.ctx)
    return path


def _record(run: _Run, data, config: TrainConfig) -> None:
    with _autocast(run.ctx, config):
        losses = evaluate(run.model, data, config, run.ctx.device)
    run.history.append({"step": run.step, **losses, "lr": lr_at(max(run.step - 1, 0), config)})


def _save(run: _Run, out_dir, config: TrainConfig, tokenizer, meta, files, rng: dict) -> Path:
    config_of = getattr(run.model, "config", None)
    state = {"run": run.run_id, "train_config": asdict(config), "history": run.history, "meta": meta or {},
             "model_config": config_of.to_dict() if hasattr(config_of, "to_dict") else None,
             "tokenizer": tokenizer.to_json() if tokenizer is not None else None,
             "rng": rng, "scheduler": {"step": run.step, "lr": lr_at(run.step, config)}}
    return ckpt.save_checkpoint(out_dir, run.step, run.model, run.optimizer, state, files)


def _rng_states(run: _Run) -> dict:
    """The data generator (the same on every rank) and each rank's dropout generators, by rank."""
    cuda = torch.device(run.ctx.device).type == "cuda"
    states = {"data": ckpt.rng_to_json(run.generator.get_state()),
              "torch": [ckpt.rng_to_json(t) for t in all_ranks(torch.get_rng_state(), run.ctx)]}
    if cuda:
        states["cuda"] = [ckpt.rng_to_json(t) for t in
                          all_ranks(torch.cuda.get_rng_state(run.ctx.device), run.ctx)]
    return states


def _resume(run: _Run, out_dir, config: TrainConfig, tokenizer) -> None:
    """Continue from the newest checkpoint in ``out_dir``: the same trajectory, tokenizer and world."""
    path = ckpt.latest_checkpoint(out_dir)
    saved = ckpt.load_checkpoint(path)
    if "train_config" not in saved.state or not isinstance(saved.state.get("optimizer"), dict):
        raise BackendError(f"checkpoint {path} stores weights but no optimizer state (a run of weights alone)",
                           hint="it can be sampled, but training cannot resume from it: train a new run "
                                "with --force or another --out")
    try:
        check_same_trajectory(saved.state["train_config"], config, path)
        check_same_tokenizer(saved.state.get("tokenizer"), tokenizer, path)
        ckpt.restore(saved, run.model, run.optimizer)
        rng = saved.state["rng"]
        run.generator.set_state(ckpt.rng_from_json(rng["data"]))
        torch.set_rng_state(ckpt.rng_from_json(this_rank(rng["torch"], run.ctx, path)))
        if "cuda" in rng and torch.device(run.ctx.device).type == "cuda":
            torch.cuda.set_rng_state(ckpt.rng_from_json(this_rank(rng["cuda"], run.ctx, path)), run.ctx.device)
        run.run_id = saved.state.get("run")  # None for a run written before run ids: its checkpoints stay ours
        run.step, run.history = int(saved.state["step"]), list(saved.state["history"])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as err:
        if isinstance(err, CatlmError):
            raise
        raise BackendError(f"{path / ckpt.STATE} is damaged or not from catlm train "
                           f"({type(err).__name__}: {str(err)[:80]})",
                           hint="resume from an older checkpoints/step-* folder, or start afresh with --force"
                           ) from None


def _summary(run: _Run, data, config, out_dir, rate: float, saved: Path | None) -> TrainSummary:
    if run.history[-1]["step"] != run.step:  # a resumed run that had nothing left to do
        _record(run, data, config)
    plot = plot_losses(run.history, Path(out_dir) / ckpt.PLOT) if out_dir and run.ctx.is_main else None
    final = run.history[-1]
    return TrainSummary(run.step, final["train"], final["val"], rate, str(saved) if saved else
                        _latest(out_dir), str(plot) if plot else None, tuple(run.history))


def _latest(out_dir) -> str | None:
    path = ckpt.latest_checkpoint(out_dir) if out_dir else None
    return str(path) if path else None


def _progress_bar(config: TrainConfig, run: _Run, progress: bool):
    """A tqdm bar on a terminal; plain lines in a log (a bar's carriage returns make one endless line)."""
    from tqdm.auto import tqdm
    shown = progress and run.ctx.is_main
    if shown and not sys.stderr.isatty():
        return PlainProgress(config.steps, run.step)
    return tqdm(total=config.steps, initial=run.step, disable=not shown, unit="step", desc="train")


class PlainProgress:
    """``train: step 40/200 (20%) loss 2.315 tok_s 5120``, one line to stderr every 5% of the steps."""

    PARTS = 20

    def __init__(self, total: int, initial: int = 0, stream=None):
        self.total, self.step, self.stream = total, initial, stream or sys.stderr
        self.every = max(1, math.ceil(total / self.PARTS))
        self.postfix: dict = {}

    def update(self, n: int = 1) -> None:
        self.step += n

    def set_postfix(self, **values) -> None:
        self.postfix = values
        if self.step % self.every == 0 or self.step == self.total:
            shown = " ".join(f"{k} {v}" for k, v in values.items())
            print(f"train: step {self.step}/{self.total} ({100 * self.step // max(self.total, 1)}%) {shown}",
                  file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to clear: every line was printed whole."""


def plot_losses(history: list[dict], path: Path) -> Path:
    """The train and validation loss curves (nats/token against step) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for split_name in ("train", "val"):
        ax.plot([h["step"] for h in history], [h[split_name] for h in history], marker=".", label=split_name)
    ax.set(xlabel="step", ylabel="loss (nats/token)", title="training")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    ckpt.write_atomic(path, png.getvalue())  # a reader never sees half a picture
    return path
