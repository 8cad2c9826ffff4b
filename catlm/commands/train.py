"""``catlm train SPEC --corpus PATH``: fit a kernel ``Tok* -> ... -> Tok`` of a spec to a text corpus.

The kernel (``-k``, by default the last one the spec defines) is compiled with the torch backend,
the tokenizer (``char`` or ``bpe:N``) is built from the corpus, and the vocabulary object of the
spec must have exactly as many elements as the tokenizer has tokens (``object Tok = fin 50257`` is
a placeholder for GPT-2's vocabulary; train it with a tokenizer of that size or declare the size of
yours). Training is ``catlm.models.training.train`` (AdamW, warmup + cosine, clipping, held-out
evaluation, a loss curve, atomic safetensors checkpoints); each checkpoint also stores the spec
text, the kernel's name and the tokenizer, so ``catlm sample`` rebuilds the model from it alone.
Under ``torchrun --nproc-per-node N -m catlm train ...`` the same command trains data-parallel.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

HELP = "train a kernel Tok* -> ... -> Tok of a .cat file as a language model on a corpus (torch)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="the .cat file")
    parser.add_argument("-k", "--kernel", metavar="NAME", help="the kernel to train (default: the last defined)")
    parser.add_argument("--corpus", required=True, metavar="PATH", help='a UTF-8 text file, or "shakespeare"')
    parser.add_argument("--tokenizer", default="char", metavar="char|bpe:N", help="char or byte-level BPE with N tokens")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps")
    parser.add_argument("--batch", type=int, default=12, help="sequences per step (global, over all processes)")
    parser.add_argument("--block", type=int, default=64, help="tokens per sequence")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--min-lr", type=float, default=1e-4, help="learning rate at the end of the cosine")
    parser.add_argument("--warmup", type=int, default=20, help="linear warmup steps")
    parser.add_argument("--eval-interval", type=int, default=50, help="steps between evaluations and checkpoints")
    parser.add_argument("--eval-iters", type=int, default=10, help="batches per evaluation")
    parser.add_argument("--out", metavar="DIR", help="run folder (default: runs/<spec name>)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--seed", type=int, default=1337, help="seed of the initial weights and the batches")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--dtype", default="float32", help="float32, float64 or bfloat16")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def run(args: argparse.Namespace) -> int:
    import torch

    from catlm.backends.torch import compile_torch
    from catlm.data.corpus import read_text
    from catlm.data.tokenizers import tokenizer_from_name
    from catlm.elaborate import load
    from catlm.models.distributed import shutdown
    from catlm.models.training import TrainConfig, train

    spec = load(args.spec)
    name = args.kernel or spec.last_kernel
    kernel = language_model_kernel(spec, name, args.spec)
    text = read_text(args.corpus)
    tokenizer = tokenizer_from_name(args.tokenizer, text)
    check_vocabulary(kernel, name, tokenizer.vocab_size, args)
    torch.manual_seed(args.seed)  # the initial weights: the same in every process and on resume
    model = compile_torch(kernel)
    check_block(model, args.block)
    config = TrainConfig(steps=args.steps, batch=args.batch, block=args.block, lr=args.lr, min_lr=args.min_lr,
                         warmup=args.warmup, eval_interval=args.eval_interval, eval_iters=args.eval_iters,
                         seed=args.seed, device=args.device, dtype=args.dtype)
    out = Path(args.out or Path("runs") / Path(args.spec).stem)
    meta = {"spec": spec.source, "file": str(args.spec), "kernel": name, "corpus": str(args.corpus),
            "tokenizer_name": args.tokenizer}
    summary = train(model, text, config, out_dir=out, progress=not args.json, resume=args.resume,
                    tokenizer=tokenizer, meta=meta)
    shutdown()
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(report(summary, name)) if args.json else describe(summary, name))
    return 0


def language_model_kernel(spec, name: str, file: str):
    """The kernel ``name``, which must read token sequences and give the next token."""
    from catlm.core.types import Finite, Seq
    from catlm.errors import SpecError

    if name not in spec.kernels:
        raise SpecError(f"{file} has no kernel '{name}'", hint=f"choose from {', '.join(spec.kernels)}")
    kernel = spec.kernels[name]
    if not _is_lm_type(kernel, Finite, Seq):
        fits = [k for k, d in spec.kernels.items() if _is_lm_type(d, Finite, Seq)]
        raise SpecError(f"kernel '{name}' : {kernel.dom} -> {kernel.cod} is not a language model "
                        "Tok* -> ... -> Tok", kernel.span,
                        hint=f"choose one with -k: {', '.join(fits)}" if fits else
                        "define one, e.g. `kernel gen = emb >> bb >> head`")
    return kernel


def _is_lm_type(kernel, finite: type, seq: type) -> bool:
    dom, cod = kernel.dom, kernel.cod
    return (len(dom) == 1 and len(cod) == 1 and isinstance(dom[0], seq)
            and isinstance(dom[0].base, finite) and isinstance(cod[0], finite))


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
    from catlm.errors import SpecError

    if block > model.context:
        raise SpecError(f"--block {block} is longer than the model's context of {model.context} positions",
                        hint=f"use --block {model.context} or less, or raise context= in the spec")


def report(summary, name: str) -> dict:
    return {"kernel": name, "steps": summary.steps, "train_loss": summary.train_loss,
            "val_loss": summary.val_loss, "tokens_per_s": summary.tokens_per_s,
            "checkpoint": summary.checkpoint, "plot": summary.plot}


def describe(summary, name: str) -> str:
    return (f"trained {name} for {summary.steps} steps: train loss {summary.train_loss:.4f}, "
            f"validation loss {summary.val_loss:.4f} nats/token, {summary.tokens_per_s:,.0f} tokens/s\n"
            f"checkpoint: {summary.checkpoint}\nloss curve: {summary.plot}")
