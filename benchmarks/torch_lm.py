"""The torch backend against nanoGPT: step time, the CPU recipe on tinyshakespeare, head memory.

(a) A training step (forward, backward, AdamW) of the DiagramModule compiled from a char spec
    against ``NanoGPT`` (``tests/nanogpt.py``) with identical weights and config, steps alternating
    in one run so that machine load hits both alike; median seconds and their ratio (goal <= 1.10).
(b) nanoGPT's CPU recipe (4 layers, 4 heads, 128 dims, block 64, batch 12, 2000 iterations, dropout
    0, lr 1e-3 -> 1e-4, warmup 100, beta2 0.99) through ``catlm.models.training.train``: validation
    loss and wall time. The step time measured in (a) decides: if 2000 steps would not fit in
    ``--minutes``, as many as fit are run (on the full run's schedule) and the projection is printed.
(c) Bytes autograd saves for backward (``catlm.models.memory``) at V = 50,257: the chunked head vs the
    naive ``F.cross_entropy`` head, and a whole compiled model vs NanoGPT.

    python benchmarks/torch_lm.py [--quick] [--minutes 10] [--corpus PATH]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the NanoGPT oracle lives with the tests

import catlm  # noqa: E402
from catlm.data.corpus import read_text  # noqa: E402
from catlm.data.tokenizers import CharTokenizer  # noqa: E402
from catlm.models.memory import head_memory, saved_tensor_bytes  # noqa: E402
from catlm.models.training import TrainConfig, train  # noqa: E402
from nanogpt import NanoGPT  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
SPEC = """object Tok = fin {V}
object E   = real {d}
object H   = real {d}
kernel emb  : Tok* -> E* = embedding(dim={d}, positions=learned, context={T})
kernel bb   : E* -> H    = transformer(layers={L}, heads={heads}, context={T})
kernel head : H -> Tok   = linear_softmax(tie=emb)
kernel gen  = emb >> bb >> head
"""
RECIPE = dict(V=65, d=128, T=64, L=4, heads=4)
RENAMES = {"kernels.emb.wte.": "transformer.wte.", "kernels.emb.wpe.": "transformer.wpe.",
           "kernels.bb.h.": "transformer.h.", "kernels.bb.ln_f.": "transformer.ln_f.",
           "kernels.head.weight": "lm_head.weight"}


def compiled(V=65, d=128, T=64, L=4, heads=4):
    return catlm.compile(catlm.parse(SPEC.format(V=V, d=d, T=T, L=L, heads=heads)).kernels["gen"],
                         backend="torch")


def nano_twin(module, V=65, d=128, T=64, L=4, heads=4) -> NanoGPT:
    """A NanoGPT holding a copy of the compiled module's weights."""
    nano = NanoGPT(V, T, L, heads, d)
    rename = lambda k: next(RENAMES[p] + k[len(p):] for p in RENAMES if k.startswith(p))  # noqa: E731
    nano.load_state_dict({rename(k): v.detach().clone() for k, v in module.state_dict().items()})
    return nano


def step_time(steps: int, batch: int = 12) -> dict:
    torch.manual_seed(0)
    module = compiled(**RECIPE)
    nano = nano_twin(module, **RECIPE)
    probe = torch.randint(0, 65, (2, 64))
    assert torch.allclose(module(probe), nano(probe)[0], atol=1e-5), "the twins disagree"
    runs = {"diagram": (module.loss, torch.optim.AdamW(module.parameters())),
            "nanogpt": (lambda x, y: nano(x, y)[1], torch.optim.AdamW(nano.parameters()))}
    times = {name: [] for name in runs}
    for i in range(steps + 3):
        idx = torch.randint(0, 65, (batch, 65))
        for name, (loss_of, opt) in runs.items():
            start = time.perf_counter()
            loss_of(idx[:, :-1], idx[:, 1:]).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if i >= 3:
                times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    return {**med, "ratio": med["diagram"] / med["nanogpt"], "steps": steps}


