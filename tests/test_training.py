"""Training: schedule, loss going down, checkpoints (safetensors + JSON) and exact resumption."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install catlm[torch])")

from safetensors.torch import load_file  # noqa: E402

from catlm.data.tokenizers import CharTokenizer, tokenizer_from_json  # noqa: E402
from catlm.errors import BackendError, UsageError  # noqa: E402
from catlm.models import checkpoint as ckpt  # noqa: E402
from catlm.models.checkpoint import latest_checkpoint, load_checkpoint, restore  # noqa: E402
from catlm.models.gpt import GPT, GPTConfig  # noqa: E402
from catlm.models.training import TrainConfig, lr_at, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = GPTConfig(vocab=12, context=16, layers=1, heads=2, dim=16, dropout=0.1, chunk=5)
CONFIG = TrainConfig(steps=16, batch=4, block=8, lr=1e-2, min_lr=1e-3, warmup=3, eval_interval=4,
                     eval_iters=2, seed=3, val_fraction=0.2, device="cpu")


def tokens(n: int = 600) -> torch.Tensor:
    """A noisy cycle over 12 symbols: learnable but not trivial."""
    g = torch.Generator().manual_seed(0)
    base = torch.arange(n) % 12
    noise = torch.randint(0, 12, (n,), generator=g)
    return torch.where(torch.rand(n, generator=g) < 0.1, noise, base)


def fresh_model(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(MODEL)


def params(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_schedule_warmup_then_cosine():
    c = TrainConfig(steps=100, lr=1.0, min_lr=0.1, warmup=10)
    assert lr_at(0, c) == pytest.approx(1 / 11) and lr_at(9, c) == pytest.approx(10 / 11)
    assert lr_at(10, c) == pytest.approx(1.0)
    assert lr_at(55, c) == pytest.approx(0.55)  # halfway through the cosine: the mean of lr and min_lr
    assert lr_at(100, c) == lr_at(500, c) == 0.1
    longer = replace(c, decay_steps=190)
    assert lr_at(100, longer) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.5)))


@pytest.mark.slow
def test_training_lowers_the_loss_and_writes_artefacts(tmp_path):
    model = fresh_model()
    config = replace(CONFIG, steps=60, eval_interval=20)
    tok = CharTokenizer("abcdefghijkl")
    summary = train(model, tokens(), config, out_dir=tmp_path, progress=False, tokenizer=tok,
                    meta={"spec": "kernel gen = emb >> bb >> head"})
    first, last = summary.history[0], summary.history[-1]
    assert summary.steps == 60 and [h["step"] for h in summary.history] == [0, 20, 40, 60]
    assert first["val"] == pytest.approx(math.log(12), abs=0.1)  # the initial model is near uniform
    assert last["val"] < summary.history[1]["val"] < first["val"]
    assert summary.val_loss == last["val"] and summary.tokens_per_s > 0
    assert Path(summary.plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(summary.checkpoint) == latest_checkpoint(tmp_path)


def test_checkpoint_is_safetensors_and_json_only(tmp_path):
    model = fresh_model()
    tok = CharTokenizer("abcdefghijkl")
    train(model, tokens(), CONFIG, out_dir=tmp_path, progress=False, tokenizer=tok, meta={"spec": "x"})
    path = latest_checkpoint(tmp_path)
    assert sorted(p.name for p in path.iterdir()) == ["model.safetensors", "optimizer.safetensors",
                                                      "state.json"]
    state = json.loads((path / "state.json").read_text())
    assert state["step"] == 16 and state["model_config"] == MODEL.to_dict()
    assert state["train_config"]["seed"] == 3 and state["meta"] == {"spec": "x"}
    assert tokenizer_from_json(state["tokenizer"]) == tok
    assert all(isinstance(b, int) for b in state["rng"]["data"] + state["rng"]["torch"][0])
    assert len(state["rng"]["torch"]) == 1 and isinstance(state["run"], str)  # one process, one stream
    stored = load_file(str(path / "model.safetensors"))
    # the tied table is stored once, under one of its two names
    assert len({"emb.wte.weight", "head.weight"} & set(stored)) == 1
    restored = GPT(GPTConfig(**state["model_config"]))
    restore(load_checkpoint(path), restored, None)
    assert all(torch.equal(a, b) for a, b in zip(restored.state_dict().values(), model.state_dict().values()))
    assert restored.head.weight is restored.emb.weight


def test_half_run_then_resume_equals_uninterrupted(tmp_path):
    """N steps at once vs N/2, stop, resume to N: the same parameters, bitwise (dropout on)."""
    full = fresh_model()
    a = train(full, tokens(), replace(CONFIG, decay_steps=16), progress=False)
    half = fresh_model()
    train(half, tokens(), replace(CONFIG, steps=8, decay_steps=16), out_dir=tmp_path, progress=False)
    resumed = fresh_model(seed=99)  # different init: everything must come from the checkpoint
    b = train(resumed, tokens(), replace(CONFIG, decay_steps=16), out_dir=tmp_path, progress=False,
              resume=True)
    assert all(torch.equal(x, y) for x, y in zip(params(full).values(), params(resumed).values()))
    assert a.val_loss == b.val_loss and a.history == b.history


def test_resume_refuses_a_different_trajectory(tmp_path):
    train(fresh_model(), tokens(), replace(CONFIG, steps=4), out_dir=tmp_path, progress=False)
    with pytest.raises(UsageError, match="batch 2 here, 4 in the run, lr 0.5 here, 0.01 in the run"):
        train(fresh_model(), tokens(), replace(CONFIG, lr=0.5, batch=2), out_dir=tmp_path,
              progress=False, resume=True)
    with pytest.raises(UsageError, match="decay_steps") as err:  # extending steps moves the cosine
        train(fresh_model(), tokens(), replace(CONFIG, steps=8), out_dir=tmp_path, progress=False,
              resume=True)
    assert "--decay-steps 4" in err.value.hint


def test_resume_without_checkpoint_starts_afresh(tmp_path):
    a, b = fresh_model(), fresh_model()
    train(a, tokens(), CONFIG, progress=False)
    train(b, tokens(), CONFIG, out_dir=tmp_path / "new", progress=False, resume=True)
    assert all(torch.equal(x, y) for x, y in zip(params(a).values(), params(b).values()))


def test_a_half_written_checkpoint_is_ignored(tmp_path):
    train(fresh_model(), tokens(), replace(CONFIG, steps=4), out_dir=tmp_path, progress=False)
    junk = tmp_path / "checkpoints" / ".tmp-step-00000008-1234"  # a writer killed mid-way
    junk.mkdir()
    (junk / "model.safetensors").write_bytes(b"\x00" * 10)
    assert latest_checkpoint(tmp_path).name == "step-00000004"


def test_bad_inputs_raise_catlm_errors():
    with pytest.raises(UsageError, match="no tokenizer"):
        train(fresh_model(), "some text", CONFIG, progress=False)
    with pytest.raises(UsageError, match="fewer than block"):
        train(fresh_model(), tokens(40), CONFIG, progress=False)
    with pytest.raises(UsageError, match="dtype 'int8'"):
        train(fresh_model(), tokens(), replace(CONFIG, dtype="int8"), progress=False)


def test_text_with_a_tokenizer_and_float64():
    text = "abcabcabd" * 40
    model = GPT(replace(MODEL, vocab=4, dropout=0.0))
    summary = train(model, text, replace(CONFIG, steps=4, dtype="float64"), progress=False,
                    tokenizer=CharTokenizer.from_text(text))
    assert next(model.parameters()).dtype == torch.float64 and math.isfinite(summary.val_loss)


KILLED_RUN = textwrap.dedent("""
    import sys, time, torch
    sys.path.insert(0, {root!r})
    sys.path.insert(0, {tests!r})
    from test_training import CONFIG, fresh_model, tokens
    from catlm.models.training import train
    from dataclasses import replace
    torch.set_num_threads(1)
    model = fresh_model()
    loss = model.loss
    model.loss = lambda x, y: (time.sleep(0.02), loss(x, y))[1]  # slow enough to be killed mid-run
    train(model, tokens(), replace(CONFIG, steps={steps}, checkpoint_interval=2), out_dir={out!r},
          progress=False)
