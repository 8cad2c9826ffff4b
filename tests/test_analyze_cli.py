"""``catlm analyze`` on the bundled specs (exact numbers checked against independent formulas) and
on a checkpoint with a corpus (the report's files, the NLL identity, the teacher's entropy)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from catlm.cli import main

ROOT = Path(__file__).resolve().parents[1]
from shared_data import shakespeare_file  # noqa: E402


def analyze(capsys, *argv) -> dict:
    assert main(["analyze", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def shannon(p) -> float:
    p = np.asarray(p, dtype=float).ravel()
    return float(-sum(x * math.log(x) for x in p if x > 0))


@pytest.mark.slow
def test_bigram_spec_report(tmp_path, capsys):
    import catlm
    data = analyze(capsys, ROOT / "examples/bigram.cat", "--out", tmp_path, "--seed", "3")
    rows = {row["kernel"]: row for row in data["entropy"]}
    gen = catlm.compile(catlm.load(ROOT / "examples/bigram.cat").kernels["gen"], seed=3)
    assert rows["gen"]["kl mean"] == pytest.approx(np.mean([shannon(r) for r in gen]), abs=1e-12)
    assert rows["gen"]["tv sup"] == pytest.approx(max(1 - (r ** 2).sum() for r in gen), abs=1e-12)
    assert rows["emb"]["kl sup"] == 0 and rows["emb"]["chi2 mean"] == 0     # deterministic
    source = data["sources"]["gen"]
    law = np.array(source["stationary_law"])
    assert np.allclose(law @ gen, law, atol=1e-10) and law.sum() == pytest.approx(1)
    for entry in source["surplus"]:   # first-order source: surplus 0, I(H;W_1:K) = I(H;W_1)
        assert abs(entry["value"]) < 1e-10 and entry["mi_block"] == pytest.approx(entry["mi_first"])
        assert entry["upper_bound"] <= (entry["K"] - 1) * math.log(27) + 1e-9
    for name in ("report.md", "report.json", "entropy.png", "surplus_gen.png", "mk_spectrum_gen.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "![" in (tmp_path / "report.md").read_text()


def test_the_report_says_which_entries_were_drawn_at_random_and_keeps_units_apart(tmp_path, capsys):
    data = analyze(capsys, ROOT / "examples/bigram.cat", "--out", tmp_path, "--seed", "3")
    assert {"emb", "head", "gen"} <= set(data["drawn_at_random"]) and data["seed"] == 3
    report = (tmp_path / "report.md").read_text()
    assert "`gen`: its parameter entries were DRAWN AT RANDOM (seed 3)" in report
    assert "TV and χ² are unitless" in report
    given = tmp_path / "gen.npz"
    np.savez(given, emb=np.eye(27)[np.arange(27) % 8][:, :8], head=np.full((8, 27), 1 / 27))
    data = analyze(capsys, ROOT / "examples/bigram.cat", "--out", tmp_path / "given", "--params", given)
    assert data["drawn_at_random"] == []


def test_coin_spec_mutual_information_and_skipped_params(tmp_path, capsys):
    data = analyze(capsys, ROOT / "examples/coin.cat", "--subs", "p=1/3", "--out", tmp_path)
    p, noisy = np.array([1 / 3, 2 / 3]), np.array([[0.9, 0.1], [0.2, 0.8]])
    joint = p[:, None] * noisy
    exact_mi = shannon(p) + shannon(joint.sum(0)) - shannon(joint)
    mis = {row["kernel"]: row for row in data["mutual_information"]}
    assert mis["joint"]["kl"] == pytest.approx(exact_mi, abs=1e-12)
    assert mis["same"]["kl"] == pytest.approx(shannon(p), abs=1e-12)     # I(X; X) = H(X)
    assert {r["kernel"]: r for r in data["entropy"]}["flip"]["kl mean"] == pytest.approx(shannon(p))
    unsubstituted = analyze(capsys, ROOT / "examples/coin.cat", "--out", tmp_path / "raw")
    assert "p" in unsubstituted["skipped"]["flip"] and "noisy" not in unsubstituted["skipped"]


def test_torch_only_spec_is_reported_as_skipped(tmp_path, capsys):
    data = analyze(capsys, ROOT / "examples/lm.cat", "--out", tmp_path)
    assert set(data["skipped"]) == {"emb", "bb", "head", "gen", "draft"} and data["entropy"] == []
    assert (tmp_path / "report.md").exists()


def test_bad_targets_are_errors(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nothing.txt")]) == 1
    assert "neither a .cat file nor a checkpoint" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path)]) == 1
    assert "--corpus" in capsys.readouterr().err


def trained_checkpoint(out: Path, text: str) -> Path:
    torch = pytest.importorskip("torch", reason="torch is needed to train a checkpoint")
    from catlm.data.tokenizers import CharTokenizer
    from catlm.models.gpt import GPT, GPTConfig
    from catlm.models.training import TrainConfig, train
    tok = CharTokenizer.from_text(text)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab=tok.vocab_size, context=32, layers=1, heads=2, dim=16))
    train(model, text, TrainConfig(steps=4, batch=4, block=32, eval_interval=4, eval_iters=1,
                                   device="cpu"), out_dir=out, progress=False, tokenizer=tok)
    return out


def check_checkpoint_report(data: dict, out: Path) -> None:
    nll = data["nll"]
    assert nll["identity_gap"] < 1e-9 and nll["kl"] > 0
    assert nll["cross_entropy"] == pytest.approx(nll["kl"] + nll["entropy"], abs=1e-9)
    assert data["probe"]["label"].startswith("lower-bound estimate")
    for kind in ("bhattacharyya", "linear"):
        for who in ("model", "random", "permuted", "untrained"):
            assert 0 <= data["alignment"][kind][who]["ky_fan"] <= 1 + 1e-9
    for name in ("entropy.png", "surplus.png", "metric_spectrum.png", "mk_spectrum.png", "angles.png"):
        assert (out / name).stat().st_size > 0


@pytest.mark.slow
def test_checkpoint_report_on_a_small_corpus(tmp_path, capsys):
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("abcde "), size=6000))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text)
    ckpt = trained_checkpoint(tmp_path / "run", text)
    data = analyze(capsys, ckpt, "--corpus", corpus, "--quick", "--eigenfunctions", "4", "--out", tmp_path / "rep")
    # the teacher is the order-2 plug-in source of the held-out 10%: its entropy from the counts
    from catlm.data.ngram import NgramSource
    val = text[len(text) - 600:]
    assert data["tokens"] == 600
    assert data["teacher_entropy"] == pytest.approx(
        NgramSource.from_text(val, 2, cyclic=True).conditional_entropy(), abs=1e-12)
    check_checkpoint_report(data, tmp_path / "rep")
    # the untrained baseline: the same architecture rebuilt at its initialisation, read by hand
    import torch
    from catlm.analysis import estimators as est
    from catlm.runs import load_run
    run = load_run(ckpt)
    model, tokenizer = run.model, run.tokenizer
    torch.manual_seed(0)
    fresh = type(model)(model.config).to(next(model.parameters()).dtype).eval()
    teacher = NgramSource.from_sequence(np.array(tokenizer.encode(val)), 2, tokenizer.vocab_size, cyclic=True)
    expected = est.nll_decomposition_vs_teacher(fresh, np.array(tokenizer.encode(val)), teacher)
    assert data["untrained_nll"]["kl"] == pytest.approx(expected.kl, abs=1e-9)
    assert data["untrained_nll"]["kl"] != pytest.approx(data["nll"]["kl"], abs=1e-6)
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "What training adds" in report and "untrained" in report


def test_checkpoint_analysis_reports_progress(tmp_path, capsys):
    text = "".join(np.random.default_rng(1).choice(list("abc "), size=3000))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text)
    ckpt = trained_checkpoint(tmp_path / "run", text)
    assert main(["analyze", str(ckpt), "--corpus", str(corpus), "--quick", "--eigenfunctions", "2",
                 "--out", str(tmp_path / "rep")]) == 0
    err = capsys.readouterr().err
    steps = [line for line in err.splitlines() if line.startswith("analyze [")]
    assert len(steps) == 9 and steps[-1].startswith("analyze [9/9]") and steps[-1].endswith(" s")


@pytest.mark.slow
def test_checkpoint_report_on_shakespeare(tmp_path, capsys):
    corpus = shakespeare_file(tmp_path, 1_000_000)
    ckpt = trained_checkpoint(tmp_path / "run", corpus.read_text(encoding="utf-8"))
    data = analyze(capsys, ckpt, "--corpus", corpus, "--quick", "--out", tmp_path / "rep")
    assert data["tokens"] == 12_000
    check_checkpoint_report(data, tmp_path / "rep")


def test_bad_targets_are_usage_errors_not_spec_errors(tmp_path):
    """A missing corpus or a wrong target is the command line's fault, not a .cat file's."""
    import argparse
    from catlm.commands import analyze
    from catlm.errors import SpecError, UsageError
    for target in (tmp_path / "nothing.txt", tmp_path):
        with pytest.raises(UsageError) as caught:
            analyze.run(argparse.Namespace(target=str(target), out=str(tmp_path / "out"), corpus=None))
        assert not isinstance(caught.value, SpecError)
