"""Benchmark of the FinStoch backend against DisCoPy, naive Kronecker matrices and a hand-written einsum.

Cases: a state through a chain of N kernels, ``copy >> (f @ g)``, the LM-shaped diagram (a context
state, a deterministic encoder, the hidden state copied into two heads) and k-step unrolled
generation with a bigram kernel. Each is timed in one run for

* catlm (warm): a FinStoch functor whose generators are verified once, called on the diagram;
* catlm (compile): ``catlm.compile`` from scratch, verifying every kernel on each call;
* DisCoPy 1.2.2: ``discopy.markov.Functor`` into ``discopy.tensor.Tensor[float]``;
* naive: the paper's Def. 2.2 matrices (Kronecker products with identities, 0/1 copy matrices);
* hand: ``opt_einsum.contract`` of the hand-written equation with its optimal path precomputed.

A competitor whose predicted memory exceeds 4 GiB is not run ("OOM (predicted X GiB)").
Usage: ``python benchmarks/finstoch.py [--quick]``.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from math import prod
from pathlib import Path

import numpy as np
import opt_einsum as oe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import GiB, fmt_bytes, fmt_time, median_time, peak_bytes  # noqa: E402

from catlm.backends.functor import compile, finstoch  # noqa: E402
from catlm.core.check import typecheck  # noqa: E402
from catlm.core.diagram import Box, copy, identity  # noqa: E402
from catlm.core.types import Finite, Ty  # noqa: E402

LIMIT = 4 * GiB


@dataclass
class Case:
    name: str
    term: tuple                    # ('then'|'tensor'|'box'|'copy'|'id', ...)
    signature: dict                # box name -> (dom sizes, cod sizes)
    kernels: dict                  # box name -> float array
    equation: str                  # the hand-written einsum
    operands: list                 # box names in the order of the equation


# --- cases ------------------------------------------------------------------------------------------

def _rng_kernel(rng, rows: int, cols: int, one_hot: bool = False) -> np.ndarray:
    if one_hot:
        m = np.zeros((rows, cols))
        m[np.arange(rows), rng.integers(cols, size=rows)] = 1
        return m
    return rng.dirichlet(np.ones(cols), size=rows)


def chain(n: int, N: int) -> Case:
    rng = np.random.default_rng(0)
    sig = {"s": ((), (n,)), **{f"k{i}": ((n,), (n,)) for i in range(N)}}
    kernels = {"s": _rng_kernel(rng, 1, n)[0], **{f"k{i}": _rng_kernel(rng, n, n) for i in range(N)}}
    term = ("box", "s")
    for i in range(N):
        term = ("then", term, ("box", f"k{i}"))
    sym = [oe.get_symbol(i) for i in range(N + 1)]
    eq = ",".join([sym[0]] + [sym[i] + sym[i + 1] for i in range(N)]) + "->" + sym[N]
    return Case(f"chain n={n} N={N}", term, sig, kernels, eq, ["s"] + [f"k{i}" for i in range(N)])


def copy_pair(n: int) -> Case:
    rng = np.random.default_rng(1)
    sig = {"f": ((n,), (n,)), "g": ((n,), (n,))}
    term = ("then", ("copy", n, 2), ("tensor", ("box", "f"), ("box", "g")))
    return Case(f"copy>>(f@g) n={n}", term, sig, {k: _rng_kernel(rng, n, n) for k in sig}, "ab,ac->abc", ["f", "g"])


def lm(n: int) -> Case:
    """A context state on C (n), an encoder C -> H (n/4, deterministic), heads H -> V (n) twice."""
    rng, h = np.random.default_rng(2), max(2, n // 4)
    sig = {"ctx": ((), (n,)), "enc": ((n,), (h,)), "head": ((h,), (n,)), "draft": ((h,), (n,))}
    kernels = {"ctx": _rng_kernel(rng, 1, n)[0], "enc": _rng_kernel(rng, n, h, True),
               "head": _rng_kernel(rng, h, n), "draft": _rng_kernel(rng, h, n)}
    term = ("then", ("then", ("then", ("box", "ctx"), ("box", "enc")), ("copy", h, 2)),
            ("tensor", ("box", "head"), ("box", "draft")))
    return Case(f"LM heads n={n}", term, sig, kernels, "c,ch,hv,hw->vw", ["ctx", "enc", "head", "draft"])


def unrolled(n: int, k: int) -> Case:
    """k tokens of a bigram kernel: w1 ~ gen(s), w_{j+1} ~ gen(w_j), all k tokens kept."""
    rng = np.random.default_rng(3)
    sig = {"s": ((), (n,)), "gen": ((n,), (n,))}
    step = ("then", ("copy", n, 2), ("tensor", ("id", 1, n), ("box", "gen")))
    term = ("then", ("box", "s"), ("box", "gen"))
    for j in range(1, k):
        term = ("then", term, ("tensor", ("id", j - 1, n), step) if j > 1 else step)
    sym = [oe.get_symbol(i) for i in range(k + 1)]
    eq = ",".join([sym[0]] + [sym[i] + sym[i + 1] for i in range(k)]) + "->" + "".join(sym[1:])
    return Case(f"unrolled n={n} k={k}", term, sig, {"s": _rng_kernel(rng, 1, n)[0], "gen": _rng_kernel(rng, n, n)},
                eq, ["s"] + ["gen"] * k)


# --- catlm --------------------------------------------------------------------------------------------

def _ob(n: int) -> Finite:
    return Finite.range(f"N{n}", n)


def _ty(sizes) -> Ty:
    return Ty(*map(_ob, sizes))


def catlm_diagram(case: Case):
    def go(t):
        kind = t[0]
        if kind == "then":
            return go(t[1]) >> go(t[2])
        if kind == "tensor":
            return go(t[1]) @ go(t[2])
        if kind == "box":
            dom, cod = case.signature[t[1]]
            return identity(_ty(dom)) >> Box(t[1], _ty(dom), _ty(cod))
        if kind == "copy":
            return copy(_ty([t[1]]), t[2])
        return identity(_ty([t[2]] * t[1]))
    return typecheck(go(case.term))


# --- DisCoPy ------------------------------------------------------------------------------------------

def discopy_run(case: Case):
    from discopy import markov, tensor
    ty = lambda sizes: markov.Ty(*(f"N{n}" for n in sizes))  # noqa: E731
    boxes = {name: markov.Box(name, ty(d), ty(c)) for name, (d, c) in case.signature.items()}

    def go(t):
        kind = t[0]
        if kind in ("then", "tensor"):
            a, b = go(t[1]), go(t[2])
            return a >> b if kind == "then" else a @ b
        if kind == "box":
            return boxes[t[1]]
        if kind == "copy":
            return markov.Copy(ty([t[1]]), t[2])
        return markov.Id(ty([t[2]] * t[1]))
    diagram = go(case.term)
    sizes = {n for d, c in case.signature.values() for n in d + c}
    F = markov.Functor(ob={markov.Ty(f"N{n}"): tensor.Dim(n) for n in sizes},
                       ar={boxes[k]: v for k, v in case.kernels.items()},
                       cod=markov.Category(tensor.Dim, tensor.Tensor[float]))
    return diagram, F


def discopy_predicted(diagram) -> int:
    """Each layer is evaluated as id(left) @ box @ id(right): (L R)^2 |dom| |cod| numbers, ~3 alive."""
    size = lambda t: prod(int(o.name[1:]) for o in t.inside)  # noqa: E731
    worst = max(((size(left) * size(right)) ** 2 * size(box.dom) * size(box.cod)
                 for left, box, right in diagram.inside), default=1)
    return 3 * 8 * worst


# --- naive matrices (the paper's Def. 2.2) --------------------------------------------------------------------

def naive_eval(case: Case, t) -> np.ndarray:
    kind = t[0]
    if kind == "then":
        return naive_eval(case, t[1]) @ naive_eval(case, t[2])
    if kind == "tensor":
        return np.kron(naive_eval(case, t[1]), naive_eval(case, t[2]))
    if kind == "box":
        dom, cod = case.signature[t[1]]
        return case.kernels[t[1]].reshape(prod(dom), prod(cod))
    if kind == "copy":
        n, m = t[1], np.zeros((t[1], t[1] ** t[2]))
        m[np.arange(n), sum(np.arange(n) * n ** j for j in range(t[2]))] = 1
        return m
    return np.eye(t[2] ** t[1])


def naive_predicted(case: Case, t) -> tuple[tuple[int, int], int]:
    """(rows, cols) of the term's matrix and the largest matrix built on the way, in bytes."""
    kind = t[0]
    if kind in ("then", "tensor"):
        (r1, c1), p1 = naive_predicted(case, t[1])
        (r2, c2), p2 = naive_predicted(case, t[2])
        shape = (r1, c2) if kind == "then" else (r1 * r2, c1 * c2)
        return shape, max(p1, p2, 8 * (r1 * c1 + r2 * c2 + shape[0] * shape[1]))
    if kind == "box":
        dom, cod = case.signature[t[1]]
        return (prod(dom), prod(cod)), 0
    if kind == "copy":
        return (t[1], t[1] ** t[2]), 8 * t[1] ** (t[2] + 1)
    return (t[2] ** t[1],) * 2, 8 * t[2] ** (2 * t[1])


