"""Where a new run may go: a missing or empty folder, or an existing run with ``--resume`` or ``--force``.

A second ``catlm train`` into a folder that holds a run would mix two runs' checkpoints, so it is
refused unless it continues the run (``resume``) or replaces it (``force``, which deletes the old
run first). ``force`` clears only a folder that holds a run (a ``checkpoint.json`` or a
``checkpoints/step-*`` folder), so a mistyped ``--out .`` can never empty a working directory.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> check_run_folder(out, resume=False, force=False)  # a new folder: nothing in the way
>>> (out / "checkpoints").mkdir(parents=True)
>>> (out / "checkpoint.json").write_text("{}") and None
>>> check_run_folder(out, resume=False, force=False)
Traceback (most recent call last):
catlm.errors.UsageError: ... already holds a training run (continue it with --resume, ...)
>>> clear_run_folder(out); sorted(out.iterdir())
[]
"""
from __future__ import annotations

import shutil
from pathlib import Path

from catlm.errors import UsageError
from catlm.models.checkpoint import holds_run


def check_run_folder(out: str | Path, resume: bool, force: bool) -> None:
    """Refuse ``out`` unless a run can start (or continue) there; changes nothing on disk."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"the run folder {out} is a file", hint="choose another --out")
    if resume and force:
        raise UsageError("--resume continues the run in --out and --force deletes it; give one of them",
                         hint="--resume to keep training it, --force to start it again")
    if resume or not out.exists() or not any(out.iterdir()):
        return
    if not holds_run(out):
        raise UsageError(f"{out} is not empty and holds no training run",
                         hint="choose a new or empty --out (--force clears only run folders)")
    if not force:
        raise UsageError(f"{out} already holds a training run",
                         hint="continue it with --resume, replace it with --force, or choose another --out")


def clear_run_folder(out: str | Path) -> None:
    """Delete everything in ``out`` (a run folder that ``check_run_folder`` let ``--force`` replace)."""
    out = Path(out)
    if not out.is_dir():
        return
    for entry in out.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
