"""``catlm sample CKPT --prompt TEXT``: continue a prompt with a model trained by ``catlm train``.

The checkpoint (a run folder, whose ``checkpoint.json`` names the newest one, or a checkpoint
folder) holds the spec text, the kernel's name, the tokenizer and the weights, so the model is
rebuilt from it alone: parsed, compiled with the torch backend, loaded from safetensors. Tokens are
drawn by ancestral sampling with the KV cache (``catlm.decoding.sampling.generate``); ``--json``
gives the tokens and their log-probabilities under the sampling law.

``catlm sample FILE.cat -k NAME`` draws instead from a finite kernel of a spec, exactly: the
kernel is compiled to exact rationals and each draw picks an outcome with exactly its probability
(``catlm.backends.functor.Kernel.sample``); ``--given`` names the input elements of a kernel that
is not a state.
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
    spec = parser.add_argument_group("sampling a finite kernel of a .cat file")
    spec.add_argument("-k", "--kernel", metavar="NAME", help="the kernel to sample (CKPT is then a .cat file)")
    spec.add_argument("-n", "--num", type=positive, default=10, help="number of draws")
    spec.add_argument("--given", nargs="*", default=[], metavar="ELEMENT", help="the input, one element per domain factor")
    spec.add_argument("--subs", nargs="*", default=[], metavar="p=1/3", help="values of declared params")
    spec.add_argument("--params", metavar="P.npz", help="entries of the parameter kernels, by name")


def run(args: argparse.Namespace) -> int:
    if args.checkpoint.endswith(".cat"):
        return sample_spec(args)
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


def sample_spec(args: argparse.Namespace) -> int:
    """``catlm sample FILE.cat -k NAME``: exact draws from a finite kernel, printed by element name."""
    from catlm.backends.functor import finstoch
    from catlm.backends.params import load_npz
    from catlm.elaborate import load
    from catlm.elaborate.numbers import parse_subs
    from catlm.errors import UsageError

    spec = load(args.checkpoint)
    if args.kernel not in spec.kernels:
        raise UsageError(f"{args.checkpoint} has no kernel '{args.kernel}'" if args.kernel else
                         "sampling a .cat file needs the kernel's name", hint=f"pass -k with one of {', '.join(spec.kernels)}")
    kernel = spec.kernels[args.kernel]
    given = _input(kernel, args.given)
    functor = finstoch(load_npz(args.params) if args.params else None, exact=True, seed=args.seed,
                       subs=parse_subs(args.subs, spec.params))
    draws = functor(kernel).sample(args.num, given=given, seed=args.seed)
    names = [[ob.elements[i] for ob, i in zip(kernel.cod, draw)] for draw in draws]
    print(json.dumps({"kernel": args.kernel, "given": args.given, "samples": names}) if args.json
          else "\n".join(" ".join(row) for row in names))
    return 0


def _input(kernel, given: list[str]) -> tuple[int, ...]:
    """The indices of the named input elements, one per domain factor (-k and --given are the
    command line's: a mismatch is a usage error, the spec is not at fault)."""
    from catlm.errors import UsageError

    if not kernel.dom.is_finite or not kernel.cod.is_finite:
        raise UsageError(f"{kernel} is not a kernel between finite sets", hint="sample torch models from a checkpoint")
    if len(given) != len(kernel.dom):
        raise UsageError(f"{kernel} takes {len(kernel.dom)} input elements, --given has {len(given)}",
                         hint="name one element per domain factor, e.g. --given " +
                         " ".join(ob.elements[0] for ob in kernel.dom) if len(kernel.dom) else "drop --given")
    unknown = [(x, ob) for x, ob in zip(given, kernel.dom) if x not in ob.elements]
    if unknown:
        x, ob = unknown[0]
        raise UsageError(f"'{x}' is not an element of {ob}", hint=f"choose from {', '.join(ob.elements[:10])}")
    return tuple(ob.elements.index(x) for x, ob in zip(given, kernel.dom))
