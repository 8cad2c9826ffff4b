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
from catlm.commands.train import default_threads  # noqa: E402
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
    stored = (Path(summary["checkpoint"]) / "spec.cat").read_text()
    assert state["meta"]["kernel"] == "gen" and "linear_softmax" in stored
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
    assert main(["train", str(ROOT / "examples/lm.cat"), "-k", "draft", "--corpus", str(corpus)]) == 1
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_trained_spec_is_read_back_by_every_command(trained, corpus, tmp_path):
    """sample, speculate and analyze all rebuild the compiled spec from the checkpoint alone."""
    from catlm.backends.torch import DiagramModule
    from catlm.runs import load_run
    out, _ = trained
    loaded = load_run(out)
    assert isinstance(loaded.model, DiagramModule) and loaded.meta["kernel"] == "gen"
    plain = run_json(["sample", out, "--prompt", "A", "--max-new", "8", "--temperature", "0", "--json"])
    spec = run_json(["speculate", out, "--drafter", "lookup", "--gamma", "3", "--max-new", "8",
                     "--temperature", "0", "--prompt", "A", "--json"])
    assert spec["text"] == plain["text"]  # greedy speculative decoding is greedy decoding
    report = run_json(["analyze", out, "--corpus", corpus, "--quick", "--out", tmp_path / "rep",
                       "--json"])
    assert (tmp_path / "rep" / "report.md").is_file() and report


# --- a corpus the tests make themselves: run folders, defaults from the spec, bad input -----------

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards hex jovial frumpy boxes".split()


