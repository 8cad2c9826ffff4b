"""catlm.analysis.pretrained in its parts (the top spectrum and its summaries, the token support, the
slices, the n-gram entropies) and the whole bounded report on a tiny GPT, against dense metrics,
counts made here and the unsliced estimators."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest

from catlm.analysis.geometry import averaged_metric, pullback_metric
from catlm.analysis.pretrained import (QUICK, SLICE, Budget, TopSpectrum, _top, lanczos_averaged_metric,
                                       lanczos_metric, metric_summary, ngram_entropies,
                                       principal_components, sliced, support)
from catlm.data.ngram import NgramSource


def test_top_spectrum_summaries():
    top = TopSpectrum(np.array([6.0, 3.0, 1.5]), 12.0)
    assert (top.top_share, top.captured, top.spread) == (0.5, 0.875, 4.0)
    other = TopSpectrum(np.array([2.0, 1.0, 1.0]), 8.0)
    assert metric_summary([top, other]) == {"top_share (λ1/tr g)": 0.375, "top-k share of tr g": 0.6875,
                                            "λ1/λk": 3.0, "tr g": 10.0}


@pytest.mark.parametrize("k", [1, 4, 5, 6, 7])
def test_top_eigenvalues_by_lanczos_or_densely_are_the_largest_descending(k):
    """d = 7: ARPACK for k < d − 1, the dense solve for k = d − 1 and k = d."""
    rng = np.random.default_rng(k)
    X = rng.standard_normal((7, 7))
    S = X @ np.diag([9.0, 5.0, 4.0, 2.0, 1.0, 0.5, 0.1]) @ X.T
    expected = np.sort(np.linalg.eigvalsh(S))[::-1][:k]
    np.testing.assert_allclose(_top(lambda v: S @ v, 7, k, seed=3), expected, rtol=1e-9)


def test_the_support_is_the_fewest_tokens_of_mass_one_minus_tail():
    p = np.array([0.125, 0.5, 0.125, 0.25])
    np.testing.assert_array_equal(support(p, 0.25), [1, 3])              # 0.75 exactly
    np.testing.assert_array_equal(support(p, 0.5), [1])
    np.testing.assert_array_equal(support(p, 0.2), [0, 1, 3])            # ties: the first one
    np.testing.assert_array_equal(support(p, 0.0), [0, 1, 2, 3])
    np.testing.assert_array_equal(support(p, -1.0), [0, 1, 2, 3])
    np.testing.assert_array_equal(support(np.full(4, 0.25), 0.5), [0, 1])


def test_lanczos_with_a_bias_and_a_tail_against_the_dense_metric():
    rng = np.random.default_rng(8)
    W, b, hs = rng.standard_normal((40, 9)), rng.standard_normal(40), rng.standard_normal((3, 9))
    dense = np.linalg.eigvalsh(pullback_metric(W, hs[0], b))[::-1]
    top = lanczos_metric(W, hs[0], 4, b, seed=5)
    np.testing.assert_allclose(top.eigenvalues, dense[:4], atol=1e-9)
    assert top.trace == pytest.approx(dense.sum(), rel=1e-12)
    exact = lanczos_metric(W, hs[0], 4, b, tail=1e-14)                   # a tail that drops ~nothing
    np.testing.assert_allclose(exact.eigenvalues, dense[:4], atol=1e-9)
    averaged = np.linalg.eigvalsh(averaged_metric(W, hs, bias=b))[::-1]
    top = lanczos_averaged_metric(W, hs, 4, b, seed=5)
    np.testing.assert_allclose(top.eigenvalues, averaged[:4], atol=1e-9)
    assert top.trace == pytest.approx(averaged.sum(), rel=1e-12)
    one = lanczos_averaged_metric(W, hs[1], 2, b)                         # one h reads as a batch of one
    np.testing.assert_allclose(one.eigenvalues, np.linalg.eigvalsh(pullback_metric(W, hs[1], b))[::-1][:2],
                               atol=1e-9)


def test_principal_components_under_a_non_uniform_law():
    """Coordinates on the top-m right singular vectors of D^½ (H − µH): their µ-covariance is
    diagonal with the top-m squared singular values, and m = d keeps the centred Gram matrix."""
    rng = np.random.default_rng(9)
    H, law = rng.standard_normal((8, 3)) + 2.0, rng.dirichlet(np.ones(8))
    centred = H - law @ H
    singular = np.linalg.svd(np.sqrt(law)[:, None] * centred, compute_uv=False)
    coords = principal_components(H, law, 2)
    assert coords.shape == (8, 2)
    np.testing.assert_allclose(coords.T @ np.diag(law) @ coords, np.diag(singular[:2] ** 2), atol=1e-12)
    full = principal_components(H, law, 3)
    np.testing.assert_allclose(full @ full.T, centred @ centred.T, atol=1e-12)


@dataclass(frozen=True)
class Rows:
    tokens: np.ndarray
    hidden: np.ndarray
    position: np.ndarray
    offset: np.ndarray


def test_slices_cut_the_rows_in_order_and_keep_the_tokens():
    n = 2 * SLICE + 3
    readout = Rows(np.arange(7), np.arange(2 * n).reshape(n, 2), np.arange(n) + 100, np.arange(n) % 5)
    parts = sliced(readout)
    assert SLICE == 256 and [len(p.hidden) for p in parts] == [256, 256, 3]
    for name in ("hidden", "position", "offset"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, name) for p in parts]), getattr(readout, name))
    assert all(p.tokens is readout.tokens for p in parts)
    assert [len(p.offset) for p in sliced(readout, 300)] == [300, 215]


def plug_in_entropy(tokens, r):
    """H(W | last r tokens) from the counts of the (r + 1)-grams of the sequence, nats."""
    grams = Counter(tuple(tokens[i - r:i + 1]) for i in range(r, len(tokens)))
    contexts = Counter()
    for gram, count in grams.items():
        contexts[gram[:-1]] += count
    total = sum(grams.values())
    return -sum(c / total * math.log(c / contexts[g[:-1]]) for g, c in grams.items())


def test_ngram_entropies_are_the_plug_in_conditional_entropies():
    tokens = [0, 1, 2, 0, 1, 1, 2, 0, 0, 1, 2, 2, 1, 0]
    found = ngram_entropies(NgramSource, np.array(tokens), (0, 1, 2), 3)
    assert list(found) == [0, 1, 2]
    for r in (0, 1, 2):
        assert found[r] == pytest.approx(plug_in_entropy(tokens, r), rel=1e-12)


def test_the_quick_budget_reads_less_than_the_default():
    assert asdict(QUICK) == {"tokens": 512, "block": 128, "metric_contexts": 8, "eigenvalues": 16,
                             "tail": 1e-9, "alignment_contexts": 128, "components": 16,
                             "teacher_tokens": 50_000, "orders": (0, 1, 2)}
    assert asdict(Budget()) == {"tokens": 2048, "block": 256, "metric_contexts": 16, "eigenvalues": 32,
                                "tail": 1e-9, "alignment_contexts": 512, "components": 32,
                                "teacher_tokens": 200_000, "orders": (0, 1, 2, 3)}


# --- the whole report on a tiny GPT -------------------------------------------------------------

BUDGET = Budget(tokens=128, block=16, metric_contexts=4, eigenvalues=3, tail=1e-12, alignment_contexts=20,
                components=4, teacher_tokens=150, orders=(0, 1))
STEPS = ["order-1 teacher of 150 held-out tokens", "n-gram entropies of the corpus",
         "hidden states (trained and untrained)", "entropy and CE = KL + H (trained)",
         "entropy and CE = KL + H (untrained)", "pullback metric by Lanczos",
         "spectral alignment (model, random, permuted, untrained)"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny GPT (V = 6, d = 8) and its twin, a Markov-chain corpus of 400 tokens (half held out)
    and the report of both, with the steps it announced."""
    torch = pytest.importorskip("torch")
    from catlm.analysis.pretrained import pretrained_report
    from catlm.models.gpt import GPT, GPTConfig
    from catlm.runs.loading import Loaded
    config = GPTConfig(vocab=6, context=16, layers=1, heads=1, dim=8)
    torch.manual_seed(0)
    model = GPT(config).eval()
    with torch.no_grad():
        model.head.weight.mul_(60.0)                 # sharp enough that the metric is not isotropic
    torch.manual_seed(1)
    fresh = GPT(config).eval()
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.full(6, 0.4), size=6)
    tokens = [0]
    for _ in range(399):
        tokens.append(int(rng.choice(6, p=P[tokens[-1]])))
    out = tmp_path_factory.mktemp("report")
    loaded = Loaded(model, None, Path(out / "tiny-run"), {"meta": {"source": "tiny.gguf"},
                                                          "train_config": {"val_fraction": 0.5}})
    steps = []

    def progress(what, step):
        steps.append(what)
        return step()

    report = pretrained_report(loaded, fresh, tokens, NgramSource, "toy", out, order=1, k=3, seed=2,
                               budget=BUDGET, progress=progress)
    return model, fresh, np.array(tokens), out, report, steps


