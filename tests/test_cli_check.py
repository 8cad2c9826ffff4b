"""``catlm check``: a summary per kernel on success; on error, file:line:col, the line, a caret,
exit status 1 and never a traceback, whatever the input."""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import catlm
from catlm.cli import main
from catlm.errors import KernelError
from catlm.stochastic import defect

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "catlm", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_check_prints_every_kernel_with_its_type(capsys):
    assert main(["check", str(ROOT / "examples" / "bigram.cat")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["emb", ":", "Tok", "->", "H", "(deterministic", "parameter)"]
    assert any(line.startswith("two ") and "Tok -> Tok @ Tok" in line for line in out)
    assert out[-1].endswith("ok: 5 kernels, 1 laws, 1 checks")


def test_error_report_has_place_line_and_caret(tmp_path):
    bad = tmp_path / "bad.cat"
    bad.write_text("object A = fin 2\nobject B = fin 3\nkernel f : A -> B\nkernel g = f >> f\n")
    result = run_cli("check", str(bad))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{bad}:4:17: error: cannot compose")
    assert lines[1] == "  kernel g = f >> f" and lines[2] == "  " + " " * 16 + "^"


@pytest.mark.parametrize("content", [b"\xff\xfe\x00binary\x00", b"kernel", b"object A = fin 2\n" * 3,
                                     b"((((((((", "object Ω = fin 2\nkernel f : Ω → Ω".encode()])
def test_no_traceback_on_any_input(tmp_path, capsys, content):
    path = tmp_path / "x.cat"
    path.write_bytes(content)
    code = main(["check", str(path)])  # main() itself must catch: an escape would fail the test
    err = capsys.readouterr().err
    assert code in (0, 1)
    if code == 1:
        assert err.startswith(f"{path}:") and ": error: " in err.splitlines()[0]


def test_missing_file_is_an_error_not_a_traceback():
    result = run_cli("check", "no/such/file.cat")
    assert result.returncode == 1 and "Traceback" not in result.stderr and "file.cat" in result.stderr


BAD = ROOT / "tests" / "fixtures" / "bad"
DECIDABLE = ["kernel_negative", "kernel_row_sum", "deterministic_not_one_hot", "kernel_not_a_number",
             "kernel_complex_entry", "unknown_implementation", "implementation_dim_mismatch",
             "implementation_unknown_argument", "implementation_argument_type",
             "implementation_wrong_object", "implementation_tie_not_embedding",
             "deterministic_stochastic_implementation", "implementation_repeated_argument",
             "implementation_out_of_range", "kernel_negative_for_every_param"]


@pytest.mark.parametrize("name", DECIDABLE)
def test_check_rejects_what_is_decidable_without_a_backend(capsys, name):
    """Bad literals and implementation bodies fail ``catlm check`` itself, not only ``eval``."""
    path = BAD / f"{name}.cat"
    line = int(path.read_text().split(" at line ")[1].split()[0])
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{path}:{line}:") and ": error: " in err[0]
    assert err[2].strip() and set(err[2].strip()) == {"^"}


@pytest.mark.parametrize("body, column, words", [
    ("[[1, 0], [1/2, -1/2 + 1]]", None, ["row (y) sums to 1", "no"]),  # a valid kernel: no error
    ("[[1, 0], [3/2, -1/2]]", 36, ["row (y) has the negative entry -1/2"]),
    ("[[1, 0], [1/2, 1/3]]", 30, ["row (y) sums to 5/6, not 1"]),
    ("[[0*log(0), 1], [0, 1]]", 25, ["`log(0)` is not a finite number"]),  # at the term that fails
])
def test_literal_errors_point_at_the_entry_or_row(tmp_path, capsys, body, column, words):
    path = tmp_path / "k.cat"
    path.write_text(f"object A = {{x, y}}\nkernel f : A -> A = {body}\n")
    code = main(["check", str(path)])
    err = capsys.readouterr().err
    if column is None:
        assert code == 0, err
        return
    assert code == 1 and err.startswith(f"{path}:2:{column}: error: ")
    assert all(w in err for w in words), err
    assert err.splitlines()[2].index("^") == column + 1  # two spaces of indent, columns from 1


@pytest.mark.parametrize("args, column, words", [
    ("dim=16", 37, ["embedding(dim=16) differs from E = real 8", "hint: make them equal"]),
    ("dim=8, width=3", 44, ["no argument 'width'", "valid arguments: dim, positions, context, dropout"]),
    ("dim=8, dim=8", 44, ["'dim' twice"]),
    ("dim=8, positions=rotary", 44, ["positions=rotary", "learned, none"]),
    ("dim=8, dropout=2", 44, ["dropout=2.0", "[0, 1)"]),
])
def test_implementation_arguments_are_checked_against_the_objects(tmp_path, capsys, args, column, words):
    path = tmp_path / "lm.cat"
    path.write_text(f"object Tok = fin 5\nobject E = real 8\nkernel emb : Tok* -> E* = embedding({args})\n")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:3:{column}: error: kernel 'emb': "), err
    assert all(w in err for w in words), err


def test_implementations_are_listed_with_every_argument_the_registry_will_use(capsys):
    assert main(["check", str(ROOT / "examples" / "lm.cat")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("=", 1)[1].strip() == ("embedding(dim=256, positions=learned, context=1024, "
                                               "dropout=0.0)   (deterministic)")
    assert out[2].endswith("= linear_softmax(tie=emb, bias=false)   (stochastic)")


def test_a_tie_may_name_an_embedding_declared_later(tmp_path, capsys):
    """The torch backend builds modules in schedule order, not declaration order."""
    path = tmp_path / "lm.cat"
    lines = ["object Tok = fin 5", "object E = real 8", "object H = real 8",
             "kernel head : H -> Tok = linear_softmax(tie=emb)",
             "kernel emb : Tok* -> E* = embedding(dim=8)"]
    path.write_text("\n".join(lines) + "\n")
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    path.write_text("\n".join(lines[:-1] + ["object V = fin 7", "kernel emb : V* -> E* = embedding(dim=8)"]) + "\n")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:4:41: error: kernel 'head': emb's V of size 7 differs from Tok of size 5")


def _text(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


ENTRY = st.fractions(min_value=-1, max_value=2, max_denominator=4)
COUNTS = st.lists(st.integers(0, 3), min_size=3, max_size=3).filter(any)


@st.composite
def rows(draw) -> list[list[Fraction]]:
    """Two rows of three: rational noise, or counts normalised into distributions."""
    if draw(st.booleans()):
        return [draw(st.lists(ENTRY, min_size=3, max_size=3)) for _ in range(2)]
    return [[Fraction(c, sum(counts)) for c in counts] for counts in (draw(COUNTS), draw(COUNTS))]


@settings(max_examples=100, deadline=None)
@given(rows(), st.booleans())
def test_check_rejects_a_literal_exactly_when_the_kernel_check_does(matrix, deterministic):
    """Oracle: catlm.stochastic.defect (the backends' check) and a count of nonzero entries."""
    body = "[" + ", ".join("[" + ", ".join(map(_text, row)) + "]" for row in matrix) + "]"
    promise = " deterministic" if deterministic else ""
    text = f"object A = fin 2\nobject B = fin 3\nkernel f : A -> B{promise} = {body}\n"
    one_hot = lambda row: sum(x != 0 for x in row) == 1  # noqa: E731
    bad = next((r for r, row in enumerate(matrix) if defect(np.array([row], dtype=object))
                or deterministic and not one_hot(row)), None)
    if bad is None:
        catlm.parse(text)  # accepted: no error
        return
    with pytest.raises(KernelError) as err:
        catlm.parse(text)
    assert f"row ({bad})" in err.value.message and err.value.span.line == 3
