"""``catlm speculate CKPT --drafter D --gamma N``: speculative decoding of a trained GPT, measured.

Runs plain KV-cached sampling and speculative decoding from the same prompt and seed and reports
the acceptance rate (accepted / drafted), the measured acceptance of tested drafts against its
prediction Σ min(p, q) on the same contexts, mean accepted length and tokens per target call (both
count the bonus token, as vLLM does), per-position acceptance, tokens/s, the speedup over plain
sampling, and a χ² test of the randomised PIT values of the emitted tokens under the target's
sampling law (uniform iff the output follows it).

Drafters: ``lookup`` (prompt lookup in the prompt and the generated text), ``ngram`` (order-r
n-gram of ``--corpus``), ``head[:PATH]`` (a hidden-state head saved by ``save_head``; without PATH
the head in ``CKPT/drafter-head`` if it was trained for this checkpoint with these ``--head-steps``,
else one trained now on the target's own samples and saved there, so the next call reuses it),
``lm:PATH`` (a small GPT checkpoint with the same vocabulary). Past the model's context the window
slides as in ``catlm sample``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from catlm.commands import natural, positive, probability, temperature
from catlm.errors import BackendError, UsageError

HELP = "speculative decoding of a trained model with a drafter: acceptance, speedup, χ² test"

# the seed of the target samples a default head is trained on; --seed is the decoding's own
HEAD_SEED = 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CKPT", help="a catlm training folder or checkpoint")
    parser.add_argument("--drafter", required=True, metavar="D",
                        help="lookup | ngram | head[:PATH] | lm:PATH")
    parser.add_argument("--gamma", type=natural, required=True, metavar="N", help="drafts per target call")
    parser.add_argument("--max-new", type=positive, default=200, metavar="N", help="tokens to emit")
    parser.add_argument("--temperature", type=temperature, default=1.0, metavar="T", help="0 for greedy decoding")
    parser.add_argument("--top-k", type=positive, default=None, metavar="K", help="keep the K most likely tokens")
    parser.add_argument("--top-p", type=probability, default=None, metavar="P",
                        help="keep the smallest set of tokens with mass >= P")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampler")
    parser.add_argument("--prompt", default="\n", metavar="TEXT", help="text the output continues")
    parser.add_argument("--corpus", metavar="PATH", help="text of the ngram drafter "
                        "(default: the checkpoint's meta corpus)")
    parser.add_argument("--order", type=positive, default=4, help="order of the ngram drafter")
    parser.add_argument("--head-steps", type=positive, default=300,
                        help="training steps of a head trained now (drafter 'head' without PATH)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (drafters lookup, ngram, lm)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from catlm.commands.sample import prompt_tokens
    from catlm.decoding.drafters import Sampling
    from catlm.decoding.runtime import pit_test, plain_generate, speculative_generate
    from catlm.models.distributed import resolve_device
    from catlm.runs import load_run

    loaded = load_run(args.checkpoint)
    if loaded.tokenizer is None:
        raise BackendError(f"checkpoint {loaded.folder} stores no tokenizer",
                           hint="train with a tokenizer so that prompts can be encoded")
    prompt = prompt_tokens(loaded.tokenizer, args.prompt)  # checked before a drafter is built
    loaded.model.to(resolve_device(args.device))
    drafter = make_drafter(args.drafter, loaded, args)
    sampling = Sampling(args.temperature, args.top_k, args.top_p)
    for warm in (True, False):  # one short run of each first: the timings exclude first-call costs
        n = min(8, args.max_new) if warm else args.max_new
        plain = plain_generate(loaded.model, prompt, n, sampling, args.seed)
        spec = speculative_generate(loaded.model, drafter, args.gamma, prompt, n, sampling, args.seed)
    report = summary(args, spec, plain, pit_test(spec.pit) if len(spec.pit) else None)
    report["text"] = loaded.tokenizer.decode(spec.tokens)
    print(json.dumps(report) if args.json else render(report))
    return 0


def make_drafter(text: str, loaded, args):
    """The drafter named on the command line: ``kind`` or ``kind:PATH``."""
    kind, _, path = text.partition(":")
    if kind not in DRAFTERS:
        raise UsageError(f"unknown drafter {kind!r}", hint=f"choose from {', '.join(DRAFTERS)}")
    return DRAFTERS[kind](path, loaded, args)


def _lookup(path: str, loaded, args):
    from catlm.decoding.drafters import PromptLookup
    return PromptLookup(loaded.model.head.vocab)


def _ngram(path: str, loaded, args):
    from catlm.data.corpus import read_text
    from catlm.decoding.drafters import NgramDrafter
    corpus = args.corpus or path or loaded.meta.get("corpus")
    if not corpus:
        raise UsageError("the ngram drafter needs a corpus", hint="pass --corpus PATH (or 'shakespeare')")
    tokens = loaded.tokenizer.encode(read_text(corpus))
    return NgramDrafter.from_tokens(tokens, args.order, loaded.model.head.vocab)


def _head(path: str, loaded, args):
    from catlm.decoding.drafters import HiddenStateDrafter, load_head
    head = load_head(path) if path else _saved_or_trained_head(loaded, args)
    if not _fits(head, loaded.model):
        raise BackendError(f"the head reads dim {head.dim}, vocab {head.vocab}; the target has "
                           f"dim {loaded.model.head.dim}, vocab {loaded.model.head.vocab}",
                           hint="train the head on this checkpoint")
    return HiddenStateDrafter(head, loaded.model)


def _fits(head, model) -> bool:
    return (head.dim, head.vocab) == (model.head.dim, model.head.vocab)


def _saved_or_trained_head(loaded, args):
    """The head in ``CKPT/drafter-head`` if it was trained for this checkpoint and ``--head-steps``
    and reads; else one trained now and saved there (safetensors + JSON) for the next call."""
    from catlm.decoding.feature_head import head_meta, load_head, save_head
    folder = Path(args.checkpoint) / "drafter-head"
    wanted = {"checkpoint": loaded.folder.name, "steps": args.head_steps, "seed": HEAD_SEED}
    if (folder / "head.json").is_file():
        try:
            if head_meta(folder).get("trained_for") == wanted:
                head = load_head(folder)
                if _fits(head, loaded.model):
                    return head
        except BackendError as err:
            print(f"note: {err.message}; training the head again", file=sys.stderr)
    head = _train_head(loaded, args)
    try:
        save_head(head, folder, trained_for=wanted)
        print(f"saved the drafter head in {folder}", file=sys.stderr)
    except OSError as err:  # a read-only run folder: decode anyway, say the head is not kept
        print(f"note: the drafter head is not kept ({err}); it will be trained again", file=sys.stderr)
    return head


def _train_head(loaded, args):
    from catlm.decoding.drafters import HeadTraining, target_samples, train_feature_head
    print(f"training a drafter head on the target's samples ({args.head_steps} steps)", file=sys.stderr)
    sequences = target_samples(loaded.model, count=64, length=min(128, loaded.model.context),
                               seed=HEAD_SEED)
    return train_feature_head(loaded.model, sequences, HeadTraining(steps=args.head_steps))[0]


def _lm(path: str, loaded, args):
    from catlm.decoding.drafters import LMDrafter
    from catlm.runs import load_run
    if not path:
        raise UsageError("the lm drafter needs a checkpoint", hint="write --drafter lm:PATH")
    small = load_run(path)
    if small.model.head.vocab != loaded.model.head.vocab or \
            (small.tokenizer is not None and small.tokenizer != loaded.tokenizer):
        raise BackendError(f"the drafter {path} and the target do not share a vocabulary",
                           hint="train the drafter with the target's tokenizer")
    small.model.to(next(loaded.model.parameters()).device)  # the drafter runs beside the target
    return LMDrafter(small.model, loaded.model.head.vocab)


DRAFTERS = {"lookup": _lookup, "ngram": _ngram, "head": _head, "lm": _lm}


def summary(args, spec, plain, chi) -> dict:
    return {"drafter": args.drafter, "gamma": args.gamma,
            "sampling": {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p},
            "bonus_token_counted": True, "speculative": spec.stats.as_dict(),
            "plain": plain.stats.as_dict(),
            "speedup": spec.stats.tokens_per_s / plain.stats.tokens_per_s,
            "chi_square": None if chi is None else {"statistic": chi.statistic, "dof": chi.dof,
                                                    "pvalue": chi.pvalue, "n": chi.n,
                                                    "note": chi.note}}


def render(report: dict) -> str:
    s, p, chi = report["speculative"], report["plain"], report["chi_square"]
    rates = " ".join(f"{r:.3f}" for r in s["per_position_rate"])
    lines = [f"drafter {report['drafter']}, gamma {report['gamma']}, {s['emitted']} tokens",
             f"acceptance rate (accepted/drafted)  {s['acceptance_rate']:.3f}",
             f"tested drafts accepted             {s['tested_acceptance']:.3f}  "
             f"(predicted Σ min(p, q): {s['predicted_acceptance']:.3f})",
             f"mean accepted length (bonus incl.) {s['mean_accepted_length']:.3f}",
             f"tokens per target call (bonus incl.) {s['tokens_per_call']:.3f} over {s['blocks']} calls",
             f"per-position acceptance            {rates}",
             f"tokens/s                           {s['tokens_per_s']:.1f} (plain {p['tokens_per_s']:.1f})",
             f"speedup over plain KV-cached sampling {report['speedup']:.2f}x"]
    if chi is not None and chi["pvalue"] is None:
        lines.append(f"χ² of PIT values (target law)      not tested: {chi['note']}")
    elif chi is not None:
        lines.append(f"χ² of PIT values (target law)      stat {chi['statistic']:.2f}, dof {chi['dof']}, "
                     f"p = {chi['pvalue']:.3g}")
    return "\n".join(lines + ["", report["text"]])
