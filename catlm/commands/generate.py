"""``catlm generate RUN --prompt TEXT``: text in, text out, streamed to the terminal.

The command form of ``catlm.runs.generate.generate``: sampling options as ``catlm sample``,
plus stop strings (``--stop``, repeatable), the run's end-of-text token (``--no-eos`` ignores it)
and an optional drafter (``--drafter lookup|ngram|head[:PATH]|lm:PATH`` or a run folder) that
decodes speculatively in the same call. ``catlm sample`` stays the measurement tool (its
``--json`` gives every token's log-probability); ``generate`` is what a user of the model runs.
"""
from __future__ import annotations

import argparse
import json

HELP = "generate text from a run (trained or converted): stop strings, EOS, streaming, optional drafter"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="RUN", help="a run folder (catlm train or catlm convert)")
    parser.add_argument("--prompt", required=True, help="the text to continue")
    parser.add_argument("--max-new", type=int, default=200, metavar="N", help="at most N new tokens")
    parser.add_argument("--temperature", type=float, default=1.0, help="0 is greedy")
    parser.add_argument("--top-k", type=int, default=None, metavar="K")
    parser.add_argument("--top-p", type=float, default=None, metavar="P")
    parser.add_argument("--stop", action="append", default=[], metavar="S",
                        help="stop before this string (repeatable)")
    parser.add_argument("--no-eos", action="store_true", help="do not stop at the run's end-of-text token")
    parser.add_argument("--drafter", default=None, metavar="D",
                        help="decode speculatively: lookup, ngram, head[:PATH], lm:PATH or a run folder")
    parser.add_argument("--gamma", type=int, default=4, metavar="N", help="drafts per target call")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampler")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--json", action="store_true", help="print JSON (text, tokens, stop reason) at the end")


def run(args: argparse.Namespace) -> int:
    from catlm.models.distributed import resolve_device
    from catlm.runs.generate import generate
    from catlm.runs.loading import load_run

    loaded = load_run(args.checkpoint)
    loaded.model.to(resolve_device(args.device))  # before a drafter is built beside it
    drafter = _drafter(args, loaded)
    if not args.json:
        print(args.prompt, end="", flush=True)  # the continuation streams after it
    done = generate(loaded, args.prompt, args.max_new, temperature=args.temperature,
                    top_k=args.top_k, top_p=args.top_p, stop=args.stop, eos=not args.no_eos,
                    drafter=drafter, gamma=args.gamma, seed=args.seed, stream=not args.json,
                    device=args.device)
    if args.json:
        stats = done.stats.as_dict() if done.stats is not None else None
        print(json.dumps({"prompt": done.prompt, "text": done.text, "tokens": done.tokens,
                          "stop_reason": done.stop_reason, "speculative": stats}))
    else:
        print()
    return 0


def _drafter(args: argparse.Namespace, loaded):
    """``ngram`` and ``head`` are built as ``catlm speculate`` builds them; the rest by ``generate``."""
    from catlm.commands.speculate import make_drafter
    kind = (args.drafter or "").partition(":")[0]
    if kind not in ("ngram", "head"):
        return args.drafter
    options = argparse.Namespace(corpus=None, order=4, head_steps=300, seed=args.seed,
                                 checkpoint=args.checkpoint)
    return make_drafter(args.drafter, loaded, options)
