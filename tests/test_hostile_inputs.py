"""Inputs a new user (or a fuzzer) tries: every one ends in a located error or an exact answer.

The bad .cat files live in tests/fixtures/bad/ (harness: test_bad_specs.py); this file holds what
is not a file: command-line values and the exact reading of numbers.
"""
from __future__ import annotations

import json
from fractions import Fraction

import pytest
import sympy

from catlm.cli import main
from catlm.elaborate.numbers import parse_subs, read_number
from catlm.errors import BackendError

COIN = """object Coin = {heads, tails}
param p
kernel flip : I -> Coin = [p, 1 - p]
"""


@pytest.fixture
def coin(tmp_path):
    path = tmp_path / "coin.cat"
    path.write_text(COIN)
    return str(path)


@pytest.mark.parametrize("text, expected", [
    ("1/3", Fraction(1, 3)), ("0.25", Fraction(1, 4)), ("-2", -2), ("1e-3", Fraction(1, 1000)),
    ("sqrt(2)/2", sympy.sqrt(2) / 2), ("3^-1", Fraction(1, 3)),
])
def test_a_substitution_is_read_exactly_as_a_literal(text, expected):
    assert read_number(text) == expected and type(read_number(text)) is type(expected)


@pytest.mark.parametrize("item, message", [
    ("p=abc", "cannot read p='abc' as a number: unknown param 'abc'"),
    ("p=(1", "cannot read p='(1' as a number"),
    ("p=1]\nkernel x : I -> I", "cannot read p="),
    ("p=1e999999999", "exponent"),
    ("p", "write it as NAME=VALUE"),
    ("q=1/2", "'q', which is not a param of the spec; its params are p"),
])
def test_bad_substitutions_are_backend_errors(item, message):
    with pytest.raises(BackendError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_subs([item], ["p"])


def test_a_spec_without_params_says_so():
    with pytest.raises(BackendError, match="it declares no params"):
        parse_subs(["p=1/2"], [])


def test_cli_reads_subs_exactly_or_says_why(coin, capsys):
    assert main(["eval", coin, "-k", "flip", "--exact", "--subs", "p=1/3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["array"] == ["1/3", "2/3"]
    assert main(["eval", coin, "-k", "flip", "--subs", "p=sqrt(2)/2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["array"] == pytest.approx([2 ** -0.5, 1 - 2 ** -0.5])
    for argv, message in [(["--subs", "p=abc"], "unknown param 'abc'"),
                          (["--subs", "q=1/2"], "its params are p"),
                          (["--exact", "--subs", "p=sqrt(2)/2"], "not a rational number")]:
        assert main(["eval", coin, "-k", "flip", *argv]) == 1
        err = capsys.readouterr().err
        assert "error: " in err and message in err and "Traceback" not in err
