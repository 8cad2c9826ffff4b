"""Where the project's shared read-only data lives: ``../shared`` beside the checkout.

CI clones the project with ``shared/`` beside it; ``CATLM_SHARED`` points elsewhere when needed.
Tests that need a file skip with a reason naming it when it is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("CATLM_SHARED", Path(__file__).resolve().parents[2] / "shared"))
TINY_SHAKESPEARE = SHARED / "data" / "tinyshakespeare.txt"
DESIGN = SHARED / "DESIGN.md"
