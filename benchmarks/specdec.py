"""Benchmark of speculative decoding on CPU: a character-level GPT on tinyshakespeare and four drafters.

Setup (cached under ``benchmarks/_artifacts/specdec[-quick]/``, rebuilt only when absent): a
character-level target GPT trained on ``/work/shared/data/tinyshakespeare.txt`` (or
``read_text("shakespeare")``), a small GPT drafter trained on the same text, and a hidden-state
head trained on the target's own samples. Then, for each drafter (prompt lookup, order-4 n-gram
of the training split, small LM, hidden-state head) and each mode (sampling at temperature 1,
greedy), on prompts from the held-out split: acceptance measured on tested drafts against the
prediction Σ min(p, q) on the same contexts, acceptance rate, tokens per target call (bonus
counted), tokens/s, wall-clock speedup over plain KV-cached sampling and the χ² p-value of the
emitted tokens' PIT values under the target's law. Also: the cost of a target forward over γ+1
tokens against one token, the exact information surplus of the corpus's n-gram sources, and the
categorical entropy (KL = Shannon, averaged) of drafter and verifier rows on the same contexts.

Usage: ``python benchmarks/specdec.py [--quick] [--gamma N] [--threads N]``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catlm.analysis.entropy import categorical_entropy  # noqa: E402
from catlm.data.corpus import read_text  # noqa: E402
from catlm.data.ngram import NgramSource  # noqa: E402
from catlm.data.tokenizers import CharTokenizer  # noqa: E402
from catlm.decoding.drafters import (HeadTraining, HiddenStateDrafter, LMDrafter,  # noqa: E402
                                     NgramDrafter, PromptLookup, Sampling, load_gpt, load_head,
                                     save_head, target_samples, train_feature_head)
from catlm.decoding.runtime import (forward_cost_ratio, pit_test, plain_generate,  # noqa: E402
                                    speculative_generate)
from catlm.models.gpt import GPT, GPTConfig  # noqa: E402
from catlm.models.training import TrainConfig, train  # noqa: E402

CORPUS = Path("/work/shared/data/tinyshakespeare.txt")
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"


@dataclass(frozen=True)
class Setup:
    name: str
    target: GPTConfig
    target_steps: int
    drafter: GPTConfig
    drafter_steps: int
    head_steps: int
    prompts: int
    prompt_len: int
    max_new: int
    surplus_orders: tuple


FULL = Setup("specdec", GPTConfig(vocab=65, context=256, layers=4, heads=4, dim=128),
             target_steps=1200, drafter=GPTConfig(vocab=65, context=256, layers=1, heads=2, dim=64),
             drafter_steps=800, head_steps=800, prompts=4, prompt_len=32, max_new=200,
             surplus_orders=(1, 2, 3))
QUICK = Setup("specdec-quick", GPTConfig(vocab=65, context=128, layers=2, heads=2, dim=32),
              target_steps=120, drafter=GPTConfig(vocab=65, context=128, layers=1, heads=1, dim=16),
              drafter_steps=60, head_steps=60, prompts=2, prompt_len=16, max_new=48,
              surplus_orders=(1, 2))


def corpus_text() -> tuple[str, str]:
    if CORPUS.is_file():
        return read_text(CORPUS), str(CORPUS)
    return read_text("shakespeare"), "shakespeare"


def trained_gpt(folder: Path, config: GPTConfig, steps: int, text: str, tok, corpus: str):
    """Load the GPT saved in ``folder``, or train and save it there (the setup step)."""
    if (folder / "checkpoint.json").is_file():
        return load_gpt(folder).model
    torch.manual_seed(0)
    model = GPT(config)
    started = time.perf_counter()
    summary = train(model, text, TrainConfig(steps=steps, batch=12, block=64, lr=2e-3, min_lr=2e-4,
                                             warmup=50, eval_interval=max(steps // 4, 1),
                                             eval_iters=5, device="cpu"),
                    folder, progress=False, tokenizer=tok, meta={"corpus": corpus})
    print(f"trained {folder.name}: {model.num_params()} parameters, {steps} steps in "
          f"{time.perf_counter() - started:.0f} s, val loss {summary.val_loss:.3f} nats/char")
    return model.eval()


def trained_head(folder: Path, target, steps: int, prompts: torch.Tensor):
    if (folder / "head.json").is_file():
        return load_head(folder)
    started = time.perf_counter()
    sequences = target_samples(target, len(prompts), target.context, prompts=prompts)
    head, losses = train_feature_head(target, sequences, HeadTraining(steps=steps))
    print(f"trained the hidden-state head: {steps} steps in {time.perf_counter() - started:.0f} s, "
          f"loss {np.mean(losses[:20]):.3f} -> {np.mean(losses[-20:]):.3f}")
    save_head(head, folder)
    return head


def build(setup: Setup):
    text, corpus = corpus_text()
    tok = CharTokenizer.from_text(text)
    root = ARTIFACTS / setup.name
    target = trained_gpt(root / "target", setup.target, setup.target_steps, text, tok, corpus)
    small = trained_gpt(root / "drafter-lm", setup.drafter, setup.drafter_steps, text, tok, corpus)
    tokens = np.array(tok.encode(text))
    split = int(0.9 * len(tokens))
    starts = np.random.default_rng(0).integers(0, split - 16, 64)
    head = trained_head(root / "target" / "drafter-head", target, setup.head_steps,
                        torch.tensor(np.stack([tokens[s:s + 16] for s in starts])))
    drafters = {"lookup": PromptLookup(tok.vocab_size),
                "ngram": NgramDrafter.from_tokens(tokens[:split], 4, tok.vocab_size),
                "lm": LMDrafter(small, tok.vocab_size), "head": HiddenStateDrafter(head, target)}
    held_out = np.random.default_rng(1).integers(split, len(tokens) - setup.prompt_len, setup.prompts)
    prompts = [tokens[s:s + setup.prompt_len].tolist() for s in held_out]
    return text, target, drafters, prompts


def measure(target, drafter, prompts, setup: Setup, sampling: Sampling, gamma: int) -> dict:
    """Plain and speculative runs interleaved prompt by prompt (the machine's load drifts)."""
    plain_s, spec, rows = 0.0, [], []
    for seed, prompt in enumerate(prompts):
        plain_s += plain_generate(target, prompt, setup.max_new, sampling, seed).stats.seconds
        run = speculative_generate(target, drafter, gamma, prompt, setup.max_new, sampling, seed,
                                   record_rows=True)
        spec.append(run)
        rows += run.rows
    return summarise(spec, plain_s, rows)


def summarise(runs, plain_s: float, rows) -> dict:
    total = lambda key: sum(getattr(r.stats, key) for r in runs)  # noqa: E731
    seconds, emitted = total("seconds"), total("emitted")
    out = {"accepted": total("accepted"), "drafted": total("drafted"), "tested": total("tested"),
           "blocks": total("blocks"), "emitted": emitted, "seconds": seconds,
           "draft_share": total("draft_seconds") / seconds, "tokens_per_s": emitted / seconds,
           "plain_tokens_per_s": emitted / plain_s, "speedup": plain_s / seconds,
           "chi2_p": pit_test(np.concatenate([r.pit for r in runs])).pvalue}
    out["measured"] = out["accepted"] / max(out["tested"], 1)
    out["predicted"] = total("predicted") / max(out["tested"], 1)
    out["rate"] = out["accepted"] / max(out["drafted"], 1)
    out["tokens_per_call"] = emitted / out["blocks"]
    out.update(entropies(rows))
    return out


def entropies(rows) -> dict:
    """H̄_KL (mean Shannon entropy, nats) of the verifier's and the drafter's rows, same contexts."""
    if not rows:
        return {"H_verify": float("nan"), "H_draft": float("nan")}
    p, q = np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])
    return {"H_verify": categorical_entropy(p, "kl"), "H_draft": categorical_entropy(q, "kl")}