def recipe(minutes: float, corpus: Path, quick: bool, per_step: float) -> dict:
    """``per_step``: seconds per training step, the median measured in (a) on the same model."""
    text = read_text(corpus)
    tokenizer = CharTokenizer.from_text(text)
    full = 2000
    config = TrainConfig(steps=full, batch=12, block=64, lr=1e-3, min_lr=1e-4, warmup=100, decay_steps=full,
                         weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0, eval_interval=250,
                         eval_iters=20, seed=1337, device="cpu")
    steps = min(full, max(50, int(minutes * 60 / (per_step * 1.15))))  # 15% for evaluations
    if quick:
        steps = min(steps, 100)
    torch.manual_seed(1337)
    module = compiled(**RECIPE)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        summary = train(module, text, _with_steps(config, steps), out_dir=out, progress=False,
                        tokenizer=tokenizer)
    wall = time.perf_counter() - start
    return {"steps": steps, "val_loss": summary.val_loss, "train_loss": summary.train_loss, "wall_s": wall,
            "step_s": per_step, "projected_full_s": per_step * full * 1.15, "tokens_per_s": summary.tokens_per_s}


def _with_steps(config: TrainConfig, steps: int) -> TrainConfig:
    from dataclasses import replace
    return replace(config, steps=steps, eval_interval=min(config.eval_interval, steps))


def memory() -> dict:
    head = head_memory(12 * 64, 128, 50257, 8192)
    torch.manual_seed(0)
    big = dict(V=50257, d=128, T=64, L=4, heads=4)
    module = compiled(**big)
    nano = nano_twin(module, **big)
    idx = torch.randint(0, 50257, (12, 65))
    x, y = idx[:, :-1], idx[:, 1:]
    model_diagram = saved_tensor_bytes(lambda: module.loss(x, y), exclude=list(module.parameters()))
    model_nano = saved_tensor_bytes(lambda: nano(x, y)[1], exclude=list(nano.parameters()))
    return {"head_naive": head["naive"], "head_chunked": head["chunked"], "model_diagram": model_diagram,
            "model_nanogpt": model_nano}


def mib(n: int) -> str:
    return f"{n / 2 ** 20:.2f} MiB"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps everywhere (a smoke run)")
    parser.add_argument("--minutes", type=float, default=10.0, help="time allowed for the recipe (b)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    a = step_time(10 if args.quick else 100)
    print("(a) training step, V=65, 4x4x128, block 64, batch 12 (median of", a["steps"], "steps)")
    print(f"    DiagramModule {a['diagram'] * 1e3:.1f} ms   NanoGPT {a['nanogpt'] * 1e3:.1f} ms   "
          f"ratio {a['ratio']:.3f} (goal <= 1.10)")
    c = memory()
    print("(c) saved for backward at V=50,257, N = 12 x 64")
    print(f"    head: naive {mib(c['head_naive'])}  chunked {mib(c['head_chunked'])}  "
          f"ratio {c['head_naive'] / c['head_chunked']:.0f}x")
    print(f"    model: NanoGPT {mib(c['model_nanogpt'])}  DiagramModule {mib(c['model_diagram'])}  "
          f"ratio {c['model_nanogpt'] / c['model_diagram']:.1f}x")
    if not args.corpus.is_file():
        print(f"(b) skipped: no corpus at {args.corpus}")
        return
    b = recipe(args.minutes, args.corpus, args.quick, a["diagram"])
    print(f"(b) nanoGPT CPU recipe: {b['steps']} of 2000 steps in {b['wall_s']:.0f} s "
          f"({b['wall_s'] / b['steps'] * 1e3:.0f} ms/step with evaluations, {b['tokens_per_s']:.0f} tokens/s; "
          f"2000 steps projected {b['wall_s'] / b['steps'] * 2000 / 60:.1f} min)")
    print(f"    validation loss {b['val_loss']:.4f}, train loss {b['train_loss']:.4f} nats/token "
          "(nanoGPT reports 1.88 after 2000 steps)")


if __name__ == "__main__":
    main()