@pytest.fixture(scope="module")
def words(tmp_path_factory) -> Path:
    """About 12,000 characters of words drawn by a seeded generator: 27 distinct characters."""
    g = torch.Generator().manual_seed(0)
    picks = torch.randint(len(WORDS), (2000,), generator=g).tolist()
    path = tmp_path_factory.mktemp("words") / "words.txt"
    path.write_text(" ".join(WORDS[i] for i in picks) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def words_spec(words, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("words_spec") / "tiny.cat"
    path.write_text(SPEC.format(V=len(set(words.read_text(encoding="utf-8")))), encoding="utf-8")
    return path


QUICK = ["--batch", "4", "--eval-iters", "1", "--eval-interval", "2", "--device", "cpu", "--seed", "3"]


def train_words(spec, corpus, out, *extra, steps=4) -> list[str]:
    return ["train", str(spec), "--corpus", str(corpus), "--steps", str(steps), "--out", str(out), *QUICK, *extra]


def failure(capsys, *argv) -> str:
    """The CLI's stderr for a command that must fail cleanly: exit 1, error and no traceback."""
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") or ": error:" in err.splitlines()[0], err
    assert "Traceback" not in err
    return err


def test_a_second_train_into_a_run_folder_is_refused_unless_resumed_or_forced(words_spec, words, tmp_path, capsys):
    out = tmp_path / "run"
    run_json([*train_words(words_spec, words, out), "--json"])
    before = sorted(p.name for p in (out / "checkpoints").iterdir())
    err = failure(capsys, *train_words(words_spec, words, out, "--seed", "4"))
    assert "already holds a training run" in err and "hint: continue it with --resume, replace it with --force" in err
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == before  # nothing touched
    forced = run_json([*train_words(words_spec, words, out, "--force", steps=2), "--json"])
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000002"]
    assert Path(forced["checkpoint"]) == latest_checkpoint(out)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    err = failure(capsys, *train_words(words_spec, words, tmp_path / "notes", "--force"))
    assert "holds no training run" in err and (tmp_path / "notes" / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize("option, message", [
    (["--lr", "nan"], "lr (--lr) must be a positive finite number, not nan"),
    (["--eval-interval", "0"], "eval_interval (--eval-interval) must be an integer >= 1, not 0"),
    (["--device", "tpu"], "device 'tpu' is not supported"),
    (["--batch", "0"], "batch (--batch) must be an integer >= 1, not 0"),
    (["--block", "0"], "block (--block) must be an integer >= 1, not 0"),
    (["--steps", "-5"], "steps (--steps) must be an integer >= 0, not -5"),
    (["--min-lr", "0.1", "--lr", "0.01"], "min_lr 0.1 is above lr 0.01"),
    (["--decay-steps", "0"], "decay_steps (--decay-steps) must be an integer >= 1"),
    (["--threads", "0"], "--threads must be at least 1, not 0"),
    (["--out", "FILE"], "is a file"),
    (["--resume", "--force"], "give one of them"),
])
def test_bad_options_are_refused_before_any_work(option, message, tmp_path, capsys):
    """The corpus does not exist: an option checked before any work is reported instead."""
    (tmp_path / "FILE").write_text("not a folder")
    option = [str(tmp_path / "FILE") if o == "FILE" else o for o in option]
    argv = ["train", ROOT / "examples/char.cat", "--corpus", tmp_path / "absent.txt", "--out", tmp_path / "run"]
    err = failure(capsys, *argv, *option)
    assert message in err and "\n  hint: " in err and not (tmp_path / "run").exists()


def test_the_default_kernel_is_gen_else_the_only_language_model(words, tmp_path, capsys):
    # lm.cat defines gen and a drafter head; gen is chosen (then refused: its Tok has 50257 tokens)
    err = failure(capsys, "train", ROOT / "examples/lm.cat", "--corpus", words, "--out", tmp_path / "a")
    assert "kernel 'gen' uses Tok = fin 50257" in err
    vocab = len(set(words.read_text(encoding="utf-8")))
    only = SPEC.format(V=vocab).replace("kernel gen ", "kernel lm ")
    (tmp_path / "only.cat").write_text(only)
    summary = run_json(train_words(tmp_path / "only.cat", words, tmp_path / "b", "--json", steps=1))
    assert summary["kernel"] == "lm"
    (tmp_path / "two.cat").write_text(only + "kernel other = emb >> bb >> head\n")
    err = failure(capsys, "train", tmp_path / "two.cat", "--corpus", words, "--out", tmp_path / "c")
    assert "defines 2 language models (Tok* -> Tok): lm, other" in err and "hint: choose one with -k: lm, other" in err


def test_block_defaults_to_the_models_context(words_spec, words, tmp_path):
    summary = run_json([*train_words(words_spec, words, tmp_path / "run", steps=1), "--json"])
    state = json.loads((Path(summary["checkpoint"]) / "state.json").read_text())
    assert state["train_config"]["block"] == 16  # the spec's context=16, not a fixed 64


@pytest.mark.slow
def test_decay_steps_extend_a_finished_run_to_the_longer_runs_parameters(words_spec, words, tmp_path, capsys):
    short = tmp_path / "short"
    run_json([*train_words(words_spec, words, short, steps=4), "--json"])
    err = failure(capsys, *train_words(words_spec, words, short, "--resume", steps=8))
    assert "decay_steps 8 here, 4 in the run" in err and "--decay-steps 4" in err
    run_json([*train_words(words_spec, words, short, "--resume", "--decay-steps", "4", steps=8), "--json"])
    run_json([*train_words(words_spec, words, tmp_path / "long", "--decay-steps", "4", steps=8), "--json"])
    a, b = weights(short), weights(tmp_path / "long")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_another_corpus_of_the_same_alphabet_size_is_refused(words_spec, words, tmp_path, capsys):
    out = tmp_path / "run"
    run_json([*train_words(words_spec, words, out), "--json"])
    other = tmp_path / "other.txt"  # 'z' becomes 'Z': the same number of characters, other ids
    other.write_text(words.read_text(encoding="utf-8").replace("z", "Z"), encoding="utf-8")
    err = failure(capsys, *train_words(words_spec, other, out, "--resume", "--decay-steps", "4", steps=8))
    assert "this corpus gives a different tokenizer than the run's" in err and "both have" in err


@pytest.mark.slow
def test_progress_off_a_terminal_is_periodic_plain_lines(words_spec, words, tmp_path, capsys):
    assert main([str(a) for a in train_words(words_spec, words, tmp_path / "run", steps=20)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("train: step")]
    assert [line.split(" (")[0] for line in lines] == [f"train: step {s}/20" for s in range(1, 21)]


def test_threads_option_and_default(words_spec, words, tmp_path):
    run_json([*train_words(words_spec, words, tmp_path / "run", "--threads", "3", steps=1), "--json"])
    assert torch.get_num_threads() == 3
    assert [default_threads(c) for c in (1, 2, 4, 16, 64)] == [1, 1, 4, 8, 8]
    assert default_threads(16, processes=4) == 4


def test_sample_needs_only_the_weights_and_refuses_damage_cleanly(words_spec, words, tmp_path, capsys):
    out = tmp_path / "run"
    run_json([*train_words(words_spec, words, out), "--json"])
    folder = latest_checkpoint(out)
    argv = ["sample", out, "--prompt", "the", "--max-new", "5", "--temperature", "0", "--json"]
    clean = run_json(argv)
    optimizer = folder / "optimizer.safetensors"
    optimizer.write_bytes(optimizer.read_bytes()[:100])  # truncated: sampling never reads it
    assert run_json(argv) == clean
    optimizer.unlink()  # a run of weights alone (as a converter writes) samples too
    assert run_json(argv) == clean
    model = folder / "model.safetensors"
    kept = model.read_bytes()
    model.write_bytes(kept[:len(kept) // 2])
    assert "not a readable safetensors file" in failure(capsys, *argv)
    model.write_bytes(kept)
    spec = folder / "spec.cat"
    spec.write_text(spec.read_text().replace("dim=16", "dim=8").replace("real 16", "real 8"))
    assert "does not fit this model: wrong shapes" in failure(capsys, *argv)
    (out / "checkpoint.json").write_text("garbage")
    assert "is not a catlm checkpoint pointer" in failure(capsys, *argv)
    (folder / "state.json").write_text("{")
    assert "is not valid JSON" in failure(capsys, "sample", folder)


def test_a_checkpoints_spec_may_import_only_files_inside_it(words_spec, words, tmp_path, capsys):
    out = tmp_path / "run"
    run_json([*train_words(words_spec, words, out), "--json"])
    secret = tmp_path / "secret.cat"
    secret.write_text("SECRET-FIRST-LINE not a spec\n")
    spec = latest_checkpoint(out) / "spec.cat"
    spec.write_text(f'import "{os.path.relpath(secret, spec.parent)}"\n' + spec.read_text())
    err = failure(capsys, "sample", out, "--max-new", "2")
    assert "imports \"../../../secret.cat\", outside the checkpoint folder" in err and "SECRET" not in err
    spec.write_text('import "/etc/hostname"\n' + spec.read_text())
    assert "outside the checkpoint" in failure(capsys, "sample", out, "--max-new", "2")


def test_a_spec_with_imports_is_stored_with_them(words, tmp_path, capsys):
    vocab = len(set(words.read_text(encoding="utf-8")))
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "objects.cat").write_text(f"object Tok = fin {vocab}\nobject E = real 16\nobject H = real 16\n")
    main_spec = tmp_path / "main.cat"
    main_spec.write_text('import "lib/objects.cat"\n' + "\n".join(SPEC.splitlines()[4:]) + "\n")
    out = tmp_path / "run"
    run_json(train_words(main_spec, words, out, "--json", steps=1))
    (tmp_path / "lib" / "objects.cat").unlink()  # the checkpoint needs nothing outside itself
    assert (latest_checkpoint(out) / "lib" / "objects.cat").is_file()
    assert run_json(["sample", out, "--prompt", "the", "--max-new", "3", "--json"])["tokens"]


@pytest.fixture(scope="module")
def words_run(words_spec, words, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("words_run") / "run"
    run_json([*train_words(words_spec, words, out, steps=2), "--json"])
    return out


@pytest.mark.parametrize("edit, message", [
    (lambda s: {**s, "tokenizer": "garbage"}, "is damaged: it does not say how to rebuild"),
    (lambda s: {**s, "tokenizer": json.dumps({"kind": "char"})}, "is damaged: it does not say how to rebuild"),
    (lambda s: {**{k: v for k, v in s.items() if k != "meta"}, "model_config": {"vocab": "x"}},
     "is damaged: it does not say how to rebuild"),
    (lambda s: {**s, "meta": ["not", "a", "dict"]}, "records neither a spec and kernel nor a GPT config"),
    (lambda s: [1, 2], "is not a catlm checkpoint"),
])
def test_sample_refuses_a_damaged_state_json_cleanly(words_run, edit, message, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(words_run, run)
    state = latest_checkpoint(run) / "state.json"
    state.write_text(json.dumps(edit(json.loads(state.read_text()))))
    assert message in failure(capsys, "sample", run, "--max-new", "2")
