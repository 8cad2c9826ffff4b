"""``generate``: text in, text out, from a run folder (trained or converted).

What a user of a pretrained model expects of one call: the prompt is encoded with the run's
tokenizer, tokens are drawn from the sampling law (temperature, top-k, top-p:
``catlm.decoding.sampling``) through the KV cache, and decoding stops at the run's end-of-text
token, at the first stop string (the text is cut before it), or after ``max_new_tokens``. With
``drafter=`` the same call decodes speculatively (``catlm.decoding.runtime``: the output law is the
target's whatever the drafter; at temperature 0 the tokens are greedy decoding's): ``"lookup"``
(prompt lookup), a run folder or ``"lm:PATH"`` (a small model with the same tokenizer), or any
drafter object of ``catlm.decoding.drafters`` (``catlm generate --drafter`` also builds ``ngram``
and ``head`` drafters by name, as ``catlm speculate`` does). ``stream``
(True for the terminal, or a function of each new piece of text) sees the text as it is committed,
holding back an incomplete UTF-8 character or a possible start of a stop string. Past the model's
context the window slides as ``catlm sample`` does, with a drafter too.

>>> import tempfile, torch
>>> from catlm.data.tokenizers import CharTokenizer
>>> from catlm.models.checkpoint import save_checkpoint
>>> from catlm.models.gpt import GPT, GPTConfig
>>> tok = CharTokenizer.from_text("ab")
>>> out = tempfile.mkdtemp()
>>> _ = save_checkpoint(out, 0, GPT(GPTConfig(vocab=2, context=8, layers=1, heads=1, dim=4)), None,
...                     {"model_config": {"vocab": 2, "context": 8, "layers": 1, "heads": 1, "dim": 4},
...                      "tokenizer": tok.to_json()})
>>> done = generate(out, "ab", max_new_tokens=12, temperature=0)
>>> len(done.tokens), done.stop_reason, done.text == generate(out, "ab", 12, temperature=0,
...                                                         drafter="lookup").text
(12, 'length', True)
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from catlm.errors import BackendError, SpecError

__all__ = ["Completion", "generate"]


@dataclass(frozen=True)
class Completion:
    """The generated text (cut before a stop string), its tokens, and why decoding stopped."""

    prompt: str
    text: str
    tokens: list[int]
    stop_reason: str            # "eos", "stop" or "length"
    stats: object | None = None  # a SpecStats when a drafter was used


@dataclass(frozen=True)
class _Decoding:
    """How tokens are drawn: the sampling law, its seed, the length bound, the optional drafter."""

    max_new: int
    temperature: float
    top_k: int | None
    top_p: float | None
    seed: int
    drafter: object = None
    gamma: int = 4


@dataclass
class _Stopper:
    """Decides after each commit whether to stop, and streams the text that can no longer change."""

    tokenizer: object
    stop: tuple[str, ...]
    eos: int | None
    emit: Callable[[str], None] | None
    shown: int = 0
    reason: str = "length"
    text: str = ""

    def __call__(self, tokens: list[int]) -> bool:
        body = tokens
        if self.eos is not None and self.eos in tokens:
            body, self.reason = tokens[:tokens.index(self.eos)], "eos"
        self.text = self.tokenizer.decode(body)
        cut = min((i for i in (self.text.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            self.text, self.reason = self.text[:cut], "stop"
        self._show(final=self.reason != "length")
        return self.reason != "length"

    def _show(self, final: bool) -> None:
        safe = len(self.text) if final else self._settled()
        if self.emit is not None and safe > self.shown:
            self.emit(self.text[self.shown:safe])
            self.shown = safe

    def _settled(self) -> int:
        """Characters that neither an unfinished UTF-8 character nor a stop string can change."""
        end = len(self.text.rstrip("\ufffd"))
        hold = max((len(s) - 1 for s in self.stop), default=0)
        return max(self.shown, end - hold)

    def finish(self) -> None:
        self._show(final=True)


def generate(run, prompt: str, max_new_tokens: int = 200, *, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, stop: Sequence[str] = (),
             eos: bool = True, drafter=None, gamma: int = 4, seed: int = 0,
             stream: bool | Callable[[str], None] = False, device: str | None = None) -> Completion:
    """Continue ``prompt`` with the model of ``run`` (a run folder, or a ``Loaded`` model).

    ``drafter``: None, ``"lookup"``, ``"lm:PATH"`` or a run folder (a small model with the same
    tokenizer), or a drafter object; ``gamma`` drafts per target call.
    """
    loaded = _load(run, device)
    if loaded.tokenizer is None:
        raise BackendError(f"run {loaded.folder} stores no tokenizer, so text cannot be generated",
                           hint="use a run written by catlm train or catlm convert")
    ids = loaded.tokenizer.encode(prompt)
    if not ids:
        raise SpecError("the prompt is empty after tokenization", hint='give at least one token, e.g. "\\n"')
    eos_id = loaded.meta.get("eos") if eos else None
    stopper = _Stopper(loaded.tokenizer, tuple(s for s in stop if s), eos_id, _emitter(stream))
    how = _Decoding(max_new_tokens, temperature, top_k, top_p, seed, drafter, gamma)
    tokens, stats = (_plain if drafter is None else _speculative)(loaded, ids, how, stopper)
    stopper(tokens)
    stopper.finish()
    return Completion(prompt, stopper.text, tokens, stopper.reason, stats)


def _load(run, device: str | None):
    from catlm.models.distributed import resolve_device
    from catlm.runs.loading import load_run
    loaded = load_run(run) if isinstance(run, (str, Path)) else run
    if device is not None:
        loaded.model.to(resolve_device(device))
    return loaded


def _emitter(stream) -> Callable[[str], None] | None:
    if stream is True:
        return lambda piece: (sys.stdout.write(piece), sys.stdout.flush())
    return stream or None


def _plain(loaded, ids: list[int], how: _Decoding, stopper: _Stopper):
    """One cached model call per token; the window slides past the context as in ``catlm sample``."""
    import torch

    from catlm.decoding.sampling import CachedSteps, sample_next
    model = loaded.model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(how.seed)
    seq, step, new = torch.tensor([ids], device=device), CachedSteps(model), []
    with torch.inference_mode():
        for _ in range(how.max_new):
            token, _ = sample_next(step(seq)[:, -1, :], how.temperature, how.top_k, how.top_p, generator)
            seq = torch.cat([seq, token[:, None]], dim=1)
            new.append(int(token))
            if stopper(new):
                break
    return new, None


def _speculative(loaded, ids: list[int], how: _Decoding, stopper: _Stopper):
    """Blocks of drafts verified by the model; ``stopper`` ends the run after a block."""
    from catlm.decoding.drafters import Sampling
    from catlm.decoding.runtime import speculative_generate
    sampling = Sampling(how.temperature, how.top_k, how.top_p)
    result = speculative_generate(loaded.model, _drafter(how.drafter, loaded), how.gamma, ids, how.max_new,
                                  sampling, how.seed, until=stopper)
    return result.tokens, result.stats


def _drafter(drafter, loaded):
    """A drafter object as it is; ``"lookup"``; a run folder or ``"lm:PATH"`` as a small-model drafter."""
    if not isinstance(drafter, (str, Path)):
        return drafter
    kind, _, path = str(drafter).partition(":")
    if Path(drafter).is_dir():
        kind, path = "lm", str(drafter)
    if kind not in DRAFTERS:
        raise SpecError(f"unknown drafter {str(drafter)!r}",
                        hint=f"choose {', '.join(DRAFTERS)} (lm:PATH or a run folder), or pass a drafter object")
    return DRAFTERS[kind](path, loaded)


def _lookup(path: str, loaded):
    from catlm.decoding.drafters import PromptLookup
    return PromptLookup(loaded.model.head.vocab)


def _small_model(path: str, loaded):
    from catlm.decoding.drafters import LMDrafter
    from catlm.runs.loading import load_run
    if not path:
        raise SpecError("the lm drafter needs a run folder", hint="write lm:PATH")
    small = load_run(path)
    if small.model.head.vocab != loaded.model.head.vocab or small.tokenizer != loaded.tokenizer:
        raise BackendError(f"the drafter {path} and the model do not share a tokenizer",
                           hint="draft with a model trained or converted with the same tokenizer")
    small.model.to(next(loaded.model.parameters()).device)
    return LMDrafter(small.model, loaded.model.head.vocab)


DRAFTERS = {"lookup": _lookup, "lm": _small_model}
