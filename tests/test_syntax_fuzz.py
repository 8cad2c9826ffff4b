"""Fuzzing the front end: whatever the input, only CatlmError subclasses come out, and fast."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catlm.errors import CatlmError, ParseError
from catlm.syntax import format, parse, parse_file
from catlm.syntax.parser import MAX_BYTES

GOOD = sorted((Path(__file__).parent / "fixtures" / "good").glob("*.cat"))
GOOD_TEXTS = [path.read_text(encoding="utf-8") for path in GOOD]
TOKENS = ["object", "param", "kernel", "law", "check", "import", "deterministic", "markov", "fin", "real",
          "id", "copy", "del", "swap", "I", "A", "f", "p", "2", "0.5", "9/10", "=", ":", "->", "→", ">>",
          "∘", ".", "@", "⊗", "^", "*", "==", "!=", "a.s.", "(", ")", "[", "]", "{", "}", ",", "-", "+",
          "/", '"x.cat"', "#", "\n", "sqrt", "embedding", "dim=2"]
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parses_or_refuses(text: str) -> None:
    """The contract under fuzzing: a Spec that survives format -> parse, or a CatlmError."""
    try:
        spec = parse(text)
    except CatlmError as err:
        assert err.span is not None and err.span.line >= 1 and err.span.column >= 1
        return
    assert parse(format(spec)) == spec


@FUZZ
@given(st.text(max_size=200))
def test_random_text(text):
    parses_or_refuses(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.sampled_from([" ", "", "\n", "  \n "]))
def test_random_token_soup(tokens, separator):
    parses_or_refuses(separator.join(tokens))


@st.composite
def mutated(draw):
    """A good spec with a few characters or whitespace-separated tokens deleted, inserted or duplicated."""
    text = draw(st.sampled_from(GOOD_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        by_token = draw(st.booleans())
        units = text.split(" ") if by_token else list(text)
        i = draw(st.integers(0, max(0, len(units) - 1)))
        edit = draw(st.sampled_from(["delete", "insert", "duplicate"]))
        piece = draw(st.sampled_from(TOKENS) if by_token else st.characters())
        units[i:i + 1] = {"delete": [], "insert": [piece, *units[i:i + 1]], "duplicate": units[i:i + 1] * 2}[edit]
        text = (" " if by_token else "").join(units)
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_good_specs(text):
    parses_or_refuses(text)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_through_parse_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "random.cat"
    path.write_bytes(data)
    try:
        parse_file(path)
    except CatlmError as err:
        assert err.span is not None and err.span.line >= 1


@FUZZ
@given(st.binary(min_size=1, max_size=60), st.integers(0, 200))
def test_bytes_spliced_into_a_good_spec(tmp_path_factory, junk, where):
    text = GOOD_TEXTS[0].encode("utf-8")
    path = tmp_path_factory.mktemp("fuzz") / "spliced.cat"
    path.write_bytes(text[:where] + junk + text[where:])
    try:
        parse_file(path)
    except CatlmError as err:
        assert err.span is not None


# --- deep and large inputs ---------------------------------------------------------------------------

@pytest.mark.parametrize("opened, closed, template", [
    ("(", ")", "kernel k = {}"),
    ("(", ")", "object A = {}"),
    ("(", ")", "kernel k = [{}]"),
    ("[", "]", "kernel k = {}"),
])
def test_ten_thousand_nested_brackets(opened, closed, template):
    atom = {"(": "f", "[": "1"}[opened] if "object" not in template else "B"
    start = time.perf_counter()
    try:
        parse(template.format(opened * 10_000 + atom + closed * 10_000))
    except ParseError as err:
        assert "nesting deeper than" in err.message
    assert time.perf_counter() - start < 10


def test_ten_thousand_unclosed_brackets():
    with pytest.raises(ParseError, match=r"unclosed '\('") as info:
        parse("kernel k = " + "(" * 10_000 + "f")
    assert info.value.span.column == 11 + 10_000  # the innermost one


def test_ten_megabytes_are_refused_at_once(tmp_path):
    path = tmp_path / "huge.cat"
    line = b"kernel f : A -> B = [[1/2, 1/2], [1/3, 2/3]]  # padding padding padding\n"
    path.write_bytes(line * (10 * 2**20 // len(line) + 1))
    start = time.perf_counter()
    with pytest.raises(ParseError, match=r"the file is 10\.0 MiB; catlm parses at most 512\.0 KiB") as info:
        parse_file(path)
    assert time.perf_counter() - start < 2.0
    assert 'import "part.cat"' in info.value.hint
    with pytest.raises(ParseError, match="at most 512.0 KiB"):
        parse(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_a_spec_just_under_the_limit_parses(tmp_path):
    block = "\n".join(GOOD_TEXTS)
    copies, size = [], 0
    while size + 2 * len(block.encode("utf-8")) < MAX_BYTES:  # each copy grows a little by its renaming
        copies.append(block.replace("Coin", f"Coin{len(copies)}") + "\n")
        size += len(copies[-1].encode("utf-8"))
    text = "".join(copies)
    assert MAX_BYTES // 2 < len(text.encode("utf-8")) <= MAX_BYTES
    path = tmp_path / "big.cat"
    path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    spec = parse_file(path)
    assert time.perf_counter() - start < 60  # a few seconds on one core; see docs/language.md
    assert len(spec.statements) == len(copies) * sum(len(parse(t).statements) for t in GOOD_TEXTS)
