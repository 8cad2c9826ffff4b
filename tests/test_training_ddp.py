"""DDP: two gloo processes take the same steps as one process on the whole global batch."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="DDP needs torch (pip install catlm[torch])")
if not torch.distributed.is_available():
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)

from safetensors.torch import load_file  # noqa: E402

from catlm.models.checkpoint import latest_checkpoint  # noqa: E402
from catlm.models.gpt import GPT, GPTConfig  # noqa: E402
from catlm.models.training import TrainConfig, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = GPTConfig(vocab=12, context=16, layers=1, heads=2, dim=16, chunk=5)
# float64: the key bias has an exactly zero gradient, and in float32 Adam would turn the round-off
# of two different summation orders into updates of size lr; in float64 Adam's eps swamps it
CONFIG = TrainConfig(steps=6, batch=4, block=8, lr=1e-2, warmup=2, eval_interval=3, eval_iters=1,
                     seed=11, val_fraction=0.2, device="cpu", dtype="float64")

RANK_SCRIPT = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {root!r})
    sys.path.insert(0, {tests!r})
    from safetensors.torch import save_file
    from catlm.models import distributed
    from catlm.models.training import train
    from test_training_ddp import CONFIG, fresh_model, tokens
    torch.set_num_threads(1)
    model = fresh_model()
    summary = train(model, tokens(), CONFIG, out_dir={out!r}, progress=False)
    rank = torch.distributed.get_rank()
    save_file({{k: v.contiguous() for k, v in model.state_dict().items() if k != "head.weight"}},
              {out!r} + f"/rank{{rank}}.safetensors")
    print("plot", rank, summary.plot)
    distributed.shutdown()
""")


def tokens(n: int = 400) -> torch.Tensor:
    return (torch.arange(n) * 7 + torch.arange(n) // 5) % 12


def fresh_model() -> GPT:
    torch.manual_seed(0)
    return GPT(MODEL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(out: Path, world: int = 2) -> list[subprocess.CompletedProcess]:
    script = RANK_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"), out=str(out))
    base = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
            "WORLD_SIZE": str(world), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**base, "RANK": str(r), "LOCAL_RANK": str(r)})
             for r in range(world)]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate()) for p in procs]


@pytest.mark.slow
def test_two_processes_equal_one_process_on_the_global_batch(tmp_path):
    results = launch(tmp_path)
    assert [r.returncode for r in results] == [0, 0], results[0].stderr[-2000:] + results[1].stderr[-2000:]
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1)]
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])  # replicas never drift
    single = fresh_model()
    train(single, tokens(), CONFIG, progress=False)
    for key, value in single.state_dict().items():
        if key != "head.weight":
            assert torch.allclose(ranks[0][key], value, atol=1e-5), key
    assert not torch.equal(ranks[0]["emb.wte.weight"], fresh_model().emb.wte.weight)  # it trained
    # only rank 0 writes: one checkpoint folder, one plot
    assert latest_checkpoint(tmp_path) is not None and (tmp_path / "loss.png").exists()
    assert "plot 1 None" in results[1].stdout
    # each rank's dropout stream is its own (seed + rank) and the checkpoint keeps both
    streams = json.loads((latest_checkpoint(tmp_path) / "state.json").read_text())["rng"]["torch"]
    seeded = [torch.Generator().manual_seed(CONFIG.seed + r).get_state().tolist() for r in (0, 1)]
    assert streams == seeded  # no dropout in this model: the streams are as seeded


def test_the_global_batch_must_split_over_the_processes():
    from catlm.errors import BackendError
    from catlm.models.distributed import DistContext, shard
    with pytest.raises(BackendError, match="does not split over 3"):
        shard(torch.zeros(4, 2), DistContext(rank=0, world_size=3))
    assert torch.equal(shard(torch.arange(6), DistContext(rank=1, world_size=3)), torch.tensor([2, 3]))
