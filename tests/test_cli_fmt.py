"""``catlm fmt``: canonical text (catlm.syntax.format) with the comments and paragraphs kept."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import catlm
from catlm.cli import main
from catlm.commands.fmt import canonical

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.cat"))

MESSY = """# a coin
object Coin={heads,tails}   # named elements


kernel flip : I → Coin = [1/2,
                          1/2]      # fair
kernel two = flip ⊗ flip   # ⊗ is @
# the end
"""

CANONICAL = """# a coin
object Coin = {heads, tails}  # named elements

kernel flip : I -> Coin = [1/2, 1/2]  # fair
kernel two = flip @ flip  # ⊗ is @
# the end
"""


@pytest.fixture
def messy(tmp_path):
    path = tmp_path / "coin.cat"
    path.write_text(MESSY, encoding="utf-8")
    return path


def test_fmt_prints_the_canonical_text_with_comments_in_place(messy, capsys):
    assert main(["fmt", str(messy)]) == 0
    assert capsys.readouterr().out == CANONICAL
    assert messy.read_text(encoding="utf-8") == MESSY  # printing leaves the file alone


def test_fmt_check_reports_without_writing(messy, tmp_path, capsys):
    assert main(["fmt", "--check", str(messy)]) == 1
    assert capsys.readouterr().out == f"would reformat {messy}\n"
    assert messy.read_text(encoding="utf-8") == MESSY
    done = tmp_path / "done.cat"
    done.write_text(CANONICAL, encoding="utf-8")
    assert main(["fmt", "--check", str(done)]) == 0 and capsys.readouterr().out == ""


def test_fmt_in_place_rewrites_once(messy, capsys):
    assert main(["fmt", "--in-place", str(messy)]) == 0
    assert capsys.readouterr().out == f"reformatted {messy}\n"
    assert messy.read_text(encoding="utf-8") == CANONICAL
    assert main(["fmt", "--in-place", str(messy)]) == 0 and capsys.readouterr().out == ""


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_formatting_the_examples_keeps_their_meaning_and_comments(path, tmp_path, capsys):
    assert main(["fmt", str(path)]) == 0
    text = capsys.readouterr().out
    out = tmp_path / path.name
    out.write_text(text, encoding="utf-8")
    original, formatted = catlm.load(path), catlm.load(out)
    assert formatted.kernels == original.kernels and len(formatted.laws) == len(original.laws)
    assert text.count("#") == path.read_text(encoding="utf-8").count("#")
    assert main(["fmt", "--check", str(out)]) == 0  # idempotent


def test_fmt_of_a_bad_file_is_a_located_error_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.cat"
    bad.write_text("object A = fin 2\nkernel f : A -> \n", encoding="utf-8")
    assert main(["fmt", "--in-place", str(bad)]) == 1
    assert capsys.readouterr().err.startswith(f"{bad}:2:")
    assert bad.read_text(encoding="utf-8") == "object A = fin 2\nkernel f : A -> \n"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 14), st.booleans()), max_size=6))
def test_every_comment_survives_in_order_wherever_it_is(tmp_path_factory, places):
    """Comments put on their own lines or after any line of coin.cat (inside a literal too)."""
    lines = (ROOT / "examples" / "coin.cat").read_text(encoding="utf-8").splitlines()
    for k, (at, own_line) in enumerate(sorted(places, reverse=True)):
        at = min(at, len(lines) - 1)
        tag = f"# note {len(places) - k}"
        lines[at:at + 1] = [tag, lines[at]] if own_line else [lines[at].split("#")[0] + "  " + tag]
    text = "\n".join(lines) + "\n"
    path = tmp_path_factory.mktemp("fmt") / "coin.cat"
    path.write_text(text, encoding="utf-8")
    new = canonical(text, str(path))
    tags = lambda t: [chunk.split()[0] for chunk in t.split("# note ")[1:]]  # noqa: E731
    assert tags(new) == tags(text)
    out = path.with_name("out.cat")
    out.write_text(new, encoding="utf-8")
    assert catlm.load(out).kernels == catlm.load(path).kernels
