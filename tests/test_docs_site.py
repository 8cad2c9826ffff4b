"""The documentation site builds with ``mkdocs build --strict``: every nav page exists, no link is
broken, and mkdocstrings renders the API page from the docstrings."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def nav_pages() -> list[str]:
    import yaml
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    return [next(iter(entry.values())) for entry in config["nav"]]


def test_every_doc_page_is_in_the_nav():
    pytest.importorskip("yaml", reason="needs PyYAML (installed with mkdocs)")
    pages = nav_pages()
    assert sorted(pages) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert all((ROOT / "docs" / page).is_file() for page in pages)


def test_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="needs mkdocs (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings", reason="needs mkdocstrings[python] (pip install -e '.[docs]')")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "run_demo" in api and "nll_decomposition" in api
