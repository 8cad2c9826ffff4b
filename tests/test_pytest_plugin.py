"""The pytest plugin: ``pytest --catlm`` collects each law and check of a .cat file as a test item."""
from __future__ import annotations

import configparser
from pathlib import Path

import pytest

# Imported once here: pytester restores sys.modules after each in-process run, and a run that
# imported these itself would import numpy's extension modules a second time, which numpy refuses.
import catlm.elaborate  # noqa: F401
import catlm.laws  # noqa: F401
import catlm.pytest_plugin  # noqa: F401

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

SPEC = """\
object A = fin 2
kernel f : A -> A
kernel d : A -> A deterministic
kernel fair : I -> A = [1/2, 1/2]
law counit  : copy >> (id @ del) == id[A]
law natural : d >> copy == copy >> (d @ d)
law wrong   : f >> copy == copy >> (f @ f)
law apart   : f >> copy != copy >> (f @ f)
check markov A
"""


@pytest.fixture(autouse=True)
def _plugin_by_name(monkeypatch):
    """Load the plugin by module name, whether or not this install's pytest11 entry is current."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def _args(*args: str) -> list[str]:
    return [*args, "-p", "catlm.pytest_plugin", "-p", "no:cacheprovider"]


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert config["options.entry_points"]["pytest11"].strip() == "catlm = catlm.pytest_plugin"


def test_each_law_and_check_is_one_item_and_a_failure_shows_the_counterexample(pytester):
    pytester.makefile(".cat", laws=SPEC)
    result = pytester.runpytest(*_args("--catlm", "-v"))
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([
        "*laws.cat::counit PASSED*", "*laws.cat::natural PASSED*", "*laws.cat::wrong FAILED*",
        "*laws.cat::apart PASSED*", "*laws.cat::check_markov[[]A[]] PASSED*",
        "*laws.cat:7:1: law wrong (stated to hold): FAILS (fails in a counter-model)*",
        "*counterexample: A = fin 2; f = *; at (0) -> (0, 0): *",
    ])


def test_items_are_selected_with_k_and_cat_files_are_ignored_without_the_flag(pytester):
    pytester.makefile(".cat", laws=SPEC)
    pytester.runpytest(*_args("--catlm", "-k", "natural or apart")).assert_outcomes(passed=2)
    pytester.runpytest(*_args()).assert_outcomes()


def test_a_spec_that_does_not_load_is_a_located_collection_error(pytester):
    pytester.makefile(".cat", bad="object A = fin 2\nkernel g = f\n")
    result = pytester.runpytest(*_args("--catlm"))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*bad.cat:2:*"])


def test_the_examples_laws_run_as_tests(pytester):
    for name in ("coin.cat", "bigram.cat"):
        pytester.makefile(".cat", **{name.removesuffix(".cat"): (ROOT / "examples" / name).read_text()})
    result = pytester.runpytest(*_args("--catlm"))
    result.assert_outcomes(passed=6)
