"""A pytest plugin: with ``CATLM_NO_SKIPS=1`` (``make test``, ``make test-fast``) a skipped test fails.

Every dependency of the suite is installed by the test command, so a skip there means a test
silently did not run: it is reported as a failure that quotes the skip's reason.
"""
from __future__ import annotations

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CATLM_NO_SKIPS") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in a run that allows no skips (CATLM_NO_SKIPS=1): {reason}"
