"""The suite's own machinery: skips fail under the test command, the fast target stays fast."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# a planted test file run by a nested pytest below: one skip to be failed, and one test that
# passes when the plugin under test is loaded (so the nested run shows a pass beside the failure)
SKIPPING = '''
import pytest

def test_needs_something():
    pytest.skip("the frobnicator is absent")

def test_the_plugin_is_loaded(request):
    assert request.config.pluginmanager.has_plugin("no_skips")
'''


def _pytest(folder: Path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "CATLM_NO_SKIPS"}
    environ |= {"PYTHONPATH": str(TESTS), **env}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no_skips", "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", str(folder)], capture_output=True, text=True, env=environ,
                          cwd=folder)


@pytest.mark.slow
def test_a_skip_fails_when_the_run_allows_none(tmp_path):
    (tmp_path / "test_planted.py").write_text(SKIPPING, encoding="utf-8")
    (tmp_path / "test_module.py").write_text('import pytest\npytest.importorskip("no_such_module_x")\n',
                                             encoding="utf-8")
    strict = _pytest(tmp_path, CATLM_NO_SKIPS="1")
    assert strict.returncode == 1, strict.stdout
    assert "1 failed, 1 passed, 1 skipped" in strict.stdout, strict.stdout
    assert "the frobnicator is absent" in strict.stdout
    assert "SKIPPED MODULE test_module.py" in strict.stdout and "no_such_module_x" in strict.stdout
    lenient = _pytest(tmp_path)
    assert lenient.returncode == 0 and "1 passed, 2 skipped" in lenient.stdout, lenient.stdout


def test_the_make_targets_allow_no_skips_and_the_fast_one_leaves_out_the_slow_tests():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipes = dict(re.findall(r"^(test|test-fast): .*\n\t(.*)$", makefile, re.M))
    assert set(recipes) == {"test", "test-fast"}
    assert all("CATLM_NO_SKIPS=1" in recipe for recipe in recipes.values())
    assert '-m "not slow"' in recipes["test-fast"] and "not slow" not in recipes["test"]
