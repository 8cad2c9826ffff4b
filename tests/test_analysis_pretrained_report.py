"""catlm.analysis.pretrained in its parts (the top spectrum and its summaries, the token support, the
slices, the n-gram entropies) and the whole bounded report on a tiny GPT, against dense metrics,
counts made here and the unsliced estimators."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest

from catlm.analysis.geometry import averaged_metric, head_probs, pullback_metric
from catlm.analysis.pretrained import (QUICK, SLICE, Budget, TopSpectrum, _top, lanczos_averaged_metric,
                                       lanczos_metric, metric_summary, ngram_entropies,
                                       principal_components, sliced, support)
from catlm.data.ngram import NgramSource
from counting import plugin_conditional_entropy


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


def test_lanczos_resolves_a_clustered_spectrum_and_is_reproducible():
    """d = 50, eigenvalues 1 ± 0.01 with the top three lifted by 0.03–0.05: a loose tolerance would
    be off by ~1e-3. The start vector comes from the seed, so a second run is identical bit for bit."""
    rng = np.random.default_rng(0)
    X, _ = np.linalg.qr(rng.standard_normal((50, 50)))
    values = 1.0 + 0.01 * rng.standard_normal(50)
    values[:3] += [0.05, 0.04, 0.03]
    S = X @ np.diag(values) @ X.T
    top = _top(lambda v: S @ v, 50, 6, seed=4)
    np.testing.assert_allclose(top, np.sort(values)[::-1][:6], atol=1e-10)
    np.testing.assert_array_equal(_top(lambda v: S @ v, 50, 6, seed=4), top)


def test_lanczos_metrics_default_to_32_eigenvalues_and_seed_0():
    rng = np.random.default_rng(12)
    W, hs = rng.standard_normal((60, 40)), rng.standard_normal((3, 40))
    single, averaged = lanczos_metric(W, hs[0]), lanczos_averaged_metric(W, hs)
    assert len(single.eigenvalues) == len(averaged.eigenvalues) == 32
    np.testing.assert_array_equal(single.eigenvalues, lanczos_metric(W, hs[0], 32, seed=0).eigenvalues)
    np.testing.assert_array_equal(averaged.eigenvalues, lanczos_averaged_metric(W, hs, 32, seed=0).eigenvalues)


def test_lanczos_metrics_read_exact_fractions_as_floats():
    from fractions import Fraction
    rng = np.random.default_rng(13)
    W, hs = rng.integers(-3, 4, size=(12, 5)) / 4, rng.integers(-3, 4, size=(2, 5)) / 2
    exact = lambda a: np.array([[Fraction(x) for x in row] for row in np.atleast_2d(a)], dtype=object)  # noqa: E731
    for found, expected in ((lanczos_metric(exact(W), exact(hs[0])[0], 3), lanczos_metric(W, hs[0], 3)),
                            (lanczos_averaged_metric(exact(W), exact(hs), 3), lanczos_averaged_metric(W, hs, 3))):
        np.testing.assert_allclose(found.eigenvalues, expected.eigenvalues, rtol=1e-9)
        assert found.trace == pytest.approx(expected.trace, rel=1e-12)


def test_the_support_is_the_fewest_tokens_of_mass_one_minus_tail():
    p = np.array([0.125, 0.5, 0.125, 0.25])
    np.testing.assert_array_equal(support(p, 0.25), [1, 3])              # 0.75 exactly
    np.testing.assert_array_equal(support(p, 0.5), [1])
    np.testing.assert_array_equal(support(p, 0.2), [0, 1, 3])            # ties: the first one
    np.testing.assert_array_equal(support(p, 0.0), [0, 1, 2, 3])
    np.testing.assert_array_equal(support(p, -1.0), [0, 1, 2, 3])
    np.testing.assert_array_equal(support(np.full(4, 0.25), 0.5), [0, 1])
    np.testing.assert_array_equal(support(np.array([0.5, 0.0, 0.5, 0.0]), 0.0), [0, 1, 2, 3])


def test_the_support_breaks_ties_by_the_token_index():
    """Masses w/64: the support of mass 57/64 holds every token of weight 3 or 2 and then the first
    tokens of weight 1 in index order (a plain quicksort would pick others among the ties)."""
    w = np.array([2, 2, 3, 3, 1, 1, 3, 3, 1, 1, 3, 2, 1, 3, 1, 2, 2, 2, 1, 1, 3, 3, 3, 2, 3, 1, 2, 3, 1, 1, 1, 3])
    heavy = np.flatnonzero(w >= 2)
    light = np.flatnonzero(w == 1)[:57 - w[heavy].sum()]
    np.testing.assert_array_equal(support(w / 64, 7 / 64), np.sort(np.concatenate([heavy, light])))


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
    few = rng.standard_normal((3, 5))                               # 3 contexts: at most 3 directions
    assert principal_components(few, np.full(3, 1 / 3), 4).shape == (3, 3)


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


def test_ngram_entropies_are_the_plug_in_conditional_entropies():
    tokens = [0, 1, 2, 0, 1, 1, 2, 0, 0, 1, 2, 2, 1, 0]
    found = ngram_entropies(NgramSource, np.array(tokens), (0, 1, 2), 3)
    assert list(found) == [0, 1, 2]
    for r in (0, 1, 2):
        assert found[r] == pytest.approx(plugin_conditional_entropy(tokens, r), rel=1e-12)


def test_the_quick_budget_reads_less_than_the_default():
    assert asdict(QUICK) == {"tokens": 512, "block": 128, "metric_contexts": 8, "eigenvalues": 16,
                             "tail": 1e-9, "alignment_contexts": 128, "components": 16,
                             "teacher_tokens": 50_000, "orders": (0, 1, 2)}
    assert asdict(Budget()) == {"tokens": 2048, "block": 256, "metric_contexts": 16, "eigenvalues": 32,
                                "tail": 1e-9, "alignment_contexts": 512, "components": 32,
                                "teacher_tokens": 200_000, "orders": (0, 1, 2, 3)}


# --- the whole report on a tiny GPT -------------------------------------------------------------

BUDGET = Budget(tokens=320, block=8, metric_contexts=4, eigenvalues=3, tail=1e-8, alignment_contexts=4,
                components=2, teacher_tokens=150, orders=(0, 1))
STEPS = ["order-1 teacher of 150 held-out tokens", "n-gram entropies of the corpus",
         "hidden states (trained and untrained)", "entropy and CE = KL + H (trained)",
         "entropy and CE = KL + H (untrained)", "pullback metric by Lanczos",
         "spectral alignment (model, random, permuted, untrained)"]


@dataclass
class Tiny:
    model: object
    fresh: object
    loaded: object
    tokens: np.ndarray
    out: Path

    @property
    def held_out(self):
        return self.tokens[400:]

    def teacher(self, order=1):
        return NgramSource.from_sequence(self.held_out[:150], order, 6, cyclic=True)

    def report(self, **options):
        from catlm.analysis.pretrained import pretrained_report
        return pretrained_report(self.loaded, self.fresh, self.tokens, NgramSource, "toy", self.out, **options)


@pytest.fixture
def tiny(tmp_path):
    """A tiny GPT (V = 6, d = 8, a bias on the head) and its twin, and a Markov-chain corpus of 800
    tokens that uses tokens 0..4 only (half held out): a teacher must be told V = 6, it cannot infer it."""
    torch = pytest.importorskip("torch")
    from catlm.models.gpt import GPT, GPTConfig
    from catlm.runs.loading import Loaded
    config = GPTConfig(vocab=6, context=16, layers=1, heads=1, dim=8, bias=True)
    torch.manual_seed(0)
    model = GPT(config).eval()
    with torch.no_grad():
        model.head.weight.mul_(60.0)                 # sharp enough that the metric is not isotropic
        model.head.bias.copy_(torch.tensor([3.0, -2.0, 0.5, 1.0, -1.0, 2.0]))
    torch.manual_seed(1)
    fresh = GPT(config).eval()
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.full(5, 0.4), size=5)
    tokens = [0]
    for _ in range(799):
        tokens.append(int(rng.choice(5, p=P[tokens[-1]])))
    loaded = Loaded(model, None, tmp_path / "tiny-run", {"meta": {"source": "tiny.gguf"},
                                                         "train_config": {"val_fraction": 0.5}})
    return Tiny(model, fresh, loaded, np.array(tokens), tmp_path)


@pytest.fixture
def report(tiny):
    steps = []

    def progress(what, step):
        steps.append(what)
        return step()

    found = tiny.report(order=1, k=3, seed=2, budget=BUDGET, progress=progress)
    assert steps == STEPS
    return found


def test_the_report_counts_its_tokens_and_announces_its_steps(tiny, report):
    data = report.data
    assert report.title == "catlm analyze: tiny-run (pretrained)"
    assert (data["target"], data["corpus"], data["order"], data["vocab"], data["dim"]) == \
        (str(tiny.out / "tiny-run"), "toy", 1, 6, 8)
    assert (data["corpus_tokens"], data["teacher_tokens"]) == (800, 150)
    assert data["budget"] == asdict(BUDGET)
    assert data["ngram_entropies"] == pytest.approx({str(r): plugin_conditional_entropy(list(tiny.tokens), r) for r in (0, 1)})
    assert [f.file for f in report.figures] == ["metric_spectrum.png"]
    assert report.figures[0].caption == "Top eigenvalues of the pullback metric of the real head"
    assert (tiny.out / "metric_spectrum.png").stat().st_size > 0


def test_the_report_decomposes_the_nll_against_the_teacher_of_the_held_out_half(tiny, report):
    """320 held-out tokens in windows of 8: 319 positions with a context, read in two slices
    (256 + 63) whose means are weighted by their positions."""
    from catlm.analysis import estimators as est
    teacher = tiny.teacher()
    for who, m in (("trained", tiny.model), ("untrained", tiny.fresh)):
        whole = est.nll_decomposition_vs_teacher(m, tiny.held_out[:320], teacher, block=8)
        r = report.data[who]
        for name in ("cross_entropy", "kl", "entropy", "observed_nll"):
            assert r[name] == pytest.approx(getattr(whole, name), rel=1e-10)
        assert r["positions"] == whole.positions == 319
        assert r["identity_gap"] < 1e-9
        assert r["predictive_entropy"] == pytest.approx(est.predictive_entropy(m, tiny.held_out[:320], 8), rel=1e-10)
    assert report.data["trained"]["kl"] != pytest.approx(report.data["untrained"]["kl"])


def dense_spectra(tiny, seed, contexts):
    from catlm.analysis import estimators as est
    W, b = est.head_weights(tiny.model)
    hidden = est.read(tiny.model, tiny.held_out[:320], block=8).hidden
    picked = np.sort(np.random.default_rng(seed).choice(len(hidden), size=contexts, replace=False))
    return W, b, hidden[picked], [np.linalg.eigvalsh(pullback_metric(W, h, b))[::-1] for h in hidden[picked]]


def test_the_report_metric_is_the_dense_metric_at_the_seeded_contexts(tiny, report):
    """Against the dense metric, to within the bound 3 · tail · max ‖w‖² of the dropped tail, and bit
    for bit against ``lanczos_metric`` with the report's seed and tail (which drops tokens here)."""
    W, b, hs, dense = dense_spectra(tiny, 2, 4)
    metric, bound = report.data["metric"], 3e-8 * np.max(np.sum(W * W, axis=1))
    assert metric["operator_norm_error_bound"] == pytest.approx(bound, rel=1e-12)
    assert any(len(support(p, 1e-8)) < 6 for p in head_probs(W, hs, b))
    lanczos = [lanczos_metric(W, h, 3, b, seed=2, tail=1e-8).eigenvalues for h in hs]
    np.testing.assert_array_equal(metric["mean_spectrum"], np.mean(lanczos, axis=0))
    np.testing.assert_array_equal(metric["averaged_spectrum"], lanczos_averaged_metric(W, hs, 3, b, seed=2).eigenvalues)
    np.testing.assert_allclose(metric["mean_spectrum"], np.mean([d[:3] for d in dense], axis=0), atol=bound)
    traces = [d.sum() for d in dense]                   # exact: the trace reads every token
    expected = {"top_share (λ1/tr g)": np.mean([top[0] / tr for top, tr in zip(lanczos, traces)]),
                "top-k share of tr g": np.mean([top.sum() / tr for top, tr in zip(lanczos, traces)]),
                "λ1/λk": np.mean([top[0] / top[2] for top in lanczos]), "tr g": np.mean(traces)}
    assert metric["summary"] == pytest.approx(expected, rel=1e-10)
    averaged = np.linalg.eigvalsh(averaged_metric(W, hs, bias=b))[::-1]
    np.testing.assert_allclose(metric["averaged_spectrum"], averaged[:3], rtol=1e-8)
    assert metric["averaged_summary"] == pytest.approx(
        {"top_share (λ1/tr g)": averaged[0] / averaged.sum(), "top-k share of tr g": averaged[:3].sum() / averaged.sum(),
         "λ1/λk": averaged[0] / averaged[2], "tr g": averaged.sum()}, rel=1e-8)
    assert report.tables[2].rows == tuple((name, metric["summary"][name], metric["averaged_summary"][name])
                                          for name in expected)


