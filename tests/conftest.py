"""Test-session settings: one BLAS/OpenMP thread per pytest worker; no skips under the test command.

``make test`` runs two workers on two cores; each torch or numpy process defaulting to every core
would oversubscribe the machine several times over and slow small steps by an order of magnitude.
``make test`` and ``make test-fast`` set ``CATLM_NO_SKIPS=1``: a skip then fails (``no_skips``).
"""
import os
import sys

import pytest

from no_skips import (pytest_collectreport, pytest_runtest_makereport,  # noqa: F401 (hooks)
                      pytest_sessionfinish, pytest_terminal_summary)

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")

# `pytest --catlm` runs the laws of .cat files; these specs are wrong on purpose (test_bad_specs)
collect_ignore_glob = ["fixtures/bad/*.cat"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors: more torch threads only add contention (a test may have changed the count)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