# --- running one case ---------------------------------------------------------------------------------

def run_case(case: Case, discopy_ok: bool = True) -> dict:
    d = catlm_diagram(case)
    F = finstoch(case.kernels)
    ops = [case.kernels[k] for k in case.operands]
    path, _ = oe.contract_path(case.equation, *ops, optimize="optimal" if len(ops) <= 4 else "dp")
    want = oe.contract(case.equation, *ops, optimize=path)
    got = F(d).array
    assert np.allclose(got.reshape(-1), want.reshape(-1), atol=1e-9), case.name
    row = {"case": case.name,
           "catlm": median_time(lambda: F(d)),
           "compile": median_time(lambda: compile(d, params=case.kernels)),
           "hand": median_time(lambda: oe.contract(case.equation, *ops, optimize=path)),
           "mem_catlm": peak_bytes(lambda: F(d)),
           "inputs": sum(v.nbytes for v in case.kernels.values()), "output": want.nbytes}
    row.update(_competitor("discopy", case, discopy_ok, want))
    row.update(_competitor("naive", case, True, want))
    return row


def _competitor(name: str, case: Case, allowed: bool, want: np.ndarray) -> dict:
    if name == "discopy":
        diagram, F = discopy_run(case)
        need, fn = discopy_predicted(diagram), lambda: F(diagram)
    else:
        need, fn = naive_predicted(case, case.term)[1], lambda: naive_eval(case, case.term)
    if need > LIMIT or not allowed:
        return {name: f"OOM (predicted {need / GiB:.1f} GiB)" if need > LIMIT else "skipped"}
    value = fn()
    array = np.asarray(value.array if hasattr(value, "array") else value)
    assert np.allclose(array.reshape(-1), want.reshape(-1), atol=1e-9), (name, case.name)
    return {name: median_time(fn, budget_s=0.2, min_repeats=1 if need > GiB / 8 else 3)}


