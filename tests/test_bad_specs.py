"""Every spec in tests/fixtures/bad/ fails with the error its first line announces.

Each fixture starts with ``# expect: ErrorClass at line N``. The harness loads it the way a user
would (``catlm.load`` once elaboration exists, else the syntax layer's ``load_files``), compiles
every kernel exactly (the backend's errors: KernelError, BackendError, BudgetError) and checks
the class name and the line of the error's span; it knows nothing else about the fixtures, so a
new one is a new file.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from catlm.errors import CatlmError
from catlm.syntax import load_files

BAD = sorted((Path(__file__).parent / "fixtures" / "bad").glob("*.cat"))
HEADER = re.compile(rb"# expect: (\w+) at line (\d+)")
ELABORATE = importlib.util.find_spec("catlm.elaborate") is not None


def expectation(path: Path) -> tuple[str, int]:
    found = HEADER.match(path.read_bytes().split(b"\n", 1)[0])  # bytes: some fixtures are not UTF-8
    assert found, f"{path.name}: the first line must be '# expect: ErrorClass at line N'"
    return found.group(1).decode(), int(found.group(2))


def load(path: Path) -> None:
    """Load as ``catlm check`` does, then compile every kernel exactly as ``catlm eval`` does."""
    if not ELABORATE:
        load_files(path)
        return
    import catlm
    for kernel in catlm.load(path).kernels.values():
        catlm.compile(kernel, exact=True, seed=0)


def test_every_error_class_has_fixtures():
    classes = [expectation(path)[0] for path in BAD]
    assert classes.count("ParseError") >= 12
    assert {"SpecError", "WiringError", "KernelError", "BackendError", "BudgetError"} <= set(classes)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_spec_fails_as_announced(path):
    kind, line = expectation(path)
    try:
        load(path)
    except CatlmError as err:
        assert type(err).__name__ == kind, f"{path.name}: {err}"
        assert err.span is not None and err.span.line == line, f"{path.name}: {err}"
        return
    if not ELABORATE and kind != "ParseError":
        pytest.skip(f"catlm.elaborate is absent: {path.name} expects a {kind} from elaboration")
    pytest.fail(f"{path.name}: loaded without the announced {kind}")
