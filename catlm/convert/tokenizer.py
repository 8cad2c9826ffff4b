"""The tokenizer of a pretrained file: HF ``tokenizers`` byte-level BPE from its tokens and merges.

A GGUF file with ``tokenizer.ggml.model = "gpt2"`` stores the vocabulary in GPT-2's byte-to-unicode
spelling (token i is ``tokens[i]``), the merges best-first as ``"a b"`` strings, a type per token
(3 = control: ``<|endoftext|>``, ``<|im_start|>``..., kept whole as special tokens) and the name of
the text splitting its merges were learned with (``tokenizer.ggml.pre``). The splitting is a table
(``PRE_TOKENIZERS``), after llama.cpp's ``llama-vocab.cpp``: ``smollm`` cuts every digit apart
before GPT-2's regex, as SmolLM2's own ``tokenizer.json`` does. Nothing here is a hand-written BPE:
the merges are applied by ``tokenizers.models.BPE``.

>>> tok = byte_level_bpe(["a", "b", "ab", "Ġ", "Ġab"], ["a b", "Ġ ab"], "gpt2")
>>> tok.encode("ab ab").ids
[2, 4]
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from catlm.errors import SpecError

CONTROL, USER_DEFINED = 3, 4  # llama.cpp's token types that stay whole


def _gpt2():
    from tokenizers import pre_tokenizers
    return pre_tokenizers.ByteLevel(add_prefix_space=False)


def _digits_then_gpt2():
    from tokenizers import pre_tokenizers
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), _gpt2()])


# tokenizer.ggml.pre -> the pre-tokenizer its merges were learned with
PRE_TOKENIZERS: dict[str, Callable] = {"default": _gpt2, "gpt2": _gpt2, "smollm": _digits_then_gpt2}


def byte_level_bpe(tokens: Sequence[str], merges: Sequence[str], pre: str = "default",
                   types: Sequence[int] = ()):
    """A ``tokenizers.Tokenizer``: token i is ``tokens[i]``, merges applied best-first."""
    from tokenizers import AddedToken, Tokenizer, decoders, models
    if pre not in PRE_TOKENIZERS:
        raise SpecError(f"the file's tokenizer splits text as {pre!r}, which catlm does not know",
                        hint=f"supported pre-tokenizers: {', '.join(PRE_TOKENIZERS)}")
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise SpecError(f"the file's vocabulary lists {len(tokens) - len(vocab)} tokens twice",
                        hint="a byte-level BPE vocabulary has distinct tokens")
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False))
    tok.pre_tokenizer = PRE_TOKENIZERS[pre]()
    tok.decoder = decoders.ByteLevel()
    kept = {CONTROL: True, USER_DEFINED: False}  # type -> special
    whole = [AddedToken(t, special=kept[ty], normalized=False)
             for t, ty in zip(tokens, types) if ty in kept]
    tok.add_tokens(whole)
    return tok
