"""The plan of ``catlm demo``: its settings (``DemoConfig``) and what each section hands back.

A section is one chapter of the demo's report, the paper's story told on real text (Zhang,
arXiv 2507.19247, §4–§7 for the quantities). Each returns a small frozen ``Section``:
a title, Markdown, the figures it drew (file names relative to the report folder) and the numbers
that go into ``report.json``. ``FULL`` is the default run (minutes on two cores); ``QUICK`` the
one-minute version the tests run.

>>> FULL.chars is None, QUICK.chars, QUICK.steps < FULL.steps
(True, 300000, True)
>>> Section("t", "text", (Figure("a.png", "a plot"),), {"x": 1}).figures[0].file
'a.png'
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from catlm.analysis.report import Figure


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    markdown: str
    figures: tuple[Figure, ...] = ()
    data: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """Every setting of one demo run; ``None`` for ``chars`` reads the whole corpus."""

    corpus: str = "shakespeare"
    chars: int | None = None          # the first ``chars`` characters of the corpus
    orders: tuple[int, ...] = (0, 1, 2, 3)
    teacher_order: int = 2            # the order-r teacher of Thm 5.1 and of M_K
    surplus_order: int = 3            # contexts of the surplus source: the last r characters
    surplus_steps: tuple[int, ...] = (1, 2, 3)
    spec: str = "char.cat"            # a bundled example; Tok is resized to the corpus
    shrink: tuple[tuple[str, int], ...] = ()   # e.g. (("dim", 64), ("layers", 2)) for quick runs
    steps: int = 1200
    batch: int = 16
    block: int = 64
    lr: float = 2e-3
    eval_interval: int = 100
    eval_iters: int = 8
    val_fraction: float = 0.1
    eval_tokens: int = 40_000         # validation tokens read by the estimators
    metric_contexts: int = 256
    alignment_k: int = 8
    alignment_contexts: int = 512
    gamma: int = 4
    max_new: int = 48                 # tokens per generation, inside the model's context of 64
    prompt_tokens: int = 12
    repeats: int = 6                  # generations per drafter (pooled: speed, acceptance, χ²)
    head_steps: int = 300             # training steps of the hidden-state drafter
    head_samples: int = 64            # sequences the model samples to train that drafter on
    ngram_order: int = 4              # order of the n-gram drafter
    seed: int = 0

    def with_corpus(self, corpus: str | None) -> "DemoConfig":
        return self if corpus is None else replace(self, corpus=corpus)


FULL = DemoConfig()
QUICK = DemoConfig(chars=300_000, surplus_order=2,
                   shrink=(("dim", 48), ("layers", 2), ("heads", 2)), steps=80, batch=12,
                   eval_interval=40, eval_iters=2, eval_tokens=6_000, metric_contexts=96,
                   alignment_k=6, alignment_contexts=160, max_new=40, repeats=2, head_steps=40,
                   head_samples=16)
