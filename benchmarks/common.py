"""Timing and memory helpers for the benchmarks: medians of repeated calls, tracemalloc peaks.

>>> t = median_time(lambda: sum(range(100)), budget_s=0.01)
>>> t > 0
True
"""
from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from typing import Callable

GiB = 2 ** 30


def median_time(fn: Callable[[], object], budget_s: float = 0.3, min_repeats: int = 3,
                max_repeats: int = 200) -> float:
    """Median wall time of ``fn()`` in seconds, after one warm-up call."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < min_repeats or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes allocated (numpy buffers included) while ``fn()`` runs, via tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""