def test_the_report_announces_its_steps_and_counts_its_tokens(tiny):
    model, fresh, tokens, out, report, steps = tiny
    assert steps == STEPS
    data = report.data
    assert report.title == "catlm analyze: tiny-run (pretrained)"
    assert (data["target"], data["corpus"], data["order"], data["vocab"], data["dim"]) == \
        (str(out / "tiny-run"), "toy", 1, 6, 8)
    assert (data["corpus_tokens"], data["teacher_tokens"]) == (400, 150)
    assert data["budget"] == asdict(BUDGET)
    assert data["ngram_entropies"] == pytest.approx({str(r): plug_in_entropy(list(tokens), r) for r in (0, 1)})
    assert [f.file for f in report.figures] == ["metric_spectrum.png"]
    assert (out / "metric_spectrum.png").stat().st_size > 0


def test_the_report_decomposes_the_nll_against_the_teacher_of_the_held_out_half(tiny):
    from catlm.analysis import estimators as est
    model, fresh, tokens, out, report, _ = tiny
    held_out = tokens[200:]
    teacher = NgramSource.from_sequence(held_out[:150], 1, 6, cyclic=True)
    for who, m in (("trained", model), ("untrained", fresh)):
        whole = est.nll_decomposition_vs_teacher(m, held_out[:128], teacher, block=16)
        r = report.data[who]
        for name in ("cross_entropy", "kl", "entropy", "observed_nll"):
            assert r[name] == pytest.approx(getattr(whole, name), rel=1e-10)
        assert r["positions"] == whole.positions == 127             # the first token has no context
        assert r["identity_gap"] < 1e-9
        assert r["predictive_entropy"] == pytest.approx(est.predictive_entropy(m, held_out[:128], 16), rel=1e-10)
    assert report.data["trained"]["kl"] != pytest.approx(report.data["untrained"]["kl"])


