"""``catlm sample CKPT --prompt TEXT``: continue a prompt with a model trained by ``catlm train``.

The checkpoint (a run folder, whose ``checkpoint.json`` names the newest one, or a checkpoint
folder) holds the spec text, the kernel's name, the tokenizer and the weights, so the model is
rebuilt from it alone: parsed, compiled with the torch backend, loaded from safetensors. Tokens are
drawn by ancestral sampling with the KV cache (``catlm.decoding.sampling.generate``); ``--json``
gives the tokens and their log-probabilities under the sampling law.
"""
from __future__ import annotations

import argparse
import json

from catlm.commands import natural, positive, probability, temperature

HELP = "sample a continuation of a prompt from a checkpoint written by catlm train"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CKPT", help="a run folder (--out of catlm train) or a checkpoint folder")
    parser.add_argument("--prompt", default="\n", help="the text to continue")
    parser.add_argument("--max-new", type=natural, default=200, metavar="N", help="tokens to generate")
    parser.add_argument("--temperature", type=temperature, default=1.0, metavar="T", help="0 is greedy")
    parser.add_argument("--top-k", type=positive, default=None, metavar="K", help="keep the K most likely tokens")
    parser.add_argument("--top-p", type=probability, default=None, metavar="P",
                        help="keep the smallest set of tokens with mass >= P")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampler")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--no-cache", action="store_true", help="re-encode the whole window at every step")
    parser.add_argument("--json", action="store_true", help="print JSON with tokens and log-probabilities")


def run(args: argparse.Namespace) -> int:
    import torch

    from catlm.decoding.sampling import generate
    from catlm.errors import BackendError
    from catlm.models.distributed import resolve_device
    from catlm.runs import load_run

    loaded = load_run(args.checkpoint)
    model, tokenizer, path = loaded.model, loaded.tokenizer, loaded.folder
    if tokenizer is None:
        raise BackendError(f"checkpoint {path} stores no tokenizer, so a text prompt cannot be read",
                           hint="sample from checkpoints written by catlm train")
    device = resolve_device(args.device)
    model.to(device).eval()
    prompt = prompt_tokens(tokenizer, args.prompt)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    out = generate(model, torch.tensor([prompt], device=device), args.max_new, temperature=args.temperature,
                   top_k=args.top_k, top_p=args.top_p, generator=generator, use_cache=not args.no_cache)
    tokens = out.tokens[0].tolist()
    text = tokenizer.decode(tokens)
    if args.json:
        print(json.dumps({"checkpoint": str(path), "prompt": args.prompt, "text": text, "tokens": tokens,
                          "logprobs": out.logprobs[0].tolist()}))
    else:
        print(args.prompt + text)
    return 0


def prompt_tokens(tokenizer, prompt: str) -> list[int]:
    from catlm.errors import UsageError

    ids = tokenizer.encode(prompt)
    if not ids:
        raise UsageError("the prompt is empty after tokenization", hint='give at least one token, e.g. --prompt "\\n"')
    return ids