def expected_alignment(tiny, teacher, contexts, components, k, seed):
    from catlm.analysis import estimators as est
    from catlm.analysis.alignment import alignment_with_baselines
    states, twin = (est.context_states(m, est.read(m, tiny.held_out[:320], block=8), teacher, contexts)
                    for m in (tiny.model, tiny.fresh))
    P = teacher.kernel_sparse()[states.rows].toarray()
    K = np.sqrt(P) @ np.sqrt(P).T
    return alignment_with_baselines(principal_components(states.hidden, states.law, components), states.law, K, k,
                                    seed, principal_components(twin.hidden, twin.law, components)).to_dict()


def assert_same_alignment(found, expected):
    assert set(found) == set(expected) == {"k", "eigenvalues", "model", "random", "permuted", "untrained"}
    assert found["k"] == expected["k"]
    np.testing.assert_allclose(found["eigenvalues"], expected["eigenvalues"], rtol=1e-9)
    for who in ("model", "random", "permuted", "untrained"):
        for score in ("angles_deg", "mean_angle_deg", "ky_fan", "cka"):
            np.testing.assert_allclose(found[who][score], expected[who][score], rtol=1e-7, atol=1e-6)


def test_the_report_aligns_the_principal_components_of_the_most_frequent_contexts(tiny, report):
    """The teacher's 4 most frequent contexts of 5; 2 principal directions
    of E[h | context], so span{1, h} is a proper subspace and the angles are not all 0."""
    assert tiny.teacher().kernel_sparse().shape[0] == 5
    expected = expected_alignment(tiny, tiny.teacher(), 4, 2, 3, 2)
    assert len(expected["eigenvalues"]) == 4 and max(expected["model"]["angles_deg"]) > 1.0
    assert_same_alignment(report.data["alignment"], expected)
    assert [row[0] for row in report.tables[3].rows] == ["model", "random", "permuted", "untrained"]


