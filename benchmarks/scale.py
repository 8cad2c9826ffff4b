"""Benchmark of large specs: HMM marginals, naive Bayes, long chains and many named kernels.

Each case is timed once, from a cold plan cache (the planner's cost is what is measured):

* HMM: ``s`` then T steps ``copy[H] >> (e @ t)``, one observation per step; an observation is
  kept or deleted, so every marginal of the joint is one choice of the kept set;
* naive Bayes ``s >> copy[A, n] >> (f @ ... @ f)`` over n features (n = 64 is refused by the
  budget: the joint has 2^64 entries);
* a ``>>`` chain of 10,000 kernels written in one ``.cat`` statement: parse, check, evaluate;
* 2,000 named kernels, each the one before ``>> f``: check time and peak memory.

Usage: ``python benchmarks/scale.py [--quick]``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the shapes the tests use

from common import fmt_bytes, peak_bytes  # noqa: E402

import catlm  # noqa: E402
from catlm.backends import contraction as cn  # noqa: E402
from catlm.backends import finstoch as fs  # noqa: E402
from catlm.core.check import typecheck  # noqa: E402
from catlm.core.diagram import Diagram  # noqa: E402
from catlm.errors import BudgetError  # noqa: E402
from catlm.syntax import parse as parse_syntax  # noqa: E402
from large_shapes import A, H, O, hmm, naive_bayes  # noqa: E402,F401

def evaluate(diagram: Diagram) -> tuple[float, float, float, str]:
    """Seconds to read the wiring, to plan alone and to compile (plan + contract), and the result."""
    typed = typecheck(diagram)
    wiring_s, wiring = timed(lambda: typed.wiring)
    contraction = fs.plan_of(wiring).contraction
    fs.clear_caches()
    plan_s, _ = timed(lambda: cn.plan(contraction))
    fs.clear_caches()
    start = time.perf_counter()
    try:
        out = catlm.compile(typed, seed=0)
        result = f"shape {out.shape}"
    except BudgetError as err:
        result = f"BudgetError ({err.message[:60]}...)"
    return wiring_s, plan_s, time.perf_counter() - start, result


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def chain_text(n: int) -> str:
    return "object A = fin 2\nkernel s : I -> A\nkernel f : A -> A\nkernel c = s >> " + " >> ".join(["f"] * n) + "\n"


def named_text(n: int) -> str:
    lines = ["object A = fin 2", "kernel s : I -> A", "kernel f : A -> A", "kernel k0 = f"]
    lines += [f"kernel k{i} = k{i - 1} >> f" for i in range(1, n)]
    return "\n".join(lines) + f"\nkernel out = s >> k{n - 1}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller cases")
    quick = parser.parse_args().quick
    steps = (16, 100) if quick else (16, 100, 1000)
    evaluate(hmm(2, {1}))  # imports and first calls, not part of any case
    print("| case | wiring | plan | compile (plan + contract) | result |\n|---|---|---|---|---|")
    for T in steps:
        marginals = {"last observation": {T - 1}, "first and last": {0, T - 1}}
        if T == 16:
            marginals["every observation"] = set(range(T))
        for label, kept in marginals.items():
            wiring_s, plan_s, seconds, result = evaluate(hmm(T, kept))
            print(f"| HMM T={T}, {label} | {wiring_s:.3f} s | {plan_s:.3f} s | {seconds:.3f} s | {result} |")
    for n in (16, 64):
        wiring_s, plan_s, seconds, result = evaluate(naive_bayes(n))
        print(f"| naive Bayes n={n} | {wiring_s:.3f} s | {plan_s:.3f} s | {seconds:.3f} s | {result} |")
    n = 2_000 if quick else 10_000
    text = chain_text(n)
    parse_s, _ = timed(lambda: parse_syntax(text))
    check_s, spec = timed(lambda: catlm.parse(text))
    eval_s, out = timed(lambda: catlm.compile(spec.kernels["c"], seed=0))
    print(f"\nchain of {n:,} kernels: parse {parse_s:.2f} s, parse + check {check_s:.2f} s, evaluate {eval_s:.2f} s")
    n = 500 if quick else 2_000
    text = named_text(n)
    check_s, spec = timed(lambda: catlm.parse(text))
    peak = peak_bytes(lambda: catlm.parse(text))
    eval_s, _ = timed(lambda: catlm.compile(spec.kernels["out"], seed=0))
    print(f"{n:,} named kernels: check {check_s:.2f} s (peak {fmt_bytes(peak)}), evaluate the last {eval_s:.2f} s")


if __name__ == "__main__":
    main()