""")


@pytest.mark.slow
def test_resume_after_sigkill_equals_uninterrupted(tmp_path):
    steps = 16
    script = KILLED_RUN.format(root=str(ROOT), tests=str(ROOT / "tests"), steps=steps, out=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    while latest_checkpoint(tmp_path) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    killed_at = load_checkpoint(latest_checkpoint(tmp_path)).state["step"]
    assert 0 < killed_at < steps
    resumed, full = fresh_model(seed=5), fresh_model()
    config = replace(CONFIG, steps=steps, checkpoint_interval=2)
    train(resumed, tokens(), config, out_dir=tmp_path, progress=False, resume=True)
    train(full, tokens(), config, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(params(full).values(), params(resumed).values()))


# --- run folders: one run per folder, atomic writes, kills at every point -------------------------

def test_a_second_run_into_a_run_folder_is_refused(tmp_path):
    train(fresh_model(), tokens(), replace(CONFIG, steps=4), out_dir=tmp_path, progress=False)
    with pytest.raises(UsageError, match="already holds a training run"):
        train(fresh_model(), tokens(), replace(CONFIG, steps=4), out_dir=tmp_path, progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        train(fresh_model(), tokens(), CONFIG, out_dir=tmp_path / "file", progress=False)


def test_pruning_never_deletes_another_runs_checkpoints(tmp_path):
    """Step folders of another run (higher steps, no pointer) survive; this run keeps its newest two."""
    other = fresh_model()
    for step in (100, 200):
        ckpt.save_checkpoint(tmp_path, step, other, None, {"run": "another"})
    (tmp_path / ckpt.POINTER).unlink()
    summary = train(fresh_model(), tokens(), CONFIG, out_dir=tmp_path, progress=False, resume=True)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step-00000012", "step-00000016", "step-00000100", "step-00000200"]
    assert latest_checkpoint(tmp_path).name == "step-00000016" == Path(summary.checkpoint).name


class Killed(BaseException):
    """The writer dies here: nothing after this point runs (not even an ``except Exception``)."""


class FileSystem:
    """Counts every step of a checkpoint write (each file written, fsync, rename, delete) and kills
    the writer just before step ``kill_at``."""

    def __init__(self, monkeypatch, kill_at: int | None = None):
        self.count, self.kill_at, self.saves = 0, kill_at, []
        for owner, name in ((ckpt.os, "fsync"), (ckpt.os, "replace"), (ckpt.shutil, "rmtree"),
                            (ckpt, "save_model"), (ckpt, "save_file")):
            monkeypatch.setattr(owner, name, self.counted(getattr(owner, name)))
        save = ckpt.save_checkpoint

        def recording(out, step, model, *args, **kwargs):
            start = self.count
            path = save(out, step, model, *args, **kwargs)
            self.saves.append((step, start, self.count, params(model)))
            return path
        monkeypatch.setattr(ckpt, "save_checkpoint", recording)

    def counted(self, operation):
        def step(*args, **kwargs):
            if self.count == self.kill_at:
                raise Killed()
            self.count += 1
            return operation(*args, **kwargs)
        return step


@pytest.mark.slow
def test_a_kill_at_any_point_of_a_checkpoint_write_resumes_to_the_uninterrupted_run(tmp_path, monkeypatch):
    """Kill the writer before each file system step of the third checkpoint (files, fsyncs, the
    rename, the pointer update, the pruning): the folder always holds a checkpoint an uninterrupted
    run passes through, and resuming from it ends bitwise where the uninterrupted run ends."""
    config = replace(CONFIG, steps=8, checkpoint_interval=2, eval_interval=8)
    with monkeypatch.context() as patch:
        reference = FileSystem(patch)
        final = fresh_model()
        train(final, tokens(), config, out_dir=tmp_path / "reference", progress=False)
    passes = {step: weights for step, _, _, weights in reference.saves}  # the states of a clean run
    step, start, end, _ = reference.saves[2]
    assert step == 6 and end - start >= 10  # files, fsyncs, rename, pointer, prune: every one is a kill point
    for kill_at in range(start, end + 1):
        out = tmp_path / f"killed-{kill_at}"
        with monkeypatch.context() as patch:
            FileSystem(patch, kill_at)
            patch.setattr(ckpt.os, "getpid", lambda: 424242)  # the killed process, not the resuming one
            with pytest.raises(Killed):
                train(fresh_model(), tokens(), config, out_dir=out, progress=False)
        survivor = load_checkpoint(latest_checkpoint(out))
        at = survivor.state["step"]
        assert at in (4, 6) and all(torch.equal(survivor.model[k], passes[at][k]) for k in survivor.model), kill_at
        resumed = fresh_model(seed=7)
        train(resumed, tokens(), config, out_dir=out, progress=False, resume=True)
        assert all(torch.equal(x, y) for x, y in zip(params(final).values(), params(resumed).values())), kill_at
        assert not [p for p in out.rglob("*") if "tmp" in p.name], kill_at  # nothing left behind
        assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000006", "step-00000008"]


def test_stale_temporary_files_are_removed_on_resume(tmp_path):
    train(fresh_model(), tokens(), replace(CONFIG, steps=4), out_dir=tmp_path, progress=False)
    junk = [tmp_path / "checkpoints" / ".tmp-step-00000008-1234", tmp_path / ".tmp-checkpoint.json-1234",
            tmp_path / ".tmp-loss.png-1234"]
    junk[0].mkdir()
    (junk[0] / "model.safetensors").write_bytes(b"\x00" * 10)
    junk[1].write_text("{")
    junk[2].write_bytes(b"\x89PNG")
    (tmp_path / ".tmp-notes").write_text("a file of the user's")
    train(fresh_model(), tokens(), replace(CONFIG, steps=4), out_dir=tmp_path, progress=False, resume=True)
    assert not any(p.exists() for p in junk) and (tmp_path / ".tmp-notes").exists()


# --- bad input: a catlm error before any work, never a traceback or a silent NaN --------------------

@pytest.mark.parametrize("change, message", [
    ({"batch": 0}, "batch .--batch. must be an integer >= 1, not 0"),
    ({"block": 0}, "block .--block. must be an integer >= 1"),
    ({"steps": -5}, "steps .--steps. must be an integer >= 0, not -5"),
    ({"lr": float("nan")}, "lr .--lr. must be a positive finite number, not nan"),
    ({"lr": float("inf")}, "lr .--lr. must be a positive finite number, not inf"),
    ({"min_lr": 0.5}, "min_lr 0.5 is above lr 0.01"),
    ({"eval_interval": 0}, "eval_interval .--eval-interval. must be an integer >= 1"),
    ({"decay_steps": 0}, "decay_steps .--decay-steps. must be an integer >= 1"),
    ({"device": "tpu"}, "device 'tpu' is not supported"),
])
def test_unusable_hyperparameters_are_refused_before_training(change, message, tmp_path):
    model = fresh_model()
    before = params(model)
    with pytest.raises(UsageError, match=message):
        train(model, tokens(), replace(CONFIG, **change), out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists() and all(torch.equal(before[k], v) for k, v in params(model).items())


def test_resume_refuses_another_tokenizer_of_the_same_size(tmp_path):
    """Two corpora with 12 distinct characters each: the ids would silently change meaning."""
    run_tok, other_tok = CharTokenizer("abcdefghijkl"), CharTokenizer("abcdefghijkz")
    config = replace(CONFIG, steps=4, decay_steps=8)
    train(fresh_model(), tokens(), config, out_dir=tmp_path, progress=False, tokenizer=run_tok)
    longer = replace(config, steps=8)
    with pytest.raises(UsageError, match="different tokenizer.*both have 12 tokens, but id 11 is 'l' in the run, 'z' here"):
        train(fresh_model(), tokens(), longer, out_dir=tmp_path, progress=False, tokenizer=other_tok, resume=True)
    assert train(fresh_model(), tokens(), longer, out_dir=tmp_path, progress=False, tokenizer=run_tok,
                 resume=True).steps == 8


def damage(out: Path, name: str, how) -> Path:
    path = latest_checkpoint(out) / name if name != ckpt.POINTER else out / name
    path.write_bytes(how(path.read_bytes()))
    return path


@pytest.mark.parametrize("name, how, message", [
    ("checkpoint.json", lambda b: b"\x00garbage", "is not a catlm checkpoint pointer"),
    ("checkpoint.json", lambda b: b'{"latest": "../step-00000004"}', "not a complete checkpoint of this folder"),
    ("state.json", lambda b: b"{not json", "is not valid JSON"),
    ("state.json", lambda b: json.dumps({**json.loads(b), "rng": 5}).encode(), "is damaged or not from catlm train"),
    ("state.json", lambda b: b'{"format": "catlm-checkpoint"}', "stores weights but no optimizer state"),
    ("model.safetensors", lambda b: b[:len(b) // 2], "not a readable safetensors file"),
    ("optimizer.safetensors", lambda b: b[:len(b) // 2], "not a readable safetensors file"),
])
def test_a_damaged_run_is_refused_with_a_catlm_error_on_resume(tmp_path, name, how, message):
    train(fresh_model(), tokens(), replace(CONFIG, steps=4), out_dir=tmp_path, progress=False)
    damage(tmp_path, name, how)
    with pytest.raises(BackendError, match=message):
        train(fresh_model(), tokens(), replace(CONFIG, steps=4), out_dir=tmp_path, progress=False, resume=True)


def test_weights_of_the_wrong_shape_are_named(tmp_path):
    train(fresh_model(), tokens(), replace(CONFIG, steps=4), out_dir=tmp_path, progress=False)
    wider = GPT(replace(MODEL, dim=8, heads=2))
    shapes = r"wrong shapes: \['bb.h.0.attn.c_attn.bias \(48,\) where the model has \(24,\)"
    with pytest.raises(BackendError, match=shapes):
        restore(load_checkpoint(latest_checkpoint(tmp_path)), wider, None)


def test_progress_off_a_terminal_is_plain_lines(capsys):
    train(fresh_model(), tokens(), replace(CONFIG, steps=40), progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"train: step {s}/40" for s in range(2, 41, 2)]
    assert all("loss" in line and "tok_s" in line and "\r" not in line for line in lines)


def test_a_run_of_weights_alone_loads_through_catlm_runs(tmp_path):
    """The layout a converter writes: weights, state.json, no optimizer state; it loads, it cannot resume."""
    from catlm.runs import load_run
    model = fresh_model()
    folder = ckpt.save_checkpoint(tmp_path, 0, model, None, {"model_config": MODEL.to_dict(),
                                                             "tokenizer": CharTokenizer("abcdefghijkl").to_json()})
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors", "state.json"]
    loaded = load_run(tmp_path)
    assert loaded.tokenizer == CharTokenizer("abcdefghijkl") and loaded.folder == folder
    assert all(torch.equal(a, b) for a, b in zip(params(loaded.model).values(), params(model).values()))
    with pytest.raises(BackendError, match="stores weights but no optimizer state"):
        train(fresh_model(), tokens(), replace(CONFIG, steps=4), out_dir=tmp_path, progress=False, resume=True)


def test_a_stored_spec_read_without_its_folder_may_import_nothing():
    from catlm.errors import SpecError
    from catlm.runs import read_stored_spec
    with pytest.raises(SpecError, match='imports "other.cat", outside the checkpoint'):
        read_stored_spec(None, 'import "other.cat"\nobject A = fin 2\n')
    assert "A" in read_stored_spec(None, "object A = fin 2\n").objects