def surplus_rows(text: str, orders) -> list[dict]:
    """Exact Surplus_2 = I(C_r; X_{t+2} | X_{t+1}) in bits of the order-r n-gram source of the text."""
    out = []
    for r in orders:
        src = NgramSource.from_text(text, order=r, cyclic=True)
        s = src.surplus(2, np.arange(len(src.codes)), base=2)
        out.append({"order": r, "contexts": len(src.codes), "surplus_bits": s.value,
                    "upper_bound_bits": s.upper_bound})
    return out


def table(results: dict, gamma: int) -> str:
    head = (f"| mode | drafter | acceptance measured / predicted | rate | tokens/call | "
            f"tokens/s (plain) | speedup | χ² p | H̄ draft / verify (nats) |\n" + "|---" * 9 + "|")
    lines = [head]
    for mode, by_drafter in results.items():
        for name, r in by_drafter.items():
            lines.append(f"| {mode} | {name} | {r['measured']:.3f} / {r['predicted']:.3f} | "
                         f"{r['rate']:.3f} | {r['tokens_per_call']:.2f} | {r['tokens_per_s']:.0f} "
                         f"({r['plain_tokens_per_s']:.0f}) | {r['speedup']:.2f}x | {r['chi2_p']:.3g} | "
                         f"{r['H_draft']:.3f} / {r['H_verify']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny model, under a minute")
    parser.add_argument("--gamma", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    setup = QUICK if args.quick else FULL
    text, target, drafters, prompts = build(setup)
    cost = forward_cost_ratio(target, args.gamma)
    print(f"target forward: 1 token {cost['one_token_s'] * 1e3:.2f} ms, {args.gamma + 1} tokens "
          f"{cost['block_s'] * 1e3:.2f} ms, ratio {cost['ratio']:.2f}")
    modes = {"sample T=1": Sampling(1.0), "greedy": Sampling(0.0)}
    results = {mode: {name: measure(target, d, prompts, setup, s, args.gamma)
                      for name, d in drafters.items()} for mode, s in modes.items()}
    print(table(results, args.gamma))
    surplus = surplus_rows(text, setup.surplus_orders)
    for row in surplus:
        print(f"order-{row['order']} n-gram source: Surplus_2 = {row['surplus_bits']:.3f} bits "
              f"({row['contexts']} contexts)")
    report = {"setup": asdict(setup), "gamma": args.gamma, "threads": args.threads,
              "cost": cost, "results": results, "surplus": surplus}
    path = ARTIFACTS / setup.name / "results.json"
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f"results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