def test_the_report_metric_is_the_dense_metric_at_the_seeded_contexts(tiny):
    from catlm.analysis import estimators as est
    model, _, tokens, _, report, _ = tiny
    W, b = est.head_weights(model)
    hidden = est.read(model, tokens[200:328], block=16).hidden
    picked = np.sort(np.random.default_rng(2).choice(len(hidden), size=4, replace=False))
    dense = [np.linalg.eigvalsh(pullback_metric(W, h, b))[::-1] for h in hidden[picked]]
    metric = report.data["metric"]
    np.testing.assert_allclose(metric["mean_spectrum"], np.mean([d[:3] for d in dense], axis=0), rtol=1e-8)
    expected = {"top_share (λ1/tr g)": np.mean([d[0] / d.sum() for d in dense]),
                "top-k share of tr g": np.mean([d[:3].sum() / d.sum() for d in dense]),
                "λ1/λk": np.mean([d[0] / d[2] for d in dense]), "tr g": np.mean([d.sum() for d in dense])}
    assert metric["summary"] == pytest.approx(expected, rel=1e-8)
    averaged = np.linalg.eigvalsh(averaged_metric(W, hidden[picked], bias=b))[::-1]
    np.testing.assert_allclose(metric["averaged_spectrum"], averaged[:3], rtol=1e-8)
    assert metric["averaged_summary"] == pytest.approx(
        {"top_share (λ1/tr g)": averaged[0] / averaged.sum(), "top-k share of tr g": averaged[:3].sum() / averaged.sum(),
         "λ1/λk": averaged[0] / averaged[2], "tr g": averaged.sum()}, rel=1e-8)
    assert metric["operator_norm_error_bound"] == pytest.approx(3e-12 * np.max(np.sum(W * W, axis=1)), rel=1e-12)
    assert report.tables[2].rows == tuple((name, metric["summary"][name], metric["averaged_summary"][name])
                                          for name in expected)


