"""Packaging: every subpackage is listed, the grammar and examples ship as package data."""
from __future__ import annotations

import configparser
import importlib.resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def listed_packages() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return set(cfg["options"]["packages"].split())


def test_every_subpackage_is_listed_in_setup_cfg():
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "catlm").rglob("__init__.py")}
    assert found <= listed_packages(), f"add to setup.cfg [options] packages: {found - listed_packages()}"


def test_grammar_and_examples_are_package_data():
    assert (importlib.resources.files("catlm.grammar") / "catlm.lark").read_text().strip()
    names = {p.name for p in importlib.resources.files("catlm.examples").iterdir()}
    assert {"coin.cat", "bigram.cat", "lm.cat"} <= names


def test_torch_is_an_extra_not_a_requirement():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert "torch" not in cfg["options"]["install_requires"]
    assert "torch==2.13.0" in cfg["options.extras_require"]["torch"]
