"""The demo's last section: speculative decoding of the trained model with three drafters.

Each drafter proposes γ characters; the target verifies them in one KV-cached call by
Leviathan's rule (``catlm.decoding.runtime``), so the output follows the target's law whatever the
drafter. Measured: acceptance rate (accepted / drafted), tokens per target call (bonus token
counted), wall-clock speedup over plain KV-cached sampling from the same prompts and seeds, and a
χ² test of the emitted tokens' randomised PIT values (uniform iff the output has the target's
law). The hidden-state drafter reads h_t, which carries the information surplus (§4.1 of Zhang,
arXiv 2507.19247; SPECDEC.md for the rule and the statistics).

>>> sorted(DRAFTERS)
['head', 'lookup', 'ngram']
"""
from __future__ import annotations

import numpy as np

from catlm.analysis.report import Table, bar_plot, markdown_table
from catlm.demo.plan import Section
from catlm.demo.workspace import Workspace, say

WARMUP = 2   # untimed full-length generations before each timed series
COUNTS = ("emitted", "blocks", "drafted", "accepted", "tested", "predicted", "seconds")


def _lookup(ws: Workspace, model):
    from catlm.decoding.drafters import PromptLookup
    return PromptLookup(ws.vocab)


def _ngram(ws: Workspace, model):
    from catlm.decoding.drafters import NgramDrafter
    return NgramDrafter.from_tokens(ws.tokens[:ws.split], ws.config.ngram_order, ws.vocab)


def _head(ws: Workspace, model):
    from catlm.decoding.drafters import HeadTraining, HiddenStateDrafter, target_samples, train_feature_head
    say(f"  training the hidden-state drafter ({ws.config.head_steps} steps on the model's samples)")
    sequences = target_samples(model, count=ws.config.head_samples, length=model.context, seed=ws.config.seed)
    head, _ = train_feature_head(model, sequences, HeadTraining(steps=ws.config.head_steps, seed=ws.config.seed))
    return HiddenStateDrafter(head, model)


# drafter name -> (what it reads, how it is built)
DRAFTERS = {"lookup": ("prompt lookup: copies what followed the last match in the text", _lookup),
            "ngram": ("order-n character counts of the training text", _ngram),
            "head": ("an EAGLE-like head on the target's hidden state h_t", _head)}


def speculative(ws: Workspace) -> Section:
    from catlm.decoding.runtime import pit_test
    model, c = ws.model, ws.config
    prompts = [ws.val_tokens[i * 97:i * 97 + c.prompt_tokens].tolist() for i in range(c.repeats)]
    plain = _plain(model, prompts, c)
    rows, data = [], {"gamma": c.gamma, "max_new": c.max_new, "runs": c.repeats,
                      "plain_tokens_per_s": plain["emitted"] / plain["seconds"], "drafters": {}}
    for name, (reads, build) in DRAFTERS.items():
        spec, pits = _speculative(model, build(ws, model), prompts, c)
        chi = pit_test(pits)
        found = _summary(spec, plain, chi)
        data["drafters"][name] = {"reads": reads, **found}
        rows.append((name, found["acceptance_rate"], found["tokens_per_call"], found["speedup"],
                     chi.pvalue if chi.dof else "too few tokens", len(pits)))
    figure = bar_plot(ws.out, "speculative.png", {r[0]: r[3] for r in rows}, title="Speculative decoding",
                      ylabel="speedup over plain sampling", reference=("plain sampling", 1.0),
                      caption=f"Wall-clock speedup of each drafter at γ = {c.gamma} (CPU, this run)")
    return Section("Speculative decoding", _text(ws, rows), (figure,), data)


def _plain(model, prompts, c) -> dict:
    from catlm.decoding.drafters import Sampling
    from catlm.decoding.runtime import plain_generate
    for _ in range(WARMUP):   # first-call costs (allocation, kernels) stay out of the timing
        plain_generate(model, prompts[0], c.max_new, Sampling(), c.seed)
    runs = [plain_generate(model, p, c.max_new, Sampling(), c.seed + i).stats for i, p in enumerate(prompts)]
    return {"emitted": sum(s.emitted for s in runs), "seconds": sum(s.seconds for s in runs)}


def _speculative(model, drafter, prompts, c) -> tuple[dict, np.ndarray]:
    from catlm.decoding.drafters import Sampling
    from catlm.decoding.runtime import speculative_generate
    for _ in range(WARMUP):
        speculative_generate(model, drafter, c.gamma, prompts[0], c.max_new, Sampling(), c.seed)
    runs = [speculative_generate(model, drafter, c.gamma, p, c.max_new, Sampling(), c.seed + i)
            for i, p in enumerate(prompts)]
    totals = {k: sum(getattr(r.stats, k) for r in runs) for k in COUNTS}
    return totals, np.concatenate([r.pit for r in runs])


def _summary(spec: dict, plain: dict, chi) -> dict:
    rate = lambda a, b: a / b if b else 0.0  # noqa: E731
    return {**spec, "acceptance_rate": rate(spec["accepted"], spec["drafted"]),
            "tested_acceptance": rate(spec["accepted"], spec["tested"]),
            "predicted_acceptance": rate(spec["predicted"], spec["tested"]),
            "tokens_per_call": rate(spec["emitted"], spec["blocks"]),
            "tokens_per_s": rate(spec["emitted"], spec["seconds"]),
            "speedup": rate(spec["emitted"], spec["seconds"]) / rate(plain["emitted"], plain["seconds"]),
            "chi_square": {"statistic": chi.statistic, "dof": chi.dof, "pvalue": chi.pvalue, "n": chi.n}}


def _text(ws: Workspace, rows) -> str:
    c = ws.config
    return "\n".join([
        f"The trained model generated {c.max_new} characters after {c.repeats} held-out prompt(s), "
        f"once by plain KV-cached sampling and once with each drafter proposing γ = {c.gamma} "
        "characters per target call. Verification is exact, so the output law is the model's: "
        "the χ² test of the PIT values should not reject. Acceptance is accepted / drafted; "
        "tokens per call count the bonus token. Speedups are wall-clock on this machine after two "
        "untimed warm-up generations, so they vary from run to run when other processes share the CPU; "
        "where a tiny model's forward pass costs about as much for one token as for γ + 1, "
        "so they track tokens per call minus the drafter's own cost.", "",
        *markdown_table(Table("Drafters at temperature 1",
                              ("drafter", "acceptance", "tokens/call", "speedup", "χ² p-value", "PIT values"), tuple(rows))),
        *[f"- `{name}`: {reads}" for name, (reads, _) in DRAFTERS.items()]])
