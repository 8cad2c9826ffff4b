"""Every command of README.md runs as written, in order, on a tiny corpus.

The commands are read from the README's fenced blocks. They run in a fresh folder holding
``examples/`` and a ``tinyshakespeare.txt`` of a few kilobytes with the 65 characters of the real
one, so the paths are the README's own. Two substitutions only: ``--steps N`` (an option the README
shows) becomes ``--steps 2``, so training takes seconds; and ``PET_MASTER_PORT`` (torchrun's own
variable for ``--master-port``) is a free port, so two test runs never meet on torchrun's default.
``catlm`` and ``torchrun`` are the console scripts of the interpreter running the tests, called as
``python -m catlm`` and ``python -m torch.distributed.run``.
"""
from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# the 65 characters of tinyshakespeare: newline, space, !$&',-.3:;? and both alphabets
ALPHABET = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LINES = ["ROMEO:", "But soft, what light through yonder window breaks?",
         "It is the east, and Juliet is the sun!", "JULIET:",
         "O Romeo, Romeo! wherefore art thou Romeo? Deny thy father; & refuse thy name.",
         "First Citizen: We are accounted poor citizens, the patricians good $3.", ALPHABET.strip()]

PROGRAMS = {"catlm": [sys.executable, "-m", "catlm"],
            "torchrun": [sys.executable, "-m", "torch.distributed.run"]}
# commands that are not run here, each with the reason
NOT_RUN = {"make demo": "the full demo takes minutes; tests/test_demo.py runs `catlm demo --quick`, "
                        "the same code on a smaller text",
           "make test": "it runs the test suite, this test included"}


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block of a Markdown text."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S)


def is_spec(body: str) -> bool:
    """A block whose first line is a comment naming a .cat file is a spec, not commands."""
    return re.match(r"#\s*\S+\.cat\s*$", body.splitlines()[0]) is not None


def shell_commands(text: str) -> list[list[str]]:
    """The command lines of the README's shell blocks, as argv lists (comments dropped)."""
    return [shlex.split(line, comments=True)
            for lang, body in fenced_blocks(text) if lang == "" and not is_spec(body)
            for line in body.splitlines() if shlex.split(line, comments=True)]


def small(argv: list[str]) -> list[str]:
    return [("2" if i and argv[i - 1] == "--steps" else a) for i, a in enumerate(argv)]


def test_every_readme_command_is_known():
    commands = shell_commands(README)
    assert commands, "the README has no commands"
    for argv in commands:
        assert argv[0] in PROGRAMS or " ".join(argv) in NOT_RUN, f"no runner for {' '.join(argv)}"
    names = [" ".join(argv[:2]) for argv in commands]
    for needed in ("catlm train", "catlm sample", "catlm speculate", "catlm analyze", "torchrun --nproc-per-node"):
        assert needed in names


def test_the_readme_spec_parses():
    import catlm
    specs = [body for lang, body in fenced_blocks(README) if lang == "" and is_spec(body)]
    assert specs
    for body in specs:
        spec = catlm.parse(body)
        assert "joint" in spec.kernels and str(spec.kernels["joint"]) == "joint : I -> Coin @ Coin"


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "tinyshakespeare.txt").write_text(("\n".join(LINES) + "\n\n") * 60, encoding="utf-8")
    assert len(set((tmp_path / "tinyshakespeare.txt").read_text())) == 65
    return tmp_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_every_readme_command_runs_as_written(folder):
    pytest.importorskip("torch", reason="the README's training commands need torch (catlm[torch])")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PET_MASTER_PORT": str(free_port())}
    for argv in shell_commands(README):
        if " ".join(argv) in NOT_RUN:
            continue
        done = subprocess.run(PROGRAMS[argv[0]] + small(argv)[1:], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        assert "Traceback" not in done.stderr, done.stderr
    for made in ("joint.svg", "reports/bigram/report.md", "runs/char/checkpoint.json",
                 "runs/char/drafter-head/head.json", "reports/char/report.md", "runs/smollm2/convert.json"):
        assert (folder / made).is_file(), made
    # the Python block reads what the commands made (runs/smollm2), so it runs after them
    code = "\n".join(body for lang, body in fenced_blocks(README) if lang == "python")
    assert "catlm.compile" in code and "catlm.generate" in code
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
