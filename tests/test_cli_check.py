"""``catlm check``: a summary per kernel on success; on error, file:line:col, the line, a caret,
exit status 1 and never a traceback, whatever the input."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from catlm.cli import main

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
