"""A pytest plugin: with ``CATLM_NO_SKIPS=1`` (``make test``, ``make test-fast``) a skip fails.

Every dependency of the suite is installed by the test command, so a skip there means tests
silently did not run. A skipped test is reported as a failure that quotes the reason; a module
skipped while it is collected (an ``importorskip`` at its top) is listed at the end and makes
the run fail, after every other test has run.
"""
from __future__ import annotations

import os

import pytest

PREFIX = "skipped in a run that allows no skips (CATLM_NO_SKIPS=1)"
_skipped_modules: list[str] = []


def _strict() -> bool:
    return os.environ.get("CATLM_NO_SKIPS") == "1"


def _reason(report) -> str:
    return report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if _strict() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"{PREFIX}: {_reason(report)}"


def pytest_collectreport(report):
    if _strict() and report.skipped:
        _skipped_modules.append(f"{report.nodeid}: {_reason(report)}")


def pytest_terminal_summary(terminalreporter):
    if _skipped_modules:
        terminalreporter.section(PREFIX, red=True)
        for line in _skipped_modules:
            terminalreporter.line(f"SKIPPED MODULE {line}")


def pytest_sessionfinish(session, exitstatus):
    if _skipped_modules and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