# --- the table ----------------------------------------------------------------------------------------

def cases(quick: bool) -> list[Case]:
    if quick:
        return [chain(8, 64), chain(64, 16), chain(256, 16), copy_pair(64), copy_pair(128), lm(256),
                unrolled(8, 4)]
    return ([chain(8, 64)] + [chain(n, N) for n in (64, 256, 1024, 2048) for N in (4, 16, 64)]
            + [copy_pair(n) for n in (64, 128, 256, 512)] + [lm(n) for n in (256, 1024, 2048)]
            + [unrolled(n, k) for n, k in ((8, 2), (8, 4), (8, 6), (16, 4), (16, 5))])


def _cell(x) -> str:
    return x if isinstance(x, str) else fmt_time(x)


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if isinstance(a, float) and isinstance(b, float) else "-"


def table(rows: list[dict]) -> str:
    head = ["case", "catlm", "compile", "hand", "DisCoPy", "naive", "catlm/hand", "DisCoPy/catlm",
            "peak catlm", "inputs+output"]
    lines = [head] + [[r["case"], _cell(r["catlm"]), _cell(r["compile"]), _cell(r["hand"]), _cell(r["discopy"]),
                       _cell(r["naive"]), _ratio(r["catlm"], r["hand"]), _ratio(r["discopy"], r["catlm"]),
                       fmt_bytes(r["mem_catlm"]), fmt_bytes(r["inputs"] + r["output"])] for r in rows]
    widths = [max(len(line[j]) for line in lines) for j in range(len(head))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (under a minute)")
    args = parser.parse_args(argv)
    rows = []
    for case in cases(args.quick):
        rows.append(run_case(case))
        print(f"done {case.name}", file=sys.stderr, flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
