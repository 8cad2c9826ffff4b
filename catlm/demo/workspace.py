"""The material the demo's sections share: the corpus, its tokens, n-gram sources, the trained LM.

Each piece is computed once, on first use, so a section reads what it needs and the sections stay
independent functions ``(Workspace) -> Section``. The corpus is read by ``catlm.data.corpus``
(a path or the word "shakespeare"); tokens are characters (``CharTokenizer``); the held-out split
is the last ``val_fraction`` of the tokens, as ``catlm.models.training`` holds it out; the
language model is the bundled ``.cat`` spec resized to the corpus (``catlm.demo.spec``),
compiled by the torch backend and trained by ``catlm.models.train``.

>>> import math, tempfile, pathlib
>>> from catlm.demo.plan import DemoConfig
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.txt"
>>> _ = path.write_text("abcabcabd" * 4, encoding="utf-8")
>>> ws = Workspace(DemoConfig(corpus=str(path), val_fraction=0.25), path.parent)
>>> ws.vocab, len(ws.tokens), len(ws.val_tokens)
(4, 36, 9)
>>> h = 12 / 35 * (math.log2(3) - 2 / 3)  # 12 of 35 contexts are 'b', then 'c' or 'd' 2:1
>>> round(ws.source(1).conditional_entropy(base=2), 12) == round(h, 12)
True
"""
from __future__ import annotations

import sys
from functools import cached_property
from pathlib import Path

import numpy as np

from catlm.demo.plan import DemoConfig
from catlm.demo.spec import bundled_text, resized


class Workspace:
    """One demo run's shared state; ``out`` is the report folder figures are written into."""

    def __init__(self, config: DemoConfig, out: str | Path):
        self.config, self.out = config, Path(out)
        self._sources: dict[tuple[int, bool], object] = {}

    @cached_property
    def text(self) -> str:
        from catlm.data.corpus import read_text
        text = read_text(self.config.corpus)
        return text if self.config.chars is None else text[:self.config.chars]

    @cached_property
    def tokenizer(self):
        from catlm.data.tokenizers import CharTokenizer
        return CharTokenizer.from_text(self.text)

    @property
    def vocab(self) -> int:
        return self.tokenizer.vocab_size

    @cached_property
    def tokens(self) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(self.text), dtype=np.int64)

    @property
    def split(self) -> int:
        """Index of the first held-out token (the training code holds out the same tail)."""
        return len(self.tokens) - int(len(self.tokens) * self.config.val_fraction)

    @cached_property
    def val_tokens(self) -> np.ndarray:
        return self.tokens[self.split:]

    @property
    def eval_tokens(self) -> np.ndarray:
        """The head of the held-out text that the estimators read."""
        return self.val_tokens[:self.config.eval_tokens]

    def source(self, order: int, cyclic: bool = False):
        """The exact order-r source (``NgramSource``) of the whole text."""
        from catlm.data.ngram import NgramSource
        key = (order, cyclic)
        if key not in self._sources:
            self._sources[key] = NgramSource.from_sequence(self.tokens, order, self.vocab,
                                                           cyclic=cyclic)
        return self._sources[key]

    @cached_property
    def teacher(self):
        """The order-r plug-in law of the estimators' held-out text: P_data of Thm 5.1 there."""
        from catlm.data.ngram import NgramSource
        return NgramSource.from_sequence(self.eval_tokens, self.config.teacher_order, self.vocab)

    @cached_property
    def spec_text(self) -> str:
        return resized(bundled_text(self.config.spec), self.vocab, self.config.shrink)

    @cached_property
    def trained(self):
        """(model, TrainSummary): the spec's ``gen`` compiled to torch and trained on the text."""
        import torch
        import catlm
        from catlm.models.training import TrainConfig, train
        c = self.config
        torch.manual_seed(c.seed)
        spec = catlm.parse(self.spec_text, file=c.spec)
        model = catlm.compile(spec.kernels[spec.last_kernel], backend="torch")
        config = TrainConfig(steps=c.steps, batch=c.batch, block=min(c.block, model.context),
                             lr=c.lr, min_lr=c.lr / 10, warmup=max(c.steps // 20, 1),
                             eval_interval=c.eval_interval, eval_iters=c.eval_iters,
                             seed=c.seed + 1337, val_fraction=c.val_fraction, device="cpu")
        summary = train(model, torch.from_numpy(self.tokens), config, progress=True)
        return model.eval(), summary

    @property
    def model(self):
        return self.trained[0]


def say(message: str) -> None:
    """A progress line on standard error (the report itself goes to files)."""
    print(message, file=sys.stderr, flush=True)