def test_the_report_defaults_are_order_2_k_8_and_seed_0(tiny):
    from dataclasses import replace
    budget = replace(BUDGET, alignment_contexts=12, components=4)
    data = tiny.report(budget=budget).data
    assert data["order"] == 2 and data["alignment"]["k"] == 8
    assert_same_alignment(data["alignment"], expected_alignment(tiny, tiny.teacher(2), 12, 4, 8, 0))
    _, _, _, dense = dense_spectra(tiny, 0, 4)
    np.testing.assert_allclose(data["metric"]["mean_spectrum"], np.mean([d[:3] for d in dense], axis=0), atol=1e-6)


def test_the_report_tables_read_the_measured_values(report):
    data, t, u = report.data, report.data["trained"], report.data["untrained"]
    entropy_rows = (("H̄(k_head) predictive entropy", "predictive_entropy"), ("CE vs teacher", "cross_entropy"),
                    ("KL(teacher ‖ model)", "kl"), ("H(W|C) teacher", "entropy"), ("observed NLL", "observed_nll"),
                    ("max |CE − KL − H|", "identity_gap"), ("positions", "positions"))
    titles_and_headers = [
        ("Entropy and the NLL identity against the teacher (nats/token)", ("quantity", "trained", "untrained")),
        ("n-gram conditional entropies of the corpus, on the model's tokens (nats)", ("order r", "H(W | last r tokens)")),
        ("Pullback metric g*(h) by Lanczos (top 3), means over 4 contexts, and the averaged metric Ḡ",
         ("summary", "per context", "Ḡ")),
        ("Spectral alignment with the top-3 eigenfunctions of M_K (K_BC)",
         ("representation", "mean angle (deg)", "Ky Fan ratio", "CKA"))]
    assert [(table.title, table.header) for table in report.tables] == titles_and_headers
    assert report.tables[0].rows == tuple((name, t[key], u[key]) for name, key in entropy_rows)
    assert report.tables[1].rows == tuple((int(r), h) for r, h in data["ngram_entropies"].items())
    alignment = data["alignment"]
    assert report.tables[3].rows == tuple((who, alignment[who]["mean_angle_deg"], alignment[who]["ky_fan"],
                                           alignment[who]["cka"]) for who in ("model", "random", "permuted", "untrained"))


