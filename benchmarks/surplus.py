"""Benchmark of the exact information surplus on tinyshakespeare: the sparse encoder against the
dense one-hot encoder it replaced, in the same run.

For each order r of the character n-gram source and each K, the surplus of the encoder that keeps
the whole context (the largest hidden space, m = number of contexts) is computed

* sparse: ``NgramSource.surplus`` (the encoder is a sparse 0/1 matrix, never n × m floats);
* dense: the former construction, ``np.eye(m)[labels]`` then a sparse product, run only when its
  predicted one-hot array is under ``--dense-limit`` GiB (else "OOM (predicted X GiB)").

Each measurement runs in a fresh subprocess, so the peak resident memory (``ru_maxrss``) is that
of the computation alone (the interpreter, numpy and scipy add about 60-80 MiB); the tracemalloc
peak counts numpy and scipy buffers only. The two values must agree to 1e-12.
Usage: ``python benchmarks/surplus.py [--quick] [--corpus PATH]``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import GiB, fmt_bytes, fmt_time  # noqa: E402

CORPUS = Path(os.environ.get("CATLM_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "tinyshakespeare.txt"

MEASURE = r"""
import json, resource, sys, time, tracemalloc
import numpy as np, scipy.sparse as sp
from catlm.data.corpus import read_text
from catlm.data.ngram import NgramSource
from catlm.analysis import surplus as S
corpus, order, steps, method = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
source = NgramSource.from_text(read_text(corpus), order, cyclic=True)
labels = source.suffix_encoder(order)
kernel, law = source.k_step_kernel(steps), source.context_law()

def dense_surplus():
    E = np.eye(int(labels.max()) + 1)[labels]                    # the former encoder, n x m floats
    joint = sp.csr_matrix(E.T) @ (sp.diags(law) @ sp.csr_matrix(kernel))
    return S._kl_terms(*S._cells(joint), source.vocab_size, steps)[0]

run = {"sparse": lambda: S.information_surplus(law, kernel, labels, steps=steps).value,
       "dense": dense_surplus}[method]
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
tracemalloc.start()
start = time.perf_counter()
value = run()
seconds = time.perf_counter() - start
traced = tracemalloc.get_traced_memory()[1]
print(json.dumps({"value": float(value), "seconds": seconds, "traced": traced, "contexts": len(labels),
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "rss_before": baseline}))
"""


def measure(corpus: str, order: int, steps: int, method: str) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, corpus, str(order), str(steps), method],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def contexts(corpus: str, order: int) -> int:
    from catlm.data.corpus import read_text
    from catlm.data.ngram import NgramSource
    return len(NgramSource.from_text(read_text(corpus), order, cyclic=True).codes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="orders 2-3, K <= 2")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--dense-limit", type=float, default=1.5, help="GiB of one-hot array to try")
    args = parser.parse_args()
    orders, ks = ((2, 3), (1, 2)) if args.quick else ((2, 3, 4, 5), (1, 2, 3))
    print("| order | contexts | K | surplus (nats) | sparse time | sparse peak RSS | sparse traced "
          "| dense time | dense peak RSS | dense traced |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for order in orders:
        n = contexts(args.corpus, order)
        for K in ks:
            sparse = measure(args.corpus, order, K, "sparse")
            predicted = n * n * 8
            if predicted <= args.dense_limit * GiB:
                dense = measure(args.corpus, order, K, "dense")
                assert abs(dense["value"] - sparse["value"]) < 1e-12, (dense, sparse)
                dense_cells = (fmt_time(dense["seconds"]), fmt_bytes(dense["rss"]), fmt_bytes(dense["traced"]))
            else:
                dense_cells = (f"OOM (predicted {predicted / GiB:.1f} GiB one-hot)", "-", "-")
            print(f"| {order} | {n} | {K} | {sparse['value']:.6f} | {fmt_time(sparse['seconds'])} "
                  f"| {fmt_bytes(sparse['rss'])} | {fmt_bytes(sparse['traced'])} | " + " | ".join(dense_cells)
                  + " |", flush=True)


if __name__ == "__main__":
    main()
