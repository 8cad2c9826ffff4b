"""Tokenizers: the maps text -> Tok* -> text that give a language model its finite object ``Tok``.

``CharTokenizer`` takes the characters of a text as ``Tok`` (nanoGPT's shakespeare_char);
``BPETokenizer`` is byte-level BPE (GPT-2, Sennrich et al. 2016) trained locally with Hugging
Face ``tokenizers``, so every string round-trips. Both serialise to self-contained JSON, which
checkpoints store; ``tokenizer_from_name("char" | "bpe:N", text)`` builds one from its CLI name.

>>> tok = CharTokenizer.from_text("hello world")
>>> tok.vocab_size, tok.encode("hello"), tok.decode(tok.encode("old hero"))
(8, [3, 2, 4, 4, 5], 'old hero')
>>> tokenizer_from_json(tok.to_json()) == tok
True
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable

from catlm.errors import SpecError

BYTE_ALPHABET = 256  # byte-level BPE starts from the 256 byte symbols


@dataclass(frozen=True)
class CharTokenizer:
    """Token i is the i-th distinct character of the training text, in sorted order."""

    chars: str
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        if not text:
            raise SpecError("cannot build a char tokenizer from an empty text")
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self._index[c] for c in text]
        except KeyError as err:
            raise SpecError(f"character {err.args[0]!r} is not in this char tokenizer's vocabulary",
                            hint="build it from a text containing it, or use bpe:N") from None

    def decode(self, ids: Iterable[int]) -> str:
        ids = _ints(ids)
        if any(not 0 <= i < len(self.chars) for i in ids):
            raise SpecError(f"a token id is outside [0, {len(self.chars)})")
        return "".join(self.chars[i] for i in ids)

    def to_json(self) -> str:
        return json.dumps({"kind": "char", "chars": self.chars})

    @classmethod
    def from_json(cls, text: str) -> "CharTokenizer":
        return _expect(tokenizer_from_json(text), cls)


class BPETokenizer:
    """Byte-level BPE with ``vocab_size`` tokens (256 byte symbols plus learned merges).

    ``bpe:N`` always has exactly N ids, so that it fits a spec's ``object Tok = fin N``: when the
    corpus supports fewer merges (GPT-2's 50,257 on a 1 MB text), the remaining ids are reserved
    tokens ``<|reserved_k|>`` that encoding ordinary text never produces.
    """

    def __init__(self, tokenizer):
        self._tok = tokenizer  # a tokenizers.Tokenizer

    @classmethod
    def train(cls, text: str, vocab_size: int) -> "BPETokenizer":
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        if vocab_size < BYTE_ALPHABET:
            raise SpecError(f"bpe:{vocab_size} is smaller than the {BYTE_ALPHABET} byte symbols",
                            hint=f"use bpe:N with N >= {BYTE_ALPHABET}")
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(_chunks(text), trainer=trainer)
        missing = vocab_size - tok.get_vocab_size()
        tok.add_special_tokens([f"<|reserved_{k}|>" for k in range(max(missing, 0))])
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text).ids

    def decode(self, ids: Iterable[int]) -> str:
        ids = _ints(ids)
        if any(not 0 <= i < self.vocab_size for i in ids):
            raise SpecError(f"a token id is outside [0, {self.vocab_size})")
        return self._tok.decode(ids)

    def to_json(self) -> str:
        return json.dumps({"kind": "bpe", "tokenizer": json.loads(self._tok.to_str())})

    @classmethod
    def from_json(cls, text: str) -> "BPETokenizer":
        return _expect(tokenizer_from_json(text), cls)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BPETokenizer) and self.to_json() == other.to_json()


def _chunks(text: str, size: int = 1 << 16) -> Iterable[str]:
    return (text[i:i + size] for i in range(0, len(text), size))


def _ints(ids: Iterable[int]) -> list[int]:
    return ids.tolist() if hasattr(ids, "tolist") else [int(i) for i in ids]


def _char_from(data: dict) -> CharTokenizer:
    return CharTokenizer(data["chars"])


def _bpe_from(data: dict) -> BPETokenizer:
    from tokenizers import Tokenizer
    return BPETokenizer(Tokenizer.from_str(json.dumps(data["tokenizer"])))


FROM_JSON = {"char": _char_from, "bpe": _bpe_from}


def tokenizer_from_json(text: str) -> CharTokenizer | BPETokenizer:
    """The tokenizer serialised by ``to_json`` (no file paths: the whole vocabulary is inline)."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("kind") not in FROM_JSON:
        raise SpecError("not a catlm tokenizer JSON", hint=f"expected kind one of {', '.join(FROM_JSON)}")
    return FROM_JSON[data["kind"]](data)


def tokenizer_from_name(name: str, text: str) -> CharTokenizer | BPETokenizer:
    """``"char"`` or ``"bpe:N"`` (byte-level BPE with N tokens), trained on ``text``."""
    kind, _, size = name.partition(":")
    if kind == "char" and not size:
        return CharTokenizer.from_text(text)
    if kind == "bpe" and size.isdigit():
        return BPETokenizer.train(text, int(size))
    raise SpecError(f"unknown tokenizer '{name}'", hint="choose char or bpe:N, e.g. bpe:512")


def _expect(tok, cls: type):
    if not isinstance(tok, cls):
        raise SpecError(f"the JSON holds a {type(tok).__name__}, not a {cls.__name__}")
    return tok