def test_the_report_summary_reads_the_measured_values(tiny, report):
    data, t, u = report.data, report.data["trained"], report.data["untrained"]
    metric, alignment = data["metric"], data["alignment"]
    h0, h1 = data["ngram_entropies"]["0"], data["ngram_entropies"]["1"]
    mean_angle = {who: alignment[who]["mean_angle_deg"] for who in ("model", "untrained", "random", "permuted")}
    assert report.summary == (
        f"Converted run `{tiny.out / 'tiny-run'}` (tiny.gguf): head V = 6, d = 8; corpus `toy`, 800 tokens in "
        "the model's own tokenizer.",
        "The model reads 319 held-out positions in windows of 8 tokens; the teacher is the order-1 plug-in "
        "source of 150 held-out tokens.",
        f"Predictive entropy H̄(k_head) = {t['predictive_entropy']:.3f} nats against the corpus's n-gram "
        f"entropies H_0 = {h0:.3f}, H_1 = {h1:.3f} (nats).",
        f"CE = KL + H: {t['cross_entropy']:.3f} = {t['kl']:.3f} + {t['entropy']:.3f} "
        f"(max gap {t['identity_gap']:.1e}); untrained twin KL {u['kl']:.3f}.",
        f"g*(h) by Lanczos at 4 contexts: λ1/tr g = {metric['summary']['top_share (λ1/tr g)']:.3f}, top-3 share "
        f"{metric['summary']['top-k share of tr g']:.3f} (products over the tokens carrying mass 1 − 1e-08: "
        f"error ≤ {metric['operator_norm_error_bound']:.1e} in operator norm).",
        f"Spectral alignment (K_BC, top 3, E[h | context] on its top 2 principal directions, 4 contexts): mean "
        f"angle {mean_angle['model']:.1f}° trained, {mean_angle['untrained']:.1f}° untrained, "
        f"{mean_angle['random']:.1f}° Gaussian features, {mean_angle['permuted']:.1f}° permuted rows.")


