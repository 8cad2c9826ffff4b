"""Character and byte-level BPE tokenizers: round trips, JSON, errors."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from catlm.data.tokenizers import (BPETokenizer, CharTokenizer, tokenizer_from_json,
                                   tokenizer_from_name)
from catlm.errors import SpecError

from shared_data import FIGURES, shakespeare_text  # noqa: E402
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    pytest.importorskip("tokenizers", reason="BPE needs the tokenizers package (catlm[torch])")
    return tokenizer_from_name("bpe:300", TEXT)


def test_char_vocabulary_is_the_sorted_characters():
    tok = CharTokenizer.from_text("banana")
    assert (tok.chars, tok.vocab_size, tok.encode("nab")) == ("abn", 3, [2, 0, 1])


@given(st.text(alphabet="abc \n", max_size=50))
def test_char_round_trip(s):
    tok = CharTokenizer.from_text("abc \n")
    assert tok.decode(tok.encode(s)) == s


def test_char_json_round_trip_and_unknown_character():
    tok = CharTokenizer.from_text(TEXT)
    assert CharTokenizer.from_json(tok.to_json()) == tok
    assert json.loads(tok.to_json())["kind"] == "char"
    with pytest.raises(SpecError, match="'Z' is not in"):
        tok.encode("Zebra")
    with pytest.raises(SpecError, match="outside"):
        tok.decode([tok.vocab_size])


@settings(max_examples=60, deadline=None)
@given(s=st.text(max_size=40))
def test_bpe_round_trips_any_unicode(bpe, s):
    assert bpe.decode(bpe.encode(s)) == s


def test_bpe_learns_merges_and_compresses(bpe):
    assert bpe.vocab_size == 300
    ids = bpe.encode(TEXT)
    assert len(ids) < len(TEXT.encode()) / 2  # merges of a repetitive text halve the length
    assert max(ids) < 300 and min(ids) >= 0


def test_bpe_json_is_self_contained(bpe):
    text = bpe.to_json()
    model = json.loads(text)["tokenizer"]["model"]  # vocabulary and merges inline, no file paths
    assert len(model["vocab"]) == 300 and len(model["merges"]) == 300 - 256
    again = tokenizer_from_json(text)
    assert isinstance(again, BPETokenizer) and again == bpe
    assert again.encode("Speak, citizen!") == bpe.encode("Speak, citizen!")
    with pytest.raises(SpecError, match="not a CharTokenizer"):
        CharTokenizer.from_json(text)


@pytest.mark.parametrize("name, pattern", [("word", "unknown tokenizer"), ("bpe:x", "unknown"),
                                           ("bpe:100", "smaller than the 256")])
def test_bad_names(name, pattern):
    with pytest.raises(SpecError, match=pattern):
        tokenizer_from_name(name, TEXT)


def test_bad_json():
    with pytest.raises(SpecError, match="not a catlm tokenizer"):
        tokenizer_from_json('{"kind": "wordpiece"}')


def test_shakespeare_char_vocabulary_has_84_symbols():
    text = shakespeare_text()
    tok = tokenizer_from_name("char", text)
    assert tok.vocab_size == FIGURES["symbols"] and tok.decode(tok.encode(text[:2000])) == text[:2000]


def test_bpe_has_exactly_the_requested_size_even_on_a_small_corpus():
    text = "to be or not to be, that is the question " * 20
    tok = BPETokenizer.train(text, 1000)
    ids = tok.encode(text)
    assert tok.vocab_size == 1000
    assert max(ids) < 1000 and tok.decode(ids) == text
    learned = BPETokenizer.train(text, 300).vocab_size
    assert learned == 300 and all("reserved" not in tok.decode([i]) for i in ids)
