"""catlm.runs: run folders, the application-level home of trained models.

A run folder is what ``catlm train --out DIR`` writes and what ``sample``, ``speculate``,
``analyze`` (and any tool that writes a model for them, such as a converter) read: a pointer
``checkpoint.json`` naming the newest complete checkpoint under ``checkpoints/``, each checkpoint
holding safetensors weights, the spec as ``.cat`` text, and JSON metadata with the tokenizer
(layout in docs/torch.md). This package sits above backends, models and decoding: it rebuilds a
model from what a run records, so those layers never import it (training writes checkpoints with
``catlm.models.checkpoint``, re-exported here). Importing it imports no torch; the names below
load on first use (PEP 562).

>>> import catlm.runs as runs
>>> "load_run" in dir(runs)
True
"""
from __future__ import annotations

from catlm.lazy import exports

# public name -> module that defines it
_EXPORTS = {
    "Loaded": "catlm.runs.loading",
    "load_run": "catlm.runs.loading",
    "checkpoint_folder": "catlm.runs.loading",
    "language_model": "catlm.runs.spec",
    "is_language_model": "catlm.runs.spec",
    "spec_files": "catlm.runs.spec",
    "read_stored_spec": "catlm.runs.spec",
    "generate": "catlm.runs.generate",
    "Completion": "catlm.runs.generate",
    "check_run_folder": "catlm.runs.folder",
    "clear_run_folder": "catlm.runs.folder",
    # the writer and reader of the layout, defined beside training (which writes it)
    "save_checkpoint": "catlm.models.checkpoint",
    "load_checkpoint": "catlm.models.checkpoint",
    "latest_checkpoint": "catlm.models.checkpoint",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