def test_a_run_without_meta_holds_out_a_tenth_and_token_ids_may_come_as_floats(tiny):
    from dataclasses import replace
    from catlm.analysis.pretrained import pretrained_report
    loaded = replace(tiny.loaded, state={})                 # no meta, no val_fraction: the default 0.1
    report = pretrained_report(loaded, tiny.fresh, tiny.tokens.astype(float), NgramSource, "toy", tiny.out,
                               order=1, k=3, seed=2, budget=replace(BUDGET, tokens=64))
    assert report.summary[0].startswith(f"Converted run `{tiny.out / 'tiny-run'}` (?): head V = 6")
    assert (report.data["corpus_tokens"], report.data["teacher_tokens"]) == (800, 80)
    assert report.data["ngram_entropies"]["1"] == pytest.approx(plugin_conditional_entropy(list(tiny.tokens), 1))


def test_the_report_plots_both_spectra_on_a_log_scale(tiny, monkeypatch):
    from catlm.analysis import report as rp
    calls = []

    def line_plot(out, name, series, **labels):
        calls.append((out, name, series, labels))
        return rp.Figure(name, labels["caption"])

    monkeypatch.setattr(rp, "line_plot", line_plot)
    data = tiny.report(order=1, k=3, seed=2, budget=BUDGET).data
    [(out, name, series, labels)] = calls
    assert (out, name) == (tiny.out, "metric_spectrum.png")
    assert labels == {"title": "g*(h) top spectrum (Lanczos)", "xlabel": "i", "ylabel": "λ_i", "log": True,
                      "caption": "Top eigenvalues of the pullback metric of the real head"}
    assert list(series) == ["mean over contexts", "averaged metric Ḡ"]
    for label, key in (("mean over contexts", "mean_spectrum"), ("averaged metric Ḡ", "averaged_spectrum")):
        x, y = series[label]
        assert list(x) == [1, 2, 3]
        np.testing.assert_allclose(y, data["metric"][key], rtol=1e-15)