def test_the_report_aligns_the_principal_components_of_the_context_means(tiny):
    from catlm.analysis import estimators as est
    from catlm.analysis.alignment import alignment_with_baselines
    model, fresh, tokens, _, report, _ = tiny
    held_out = tokens[200:]
    teacher = NgramSource.from_sequence(held_out[:150], 1, 6, cyclic=True)
    states, twin = (est.context_states(m, est.read(m, held_out[:128], block=16), teacher, 20) for m in (model, fresh))
    P = teacher.kernel_sparse()[states.rows].toarray()
    K = np.sqrt(P) @ np.sqrt(P).T
    expected = alignment_with_baselines(principal_components(states.hidden, states.law, 4), states.law, K, 3,
                                        2, principal_components(twin.hidden, twin.law, 4))
    found, expected = report.data["alignment"], expected.to_dict()
    assert set(found) == set(expected) == {"k", "eigenvalues", "model", "random", "permuted", "untrained"}
    assert found["k"] == 3
    np.testing.assert_allclose(found["eigenvalues"], expected["eigenvalues"], rtol=1e-9)
    for who in ("model", "random", "permuted", "untrained"):
        for score in ("angles_deg", "mean_angle_deg", "ky_fan", "cka"):
            np.testing.assert_allclose(found[who][score], expected[who][score], rtol=1e-7, atol=1e-6)
    assert report.tables[3].header == ("representation", "mean angle (deg)", "Ky Fan ratio", "CKA")
    assert [row[0] for row in report.tables[3].rows] == ["model", "random", "permuted", "untrained"]


def test_the_report_tables_and_summary_read_the_measured_values(tiny):
    _, _, _, _, report, _ = tiny
    data, t, u = report.data, report.data["trained"], report.data["untrained"]
    entropy_rows = (("H̄(k_head) predictive entropy", "predictive_entropy"), ("CE vs teacher", "cross_entropy"),
                    ("KL(teacher ‖ model)", "kl"), ("H(W|C) teacher", "entropy"), ("observed NLL", "observed_nll"),
                    ("max |CE − KL − H|", "identity_gap"), ("positions", "positions"))
    assert report.tables[0].rows == tuple((name, t[key], u[key]) for name, key in entropy_rows)
    assert report.tables[0].header == ("quantity", "trained", "untrained")
    assert report.tables[1].rows == tuple((int(r), h) for r, h in data["ngram_entropies"].items())
    assert report.tables[1].header == ("order r", "H(W | last r tokens)")
    assert report.tables[2].header == ("summary", "per context", "Ḡ")
    assert report.tables[3].rows[0][1:] == (np.mean(data["alignment"]["model"]["angles_deg"]),
                                            data["alignment"]["model"]["ky_fan"], data["alignment"]["model"]["cka"])
    assert report.summary[0].endswith("(tiny.gguf): head V = 6, d = 8; corpus `toy`, 400 tokens in the "
                                      "model's own tokenizer.")
    assert report.summary[1] == (f"The model reads {t['positions']} held-out positions in windows of 16 tokens; "
                                 "the teacher is the order-1 plug-in source of 150 held-out tokens.")
    h0, h1 = data["ngram_entropies"]["0"], data["ngram_entropies"]["1"]
    assert report.summary[2] == (f"Predictive entropy H̄(k_head) = {t['predictive_entropy']:.3f} nats against the "
                                 f"corpus's n-gram entropies H_0 = {h0:.3f}, H_1 = {h1:.3f} (nats).")
