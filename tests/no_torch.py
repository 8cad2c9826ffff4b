"""Python code run in a fresh interpreter where ``import torch`` fails, as on an install of catlm
without its torch extra (the tests of torch-free modules use it)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCK_TORCH = ("import sys, importlib.abc\n"
               "class NoTorch(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] == 'torch':\n"
               "            raise ImportError('torch is blocked for this test')\n"
               "sys.meta_path.insert(0, NoTorch())\n")


def run_without_torch(code: str) -> subprocess.CompletedProcess:
    """``python -c code`` from the repository root, torch unimportable; output captured."""
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], cwd=ROOT, capture_output=True,
                          text=True, check=False)
