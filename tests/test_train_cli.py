"""``catlm train`` and ``catlm sample``: a spec trains from the command line, resumes after a kill,
refuses a vocabulary of the wrong size, samples reproducibly with and without the KV cache, and
trains data-parallel under torchrun to the single-process result."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="catlm train needs torch (pip install catlm[torch])")

from safetensors.torch import load_file  # noqa: E402

from catlm.cli import main  # noqa: E402
from catlm.models.checkpoint import latest_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
from shared_data import shakespeare_file  # noqa: E402
SPEC = """# a tiny character LM for tests
object Tok = fin {V}
object E   = real 16
object H   = real 16
kernel emb  : Tok* -> E* = embedding(dim=16, positions=learned, context=16)
kernel bb   : E* -> H    = transformer(layers=1, heads=2, context=16)
kernel head : H -> Tok   = linear_softmax(tie=emb)
kernel gen  = emb >> bb >> head
"""
FAST = ["--batch", "4", "--block", "16", "--eval-iters", "1", "--device", "cpu", "--seed", "3"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return shakespeare_file(tmp_path_factory.mktemp("corpus"), 20000)


@pytest.fixture(scope="module")
def spec(corpus, tmp_path_factory) -> Path:
    vocab = len(set(corpus.read_text(encoding="utf-8")))
    path = tmp_path_factory.mktemp("spec") / "tiny.cat"
    path.write_text(SPEC.format(V=vocab), encoding="utf-8")
    return path


def cli(capsys, *argv) -> dict:
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(run) / "model.safetensors"))


@pytest.fixture(scope="module")
def trained(spec, corpus, tmp_path_factory) -> tuple[Path, dict]:
    """One short CLI training run shared by the tests that read its output."""
    out = tmp_path_factory.mktemp("run")
    argv = ["train", spec, "--corpus", corpus, "--steps", "40", "--eval-interval", "20", "--lr", "3e-3",
            "--out", out, "--json", *FAST]
    return out, run_json(argv)


def run_json(argv) -> dict:
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main([str(a) for a in argv]) == 0
    return json.loads(buffer.getvalue())


def test_a_char_spec_trains_from_the_cli_and_reports_json(trained, corpus):
    out, summary = trained
    assert summary["steps"] == 40 and summary["kernel"] == "gen"
    vocab = len(set(corpus.read_text(encoding="utf-8")))
    assert summary["val_loss"] < 0.9 * torch.log(torch.tensor(float(vocab)))  # it learned something
    assert Path(summary["checkpoint"]).name == "step-00000040" and Path(summary["plot"]).is_file()
    state = json.loads((Path(summary["checkpoint"]) / "state.json").read_text())
    assert state["meta"]["kernel"] == "gen" and "linear_softmax" in state["meta"]["spec"]
    assert json.loads(state["tokenizer"])["kind"] == "char"
    assert state["model_config"]["vocab"] == vocab


def test_a_vocabulary_of_the_wrong_size_names_both_sizes(spec, corpus, tmp_path, capsys):
    wrong = tmp_path / "wrong.cat"
    wrong.write_text(spec.read_text().replace("fin ", "fin 1"), encoding="utf-8")
    size = len(set(corpus.read_text(encoding="utf-8")))
    assert main(["train", str(wrong), "--corpus", str(corpus), "--steps", "1"]) == 1
    err = capsys.readouterr().err
    assert f"Tok = fin 1{size}" in err and f"has {size} tokens" in err
    assert f"declare `object Tok = fin {size}`" in err and "wrong.cat:" in err


def test_lm_cat_is_refused_with_a_char_tokenizer_and_its_drafter_is_no_lm(corpus, capsys):
    assert main(["train", str(ROOT / "examples/lm.cat"), "-k", "gen", "--corpus", str(corpus)]) == 1
    assert "Tok = fin 50257" in capsys.readouterr().err
    assert main(["train", str(ROOT / "examples/lm.cat"), "--corpus", str(corpus)]) == 1
    assert "choose one with -k: gen" in capsys.readouterr().err


def test_sampling_is_reproducible_and_the_kv_cache_changes_nothing(trained, capsys):
    run, _ = trained
    argv = ["sample", run, "--prompt", "ROMEO:", "--max-new", "20", "--seed", "0", "--json"]
    first, again = cli(capsys, *argv), cli(capsys, *argv)
    uncached = cli(capsys, *argv, "--no-cache")
    assert first == again and len(first["tokens"]) == 20 and len(first["logprobs"]) == 20
    assert first["tokens"] == uncached["tokens"]  # 6 + 20 tokens: the window slides past 16
    assert all(abs(a - b) < 1e-5 for a, b in zip(first["logprobs"], uncached["logprobs"]))
    assert all(lp <= 0 for lp in first["logprobs"]) and first["text"] != ""
    other = cli(capsys, "sample", run, "--prompt", "ROMEO:", "--max-new", "20", "--seed", "1", "--json")
    assert other["tokens"] != first["tokens"]


def test_sampling_refuses_a_folder_without_checkpoint(tmp_path, capsys):
    assert main(["sample", str(tmp_path)]) == 1
    assert "no catlm checkpoint" in capsys.readouterr().err


def train_argv(spec, corpus, out, steps=120) -> list[str]:
    return ["train", str(spec), "--corpus", str(corpus), "--steps", str(steps), "--eval-interval", "10",
            "--out", str(out), "--json", *FAST]


def test_resume_after_a_kill_reaches_the_uninterrupted_parameters(spec, corpus, tmp_path, capsys):
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "catlm", *train_argv(spec, corpus, killed)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while latest_checkpoint(killed) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = json.loads((latest_checkpoint(killed) / "state.json").read_text())["step"]
    assert stopped_at < 120, "the run finished before it could be killed"
    resumed = cli(capsys, *train_argv(spec, corpus, killed), "--resume")
    straight = cli(capsys, *train_argv(spec, corpus, tmp_path / "straight"))
    assert resumed["steps"] == straight["steps"] == 120
    a, b = weights(killed), weights(tmp_path / "straight")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_processes_equal_one_process_on_the_global_batch(spec, corpus, tmp_path, capsys):
    argv = train_argv(spec, corpus, tmp_path / "ddp", steps=6) + ["--dtype", "float64"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "-m", "catlm", *argv]
    done = subprocess.run(torchrun, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["steps"] == 6  # rank 0 alone prints
    single = cli(capsys, *train_argv(spec, corpus, tmp_path / "one", steps=6), "--dtype", "float64")
    a, b = weights(tmp_path / "ddp"), weights(tmp_path / "one")
    assert all(torch.allclose(a[k], b[k], atol=1e-5, rtol=0) for k in a)
    assert single["steps"] == 6 and a["kernels.emb.wte.weight"].dtype == torch.float64
    import catlm
    torch.manual_seed(3)  # the initial weights of --seed 3: training moved them
    fresh = catlm.compile(catlm.load(spec).kernels["gen"], backend="torch").state_dict()
    assert not torch.allclose(fresh["kernels.emb.wte.weight"].double(), a["kernels.emb.wte.weight"])


@pytest.mark.slow
def test_the_bundled_lm_spec_trains_with_a_gpt2_sized_bpe(capsys, corpus, tmp_path):
    """examples/lm.cat declares Tok = fin 50257; bpe:50257 fits it even on a small corpus."""
    out = tmp_path / "lm"
    summary = cli(capsys, "train", ROOT / "examples" / "lm.cat", "-k", "gen", "--corpus", corpus,
                  "--tokenizer", "bpe:50257", "--steps", "2", "--batch", "2", "--block", "16",
                  "--eval-iters", "1", "--out", out, "--json")
    assert summary["steps"] == 2 and summary["kernel"] == "gen"
    assert abs(summary["train_loss"] - torch.log(torch.tensor(50257.0)).item()) < 1.0
    tables = {k: tuple(v.shape) for k, v in weights(out).items() if v.shape[:1] == (50257,)}
    assert tables and all(shape == (50257, 256) for shape in tables.values())


def test_a_trained_spec_is_read_back_by_every_command(trained, corpus, tmp_path):
    """sample, speculate and analyze all rebuild the compiled spec from the checkpoint alone."""
    from catlm.backends.torch import DiagramModule
    from catlm.models.loading import load_model
    out, _ = trained
    loaded = load_model(out)
    assert isinstance(loaded.model, DiagramModule) and loaded.meta["kernel"] == "gen"
    plain = run_json(["sample", out, "--prompt", "A", "--max-new", "8", "--temperature", "0", "--json"])
    spec = run_json(["speculate", out, "--drafter", "lookup", "--gamma", "3", "--max-new", "8",
                     "--temperature", "0", "--prompt", "A", "--json"])
    assert spec["text"] == plain["text"]  # greedy speculative decoding is greedy decoding
    report = run_json(["analyze", out, "--corpus", corpus, "--quick", "--out", tmp_path / "rep",
                       "--json"])
    assert (tmp_path / "rep" / "report.md").is_file() and report
