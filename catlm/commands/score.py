"""``catlm score RUN (--text T | --corpus FILE)``: per-token log-probabilities, NLL, bits per byte.

RUN is a run folder of ``catlm train`` or ``catlm convert``. Every token after the first is scored
given all before it (in windows of the model's context past it: ``catlm.decoding.scoring``); the
summary is the mean NLL in nats/token, the perplexity and bits per UTF-8 byte of the scored text.
``--json`` adds the token ids and their log-probabilities.
"""
from __future__ import annotations

import argparse
import json

HELP = "score a text under a run's model: per-token log-probs, NLL (nats/token), bits/byte"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="RUN", help="a run folder (catlm train or catlm convert) or checkpoint")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", metavar="T", help="the text to score")
    what.add_argument("--corpus", metavar="FILE", help='a UTF-8 text file, or "shakespeare"')
    parser.add_argument("--max-tokens", type=int, default=None, metavar="N",
                        help="score only the first N tokens (a quick estimate on a long corpus)")
    parser.add_argument("--window", type=int, default=None, metavar="W",
                        help="tokens per forward pass (default: the model's context)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--json", action="store_true", help="print JSON with token ids and log-probabilities")


def run(args: argparse.Namespace) -> int:
    from catlm.data.corpus import read_text
    from catlm.decoding.scoring import score
    from catlm.errors import BackendError
    from catlm.models.distributed import resolve_device
    from catlm.runs.loading import load_run as load_model

    loaded = load_model(args.checkpoint)
    if loaded.tokenizer is None:
        raise BackendError(f"checkpoint {loaded.folder} stores no tokenizer, so text cannot be scored",
                           hint="score runs written by catlm train or catlm convert")
    text = args.text if args.text is not None else read_text(args.corpus)
    tokens = loaded.tokenizer.encode(text)[:args.max_tokens]
    scored = loaded.tokenizer.decode(tokens[1:])
    model = loaded.model.to(resolve_device(args.device))
    result = score(model, tokens, window=args.window, text_bytes=len(scored.encode("utf-8")))
    if args.json:
        print(json.dumps({"run": str(loaded.folder), **result.as_dict()}))
    else:
        print(render(result, loaded.tokenizer, per_token=args.text is not None))
    return 0


def render(result, tokenizer, per_token: bool) -> str:
    lines = []
    if per_token:
        lines += [f"{'token':>8}  {'log p (nats)':>12}  text"]
        lines += [f"{t:>8}  {lp:>12.4f}  {tokenizer.decode([t])!r}"
                  for t, lp in zip(result.tokens[1:], result.logprobs)]
        lines.append("")
    bpb = "n/a" if result.bits_per_byte is None else f"{result.bits_per_byte:.4f}"
    lines.append(f"{len(result.logprobs)} tokens scored (the first is context only): "
                 f"NLL {result.nll:.4f} nats/token, perplexity {result.perplexity:.2f}, {bpb} bits/byte")
    return "\n".join(lines)
