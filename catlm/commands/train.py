"""``catlm train SPEC --corpus PATH``: fit a kernel ``Tok* -> ... -> Tok`` of a spec to a text corpus.

The kernel (``-k``; by default the one named ``gen``, else the spec's only language model) is
compiled with the torch backend, the tokenizer (``char`` or ``bpe:N``) is built from the corpus,
and the vocabulary object of the spec must have exactly as many elements as the tokenizer has
tokens (``object Tok = fin 50257`` is a placeholder for GPT-2's vocabulary; train it with a
tokenizer of that size or declare the size of yours). ``--block`` defaults to the model's context.
Training is ``catlm.models.training.train`` (AdamW, warmup + cosine, clipping, held-out
evaluation, a loss curve, atomic safetensors checkpoints); each checkpoint also stores the spec
(``spec.cat`` and its imports), the kernel's name and the tokenizer, so ``catlm sample`` rebuilds
the model from it alone. Every option is checked before any work; a folder that already holds a
run is refused unless ``--resume`` (continue it: same corpus, tokenizer and hyperparameters;
``--steps N --decay-steps OLD`` extends a finished run) or ``--force`` (delete it first).
Under ``torchrun --nproc-per-node N -m catlm train ...`` the same command trains data-parallel.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

HELP = "train a kernel Tok* -> ... -> Tok of a .cat file as a language model on a corpus (torch)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="the .cat file")
    parser.add_argument("-k", "--kernel", metavar="NAME",
                        help="the kernel to train (default: gen, else the spec's only Tok* -> Tok kernel)")
    parser.add_argument("--corpus", required=True, metavar="PATH", help='a UTF-8 text file, or "shakespeare"')
    parser.add_argument("--tokenizer", default="char", metavar="char|bpe:N", help="char or byte-level BPE with N tokens")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps (the total, also on --resume)")
    parser.add_argument("--batch", type=int, default=12, help="sequences per step (global, over all processes)")
    parser.add_argument("--block", type=int, default=None, help="tokens per sequence (default: the model's context)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--min-lr", type=float, default=1e-4, help="learning rate at the end of the cosine")
    parser.add_argument("--warmup", type=int, default=20, help="linear warmup steps")
    parser.add_argument("--decay-steps", type=int, default=None, metavar="N",
                        help="step where the cosine reaches --min-lr (default: --steps); keep a finished "
                             "run's value to extend it with --resume --steps MORE")
    parser.add_argument("--eval-interval", type=int, default=50, help="steps between evaluations and checkpoints")
    parser.add_argument("--eval-iters", type=int, default=10, help="batches per evaluation")
    parser.add_argument("--out", metavar="DIR", help="run folder (default: runs/<spec name>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    parser.add_argument("--force", action="store_true", help="delete the run already in --out and start afresh")
    parser.add_argument("--seed", type=int, default=1337, help="seed of the initial weights and the batches")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="float32", help="float32, float64 or bfloat16")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help=f"torch CPU threads per process (default: {default_threads()} here; "
                             "1 on a machine of 2 cores or fewer)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def default_threads(cores: int | None = None, processes: int = 1) -> int:
    """CPU threads per process: the cores shared among the processes, at most 8 (small models
    gain nothing beyond), and 1 on two cores or fewer, where a second thread fights the data
    loader and the OS for a core (measured: 17x slower than one thread on a loaded 2-core machine)."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 1 if cores <= 2 else max(1, min(8, cores // processes))


def run(args: argparse.Namespace) -> int:
    import torch

    from catlm.backends.torch import compile_torch
    from catlm.data.corpus import read_text
    from catlm.data.tokenizers import tokenizer_from_name
    from catlm.elaborate import load
    from catlm.models.distributed import shutdown
    from catlm.models.train_checks import check_config
    from catlm.models.training import TrainConfig, train
    from catlm.runs import check_run_folder, clear_run_folder, language_model, spec_files

    out = Path(args.out or Path("runs") / Path(args.spec).stem)
    config = TrainConfig(steps=args.steps, batch=args.batch, block=1 if args.block is None else args.block, lr=args.lr,
                         min_lr=args.min_lr, warmup=args.warmup, decay_steps=args.decay_steps,
                         eval_interval=args.eval_interval, eval_iters=args.eval_iters, seed=args.seed,
                         device=args.device, dtype=args.dtype)
    check_config(config)
    check_threads(args.threads)
    check_run_folder(out, args.resume, args.force)
    torch.set_num_threads(args.threads or default_threads(processes=int(os.environ.get("WORLD_SIZE", "1"))))
    spec = load(args.spec)
    name, kernel = language_model(spec, args.kernel, args.spec)
    files = spec_files(args.spec)
    text = read_text(args.corpus)
    tokenizer = tokenizer_from_name(args.tokenizer, text)
    check_vocabulary(kernel, name, tokenizer.vocab_size, args)
    torch.manual_seed(args.seed)  # the initial weights: the same in every process and on resume
    model = compile_torch(kernel)
    config = replace(config, block=model.context if args.block is None else args.block)
    check_block(model, config.block)
    if args.force and int(os.environ.get("RANK", "0")) == 0:
        clear_run_folder(out)
    meta = {"file": str(args.spec), "kernel": name, "corpus": str(args.corpus), "tokenizer_name": args.tokenizer}
    summary = train(model, text, config, out_dir=out, progress=not args.json, resume=args.resume,
                    tokenizer=tokenizer, meta=meta, files=files)
    shutdown()
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(report(summary, name)) if args.json else describe(summary, name))
    return 0


def check_threads(threads: int | None) -> None:
    from catlm.errors import UsageError

    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be at least 1, not {threads}", hint=f"omit it for {default_threads()}")


def check_vocabulary(kernel, name: str, size: int, args: argparse.Namespace) -> None:
    """The spec's token objects must have as many elements as the tokenizer has tokens."""
    from catlm.errors import SpecError

    for ob in dict.fromkeys((kernel.dom[0].base, kernel.cod[0])):
        if ob.size != size:
            other = f", or train a tokenizer of that size (--tokenizer bpe:{ob.size})" if ob.size >= 256 else ""
            raise SpecError(f"kernel '{name}' uses {ob} = fin {ob.size}, but the {args.tokenizer} tokenizer "
                            f"of {args.corpus} has {size} tokens", kernel.span,
                            hint=f"declare `object {ob} = fin {size}` for this corpus{other}")


def check_block(model, block: int) -> None:
    from catlm.errors import UsageError

    if block > model.context:
        raise UsageError(f"--block {block} is longer than the model's context of {model.context} positions",
                        hint=f"use --block {model.context} or less, or raise context= in the spec")


def report(summary, name: str) -> dict:
    return {"kernel": name, "steps": summary.steps, "train_loss": summary.train_loss,
            "val_loss": summary.val_loss, "tokens_per_s": summary.tokens_per_s,
            "checkpoint": summary.checkpoint, "plot": summary.plot}


def describe(summary, name: str) -> str:
    return (f"trained {name} for {summary.steps} steps: train loss {summary.train_loss:.4f}, "
            f"validation loss {summary.val_loss:.4f} nats/token, {summary.tokens_per_s:,.0f} tokens/s\n"
            f"checkpoint: {summary.checkpoint}\nloss curve: {summary.plot}")
