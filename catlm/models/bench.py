"""Timing helpers: one training step of ``GPT`` against the hand-written ``NanoGPT``.

Both models get the same weights (``reference.from_gpt``) and the same batches; steps alternate
between the two so that a busy machine slows both alike, and the median step time is reported.

>>> from catlm.models.gpt import GPTConfig
>>> r = compare_step_time(GPTConfig(vocab=11, context=8, layers=1, heads=1, dim=8), batch=2, steps=1, warmup=0)
>>> sorted(r)
['gpt_s', 'nanogpt_s', 'ratio']
"""
from __future__ import annotations

import statistics
import time

import torch

from catlm.models.gpt import GPT, GPTConfig
from catlm.models.reference import from_gpt


def _timed_step(loss_of, optimizer, x, y) -> float:
    start = time.perf_counter()
    loss_of(x, y).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def compare_step_time(config: GPTConfig, batch: int = 12, steps: int = 20, warmup: int = 3,
                      seed: int = 0) -> dict[str, float]:
    """Median seconds per AdamW training step (forward, backward, update) of GPT and NanoGPT."""
    torch.manual_seed(seed)
    gpt = GPT(config)
    nano = from_gpt(gpt)
    runs = {"gpt_s": (gpt.loss, torch.optim.AdamW(gpt.parameters())),
            "nanogpt_s": (lambda x, y: nano(x, y)[1], torch.optim.AdamW(nano.parameters()))}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(warmup + steps):
        idx = torch.randint(0, config.vocab, (batch, config.context + 1))
        for name, (loss_of, opt) in runs.items():
            t = _timed_step(loss_of, opt, idx[:, :-1], idx[:, 1:])
            if i >= warmup:
                times[name].append(t)
    result = {name: statistics.median(ts) for name, ts in times.items()}
    return {**result, "ratio": result["gpt_s"] / result["nanogpt_s"]}
