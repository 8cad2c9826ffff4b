"""catlm.analysis.estimators on tiny models whose kernel is written out here: h_t is a table row of
the current token (and, for ``read``, of the offset in its window), k_head(h) = softmax(W h + b).
Every expected value is computed in this file with numpy or ``math`` loops over positions, not
with catlm: log-softmax and Shannon entropy by their definitions, the teacher's rows by dictionary
lookup, the probe's optimum on a constant sequence by a one-dimensional root find."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize

torch = pytest.importorskip("torch", reason="torch is needed for the estimators")

from catlm.analysis import estimators as est  # noqa: E402
from catlm.analysis.spectral import operator_spectrum, similarity_kernel  # noqa: E402
from catlm.data.ngram import NgramSource  # noqa: E402
from catlm.errors import BackendError, SpecError  # noqa: E402
from catlm.models.heads import LinearSoftmax  # noqa: E402


class Table(torch.nn.Module):
    """h_t = table[token t]; k_head(h) = softmax(W h + b) with a float64 head."""

    def __init__(self, table, W, bias=None, context: int = 64):
        super().__init__()
        self.register_buffer("table", torch.as_tensor(np.asarray(table), dtype=torch.float64))
        W = np.asarray(W, dtype=float)
        self.head = LinearSoftmax(W.shape[1], W.shape[0], bias=bias is not None)
        self.head.weight = torch.nn.Parameter(torch.as_tensor(W))
        if bias is not None:
            self.head.bias = torch.nn.Parameter(torch.as_tensor(np.asarray(bias, dtype=float)))
        self.context = context

    def hidden(self, idx):
        return self.table[idx]


class Recorder(torch.nn.Module):
    """h_t = (token, offset in the window) in float32; records each batch's shape and training flag."""

    def __init__(self, context: int = 4):
        super().__init__()
        self.head = LinearSoftmax(2, 5)
        self.context, self.calls = context, []

    def hidden(self, idx):
        self.calls.append((tuple(idx.shape), self.training))
        offset = torch.arange(idx.shape[1]).expand_as(idx)
        return torch.stack([idx, offset], -1).float()


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """exp(l_i) / Σ_j exp(l_j), row by row, with math.fsum (no shift: the logits here are small)."""
    out = np.empty_like(logits, dtype=float)
    for r, row in enumerate(logits):
        total = math.fsum(math.exp(x) for x in row)
        out[r] = [math.exp(x) / total for x in row]
    return out


def shannon(p) -> float:
    return -math.fsum(x * math.log(x) for x in p if x > 0)


# --- reading a model --------------------------------------------------------------------------------

def test_read_cuts_non_overlapping_windows_of_the_model_context_and_drops_the_tail():
    model = Recorder(context=4)
    model.train()
    tokens = np.arange(11) % 5
    readout = est.read(model, tokens)                              # block = context = 4: 2 windows
    assert readout.tokens.tolist() == tokens.tolist()
    assert readout.position.tolist() == list(range(8))
    assert readout.offset.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert readout.hidden.dtype == np.float64
    assert readout.hidden.tolist() == [[t, o] for t, o in zip(tokens[:8], readout.offset)]
    assert model.calls == [((2, 4), False)] and model.training      # read in eval mode, mode restored
    model.calls.clear()
    assert est.read(model, np.zeros(42, dtype=int), 2).position.tolist() == list(range(42))
    assert [shape for shape, _ in model.calls] == [(16, 2), (5, 2)]   # batches of 16 windows by default
    model.eval()
    est.read(model, tokens, 3)
    assert not model.training


def test_read_honours_block_limit_and_batch():
    model, tokens = Recorder(context=100), [4, 3, 2, 1, 0, 1, 2, 3, 4, 0, 1]
    readout = est.read(model, tokens, block=2, limit=9, batch=3)   # tokens[:9]: windows 0-1, 2-3, 4-5, 6-7
    assert [shape for shape, _ in model.calls] == [(3, 2), (1, 2)]
    assert readout.tokens.tolist() == tokens[:9]
    assert readout.position.tolist() == list(range(8)) and readout.offset.tolist() == [0, 1] * 4
    assert readout.hidden[:, 0].tolist() == tokens[:8]
    whole = est.read(Recorder(context=100), np.array([[1, 2], [3, 4]]))   # block = len(tokens), flattened
    assert whole.position.tolist() == [0, 1, 2, 3] and whole.offset.tolist() == [0, 1, 2, 3]
    assert whole.hidden[:, 0].tolist() == [1, 2, 3, 4]
    default = Recorder(context=100)
    del default.context                                             # no context: windows of 64
    assert est.read(default, np.zeros(130, dtype=int)).offset.tolist() == list(range(64)) * 2
    with pytest.raises(SpecError, match=r"^need at least 2 tokens to estimate anything, got 1"):
        est.read(Recorder(), [3])
    assert est.read(Recorder(), [3, 4]).hidden.tolist() == [[3, 0], [4, 1]]


def test_log_softmax_is_the_definition_and_stays_finite_on_large_logits():
    logits = np.array([[0.5, -1.0, 2.0, 0.0], [3.0, 3.0, -2.0, 1.0]])
    np.testing.assert_allclose(est.log_softmax(logits), np.log(softmax_rows(logits)), atol=1e-14)
    big = np.array([[1000.0, 1000.0, 1000.0 + math.log(2)], [-5.0, -5.0, -5.0]])
    np.testing.assert_allclose(est.log_softmax(big), [[-math.log(4), -math.log(4), math.log(2) - math.log(4)],
                                                      [-math.log(3)] * 3], atol=1e-12)


def test_head_weights_reads_the_head_in_float64_and_refuses_a_model_without_one():
    W, b = np.arange(6.0).reshape(3, 2), np.array([0.5, -0.5, 1.0])
    weight, bias = est.head_weights(Table(np.eye(2), W, b))
    assert weight.dtype == bias.dtype == np.float64 and weight.tolist() == W.tolist() and bias.tolist() == b.tolist()
    assert est.head_weights(Table(np.eye(2), W))[1] is None
    for model in (torch.nn.Linear(2, 2), torch.nn.Sequential()):
        with pytest.raises(BackendError) as info:
            est.head_weights(model)
        assert str(info.value).startswith(f"{type(model).__name__} has no linear-softmax head with a weight (V, d)")
        assert "model.head.weight" in info.value.hint
    odd = Table(np.eye(2), W)
    odd.head = torch.nn.Identity()                                  # a head without a weight tensor
    with pytest.raises(BackendError, match="Table has no linear-softmax head"):
        est.head_weights(odd)


# --- categorical entropy of the head -------------------------------------------------------------------

def test_head_entropies_with_a_bias_over_several_chunks(monkeypatch):
    """Ψ_KL = Shannon entropy and Ψ_TV = 1 − Σ p² of softmax(W h + b), row by row, across chunks."""
    monkeypatch.setattr(est, "CHUNK", 3)
    table = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0], [0.5, 0.5]])
    W, b = np.array([[1.0, -1.0], [0.5, 2.0], [-1.5, 0.0]]), np.array([0.3, -0.2, 1.0])
    model, tokens = Table(table, W, b), np.array([0, 1, 2, 3, 3, 2, 1, 0])
    p = softmax_rows(table[tokens] @ W.T + b)
    readout = est.read(model, tokens, 8)
    np.testing.assert_allclose(est.head_entropies(model, readout), [shannon(row) for row in p], atol=1e-13)
    np.testing.assert_allclose(est.head_entropies(model, readout, "tv"), 1 - (p ** 2).sum(1), atol=1e-13)
    assert est.predictive_entropy(model, readout) == pytest.approx(np.mean([shannon(r) for r in p]), abs=1e-13)
    assert est.predictive_entropy(model, tokens, 4, limit=4) == \
        pytest.approx(np.mean([shannon(r) for r in p[:4]]), abs=1e-13)
    # Rényi order α of Δp against p⊗p: 1/(α−1) log Σ_i p_i^α (p_i²)^(1−α) = −2 log Σ p^1.5 at α = 1/2
    half = est.head_entropies(model, readout, "renyi", alpha=0.5)
    np.testing.assert_allclose(half, [-2 * math.log(math.fsum(x ** 1.5 for x in row)) for row in p], atol=1e-13)
    with pytest.raises(SpecError, match="unknown divergence 'hellinger-typo'"):
        est.head_entropies(model, readout, "hellinger-typo")
    with pytest.raises(SpecError, match="'renyi' needs an order alpha"):
        est.predictive_entropy(model, readout, divergence="renyi")


# --- the NLL identity against a teacher ----------------------------------------------------------------

def test_teacher_rows_are_found_by_context_lookup():
    seen = np.array([0, 1, 2, 0, 1, 1, 2, 2, 0])
    teacher = NgramSource.from_sequence(seen, 2, 3)
    index = {tuple(c): i for i, c in enumerate(teacher.contexts.tolist())}
    tokens = np.array([2, 1, 0, 0, 2, 2, 1, 1, 2, 0, 2])
    expected = [-1] + [index.get((tokens[p - 1], tokens[p]), -1) for p in range(1, len(tokens))]
    assert -1 in expected[1:] and max(expected) == len(index) - 1      # unseen and last contexts occur
    assert est.teacher_rows(teacher, tokens, np.arange(len(tokens))).tolist() == expected
    order_one = NgramSource.from_sequence(np.array([1, 2, 1]), 1, 3)    # contexts 1 and 2 only
    assert est.teacher_rows(order_one, tokens, np.array([0, 1, 2, 4])).tolist() == [1, 0, -1, 1]
    low = NgramSource.from_sequence(np.array([0, 1, 0, 1]), 2, 3)        # contexts (0, 1) and (1, 0) only
    assert est.teacher_rows(low, np.array([0, 1, 0, 2, 2]), np.arange(5)).tolist() == [-1, 0, 1, -1, -1]
    order_zero = NgramSource.from_sequence(seen, 0, 3)
    assert est.teacher_rows(order_zero, tokens, np.array([0, 5, 9])).tolist() == [0, 0, 0]


def test_nll_decomposition_averages_over_the_usable_positions_only():
    """Positions count when their window holds the teacher's r tokens, a next token follows and the
    teacher saw the context; coverage divides by the read positions that have a next token."""
    V = 3
    teacher = NgramSource.from_sequence(np.array([0, 1, 2, 0, 1, 1, 2, 2, 0, 0, 1]), 2, V)
    P, index = teacher.kernel(), {tuple(c): i for i, c in enumerate(teacher.contexts.tolist())}
    table = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    W, b = np.array([[0.7, -0.3], [0.1, 0.9], [-0.5, 0.4]]), np.array([0.2, 0.0, -0.1])
    tokens = np.array([0, 1, 2, 2, 1, 0, 1, 1, 2, 0, 0, 2, 2, 1, 0, 1, 2, 0])     # 18 tokens, block 5
    q = softmax_rows(table @ W.T + b)                                   # q(· | current token)
    ce, kl, h, observed, with_next = [], [], [], [], 0
    for start in range(0, 15, 5):                                       # windows 0-4, 5-9, 10-14
        for offset in range(5):
            pos = start + offset
            with_next += pos + 1 < len(tokens)
            context = (tokens[pos - 1], tokens[pos]) if offset >= 1 else None
            if context in index and pos + 1 < len(tokens):
                p, row = P[index[context]], q[tokens[pos]]
                ce.append(-math.fsum(x * math.log(y) for x, y in zip(p, row)))
                kl.append(math.fsum(x * math.log(x / y) for x, y in zip(p, row) if x > 0))
                h.append(shannon(p))
                observed.append(-math.log(row[tokens[pos + 1]]))
    assert 0 < len(ce) < with_next == 15
    result = est.nll_decomposition_vs_teacher(Table(table, W, b), tokens, teacher, block=5)
    assert result.positions == len(ce) and result.coverage == pytest.approx(len(ce) / 15, abs=1e-15)
    for got, want in ((result.cross_entropy, ce), (result.kl, kl), (result.entropy, h),
                      (result.observed_nll, observed)):
        assert got == pytest.approx(np.mean(want), abs=1e-13)
    assert 0 <= result.identity_gap < 1e-13
    assert list(result.to_dict()) == ["cross_entropy", "kl", "entropy", "observed_nll", "identity_gap",
                                      "positions", "coverage"]
    assert result.to_dict()["kl"] == result.kl and result.to_dict()["positions"] == len(ce)
    short = est.nll_decomposition_vs_teacher(Table(table, W, b), tokens, teacher, block=5, limit=10)
    assert short.positions == sum(1 for c in range(10) if 0 < c % 5 and c + 1 < 10
                                  and (tokens[c - 1], tokens[c]) in index)


def test_nll_decomposition_refuses_a_teacher_that_sees_nothing_or_another_vocabulary():
    teacher = NgramSource.from_sequence(np.array([0, 0, 0, 0]), 2, 3)    # only the context (0, 0)
    model = Table(np.eye(3), np.eye(3))
    with pytest.raises(SpecError) as info:
        est.nll_decomposition_vs_teacher(model, np.array([0, 1, 0, 1, 2, 1]), teacher)
    assert str(info.value).startswith("no position of the sequence has a context the teacher has seen")
    assert "lower its order" in info.value.hint
    with pytest.raises(SpecError) as info:
        est.nll_decomposition_vs_teacher(Table(np.eye(4), np.eye(4)), np.array([0, 0, 0]), teacher)
    assert str(info.value).startswith("the teacher has 3 tokens but the model's head 4")
    assert "vocab_size=V" in info.value.hint


# --- the probes on a constant sequence: an exact optimum --------------------------------------------------

def constant_probe_oracle(m: int, smoothing: float, weight_decay: float,
                          c: float = 1 / math.sqrt(1 / 3 - 1 / 9)) -> tuple[float, float]:
    """(baseline CE, probe CE) on the held-out triples of a constant sequence of token 0 (V = 3), with
    m training triples and h_t = e_0 (or any h whose only nonzero entry is a first 1). The count table
    gives q(0) = (m + s)/(m + 3s). The probe's logits are base + c a with c = 1/std(h) (h is scaled by
    its std: 1/sqrt(1/3 − 1/9) for h = e_0 in 3 dimensions, 2 for h = (1, 0)) and a the first row of
    A; at the optimum of CE + λ|a|² the gradient c (p − e_0) + 2λ a vanishes, so a = (2u, −u, −u)
    with u = c (1 − p_0) / (4λ): one equation in u, solved by a root find."""
    s, lam = smoothing, weight_decay
    base0, base1 = math.log((m + s) / (m + 3 * s)), math.log(s / (m + 3 * s))

    def p0(u):                                    # a = (2u, −u, −u): logits base0 + 2cu, base1 − cu (twice)
        return 1 / (1 + 2 * math.exp(base1 - c * u - base0 - 2 * c * u))

    # ∂/∂a_0: c (p_0 − 1) + 2λ a_0 = 0 with a_0 = 2u  →  u = c (1 − p_0) / (4λ)
    u = scipy.optimize.brentq(lambda u: u - c * (1 - p0(u)) / (4 * lam), 0, c / (4 * lam), xtol=1e-14)
    return -math.log(p0(0)), -math.log(p0(u))


def test_conditional_probe_reaches_the_exact_optimum_on_a_constant_sequence():
    model, tokens = Table(np.eye(3), np.zeros((3, 3))), np.zeros(41, dtype=int)
    probe = est.conditional_probe(model, tokens, block=41, weight_decay=0.01, smoothing=0.25)
    assert (probe.train_pairs, probe.test_pairs) == (19, 20)          # 39 triples, half to train
    baseline, fitted = constant_probe_oracle(19, 0.25, 0.01)
    assert probe.baseline_ce == pytest.approx(baseline, abs=1e-12)
    assert probe.probe_ce == pytest.approx(fitted, abs=1e-6)
    assert probe.estimate == pytest.approx(baseline - fitted, abs=1e-6) and probe.estimate > 0.01
    assert probe.estimate == probe.baseline_ce - probe.probe_ce
    assert probe.label == "lower-bound estimate of I(H_t; W_t+2 | W_t+1) (probe, nats)"
    narrow = Table(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.zeros((3, 2)))    # d = 2 < V = 3
    three = est.conditional_probe(narrow, tokens, 3, block=41, weight_decay=0.05)        # smoothing 0.5
    assert (three.train_pairs, three.test_pairs) == (19, 19)
    baseline, fitted = constant_probe_oracle(19, 0.5, 0.05, c=2.0)
    assert (three.baseline_ce, three.probe_ce) == (pytest.approx(baseline, abs=1e-12), pytest.approx(fitted, abs=1e-6))
    assert three.label == "lower-bound estimate of I(H_t; W_t+3 | W_t+2) (probe, nats)"
    early = est.conditional_probe(model, tokens, block=41, steps=1, weight_decay=0.01, smoothing=0.25)
    assert abs(early.probe_ce - probe.probe_ce) > 1e-3               # one L-BFGS step does not reach it
    cut = est.conditional_probe(model, tokens, block=10, limit=35)  # windows 0-9, ..., 20-29: 30 triples
    assert (cut.train_pairs, cut.test_pairs) == (15, 15)
    assert three.to_dict() == {"baseline_ce": three.baseline_ce, "probe_ce": three.probe_ce,
                               "estimate": three.estimate, "train_pairs": 19, "test_pairs": 19,
                               "label": three.label}


def test_surplus_probe_on_a_constant_sequence_has_equal_exact_terms():
    model, tokens = Table(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.zeros((3, 2))), np.zeros(43, dtype=int)
    found = est.surplus_probe(model, tokens, 4, block=43, weight_decay=0.01, smoothing=0.25)
    baseline, fitted = constant_probe_oracle(19, 0.25, 0.01, c=2.0)   # 39 positions with 4 tokens after
    assert len(found.terms) == 3 and found.test_pairs == 20
    np.testing.assert_allclose(found.terms, [baseline - fitted] * 3, atol=1e-5)   # L-BFGS's tolerance
    assert found.total == pytest.approx(sum(found.terms), abs=1e-15)
    assert found.to_dict() == {"terms": list(found.terms), "total": found.total, "test_pairs": 20}
    default = est.surplus_probe(model, tokens, block=43, weight_decay=0.01)       # K = 3, smoothing 0.5
    baseline, fitted = constant_probe_oracle(20, 0.5, 0.01, c=2.0)                # 40 positions
    np.testing.assert_allclose(default.terms, [baseline - fitted] * 2, atol=1e-5)
    assert len(est.surplus_probe(model, tokens, 2, block=43).terms) == 1
    assert est.surplus_probe(model, tokens, 2, block=10, limit=35).test_pairs == 15   # 30 positions


def test_probes_refuse_too_few_tokens_and_orders_without_a_chain_rule_term():
    model = Table(np.eye(3), np.zeros((3, 3)))
    with pytest.raises(SpecError, match=r"^offset=1: the probe conditions on W_\(t\+offset-1\), so offset >= 2"):
        est.conditional_probe(model, np.zeros(40, dtype=int), offset=1)
    with pytest.raises(SpecError, match=r"^only 3 probe triples; the probe needs more tokens"):
        est.conditional_probe(model, np.zeros(5, dtype=int))
    assert est.conditional_probe(model, np.zeros(6, dtype=int)).train_pairs == 2     # 4 triples: enough
    with pytest.raises(SpecError, match=r"^steps=1: the surplus has chain-rule terms only for K >= 2"):
        est.surplus_probe(model, np.zeros(40, dtype=int), 1)
    with pytest.raises(SpecError, match=r"^only 3 positions have 3 tokens after them; need more tokens"):
        est.surplus_probe(model, np.zeros(6, dtype=int), 3)
    assert est.surplus_probe(model, np.zeros(7, dtype=int), 3).test_pairs == 2       # 4 positions: enough


# --- a model's own K-step kernel -------------------------------------------------------------------------

def test_rollout_kernel_of_a_last_token_model_is_a_product_of_its_rows_in_any_batch():
    table = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    W, b = np.array([[0.5, -1.0], [1.5, 0.25], [-0.5, 0.75]]), np.array([0.1, -0.3, 0.2])
    q = softmax_rows(table @ W.T + b)                                   # q(next | last token)
    expected = np.einsum("a,ab,bc->abc", q[1], q, q)                    # after the prefix (2, 1)
    model = Table(table, W, b, context=4)
    model.train()
    for batch in (1, 2, 512):
        np.testing.assert_allclose(est.rollout_kernel(model, [2, 1], 3, batch=batch), expected, atol=1e-14)
    assert model.training
    model.eval()
    np.testing.assert_allclose(est.rollout_kernel(model, np.array([[0, 2, 1]]), 2), expected.sum(2), atol=1e-14)
    assert not model.training
    np.testing.assert_allclose(est.rollout_kernel(model, [0], 1), q[0], atol=1e-15)


def test_rollout_kernel_refuses_an_empty_or_too_long_prefix_and_too_many_paths():
    model = Table(np.eye(3), np.eye(3), context=4)
    with pytest.raises(SpecError, match=r"^a rollout of 2 tokens after 0 needs a nonempty prefix inside"):
        est.rollout_kernel(model, [], 2)
    with pytest.raises(SpecError, match=r"^a rollout of 2 tokens after 4 needs a nonempty prefix"):
        est.rollout_kernel(model, [0, 1, 2, 0], 2)                      # 4 + 2 − 1 = 5 > 4
    assert est.rollout_kernel(model, [0, 1, 2], 2).shape == (3, 3)      # 3 + 2 − 1 = 4 fits
    model.context = 40
    with pytest.raises(SpecError) as info:
        est.rollout_kernel(model, [0], 14)                              # 3**14 = 4782969 > 2e6
    assert str(info.value).startswith("V**K = 3**14 continuations is too many to enumerate")
    assert "lower steps" in info.value.hint
    del model.context                                                   # no context: any length
    assert est.rollout_kernel(model, [0] * 70, 1).shape == (3,)


# --- the pullback metric over contexts --------------------------------------------------------------------

def fisher(W: np.ndarray, b: np.ndarray, h: np.ndarray) -> np.ndarray:
    """g*(h) = Σ_i p_i (w_i − w̄)(w_i − w̄)ᵀ, w̄ = Σ p_i w_i: the covariance of the head rows under p."""
    p = softmax_rows((W @ h + b)[None])[0]
    mean = p @ W
    return sum(pi * np.outer(w - mean, w - mean) for pi, w in zip(p, W))


def test_metric_spectra_over_many_contexts_and_a_sample_of_them():
    rng = np.random.default_rng(3)
    V, d = 5, 3
    table, W, b = rng.normal(size=(V, d)), rng.normal(size=(V, d)), rng.normal(size=V)
    model, tokens = Table(table, W, b, context=200), rng.integers(0, V, 150)
    metrics = np.array([fisher(W, b, table[t]) for t in tokens])
    spectra = est.metric_spectra(model, tokens, n_contexts=1000, block=150)   # all 150: more than one chunk
    expected = np.sort(np.linalg.eigvalsh(metrics), axis=1)[:, ::-1]
    np.testing.assert_allclose(spectra.eigenvalues, expected, atol=1e-12)
    average = metrics.mean(0)
    np.testing.assert_allclose(spectra.averaged_spectrum, np.sort(np.linalg.eigvalsh(average))[::-1], atol=1e-12)
    assert np.all(np.diff(spectra.averaged_spectrum) <= 0)
    np.testing.assert_allclose(average @ spectra.averaged_directions,
                               spectra.averaged_directions * spectra.averaged_spectrum, atol=1e-12)
    summary = spectra.to_dict()
    assert summary["contexts"] == 150 and summary["anisotropy"] == spectra.anisotropy
    np.testing.assert_allclose(summary["mean_spectrum"], expected.mean(0), atol=1e-12)
    assert summary["averaged_spectrum"] == spectra.averaged_spectrum.tolist()
    # a sample of 7 distinct positions, in the order of the sequence
    distinct = np.arange(150) % V                                       # token = position mod V
    sample = est.metric_spectra(model, distinct, n_contexts=7, block=150, seed=4)
    per_token = np.sort(np.linalg.eigvalsh([fisher(W, b, table[t]) for t in range(V)]), axis=1)[:, ::-1]
    assert sample.eigenvalues.shape == (7, d)
    found = [int(np.argmin(np.abs(per_token - row).sum(1))) for row in sample.eigenvalues]
    np.testing.assert_allclose(sample.eigenvalues, per_token[found], atol=1e-12)
    other = est.metric_spectra(model, distinct, n_contexts=7, block=150, seed=5)
    assert not np.array_equal(other.eigenvalues, sample.eigenvalues)          # the seed draws the sample


# --- spectral alignment with M_K of the teacher --------------------------------------------------------------

def test_context_states_keep_the_most_frequent_contexts_with_their_law_and_mean_state():
    tokens = np.array([0, 1, 1, 2, 1, 3, 3, 1, 0, 2, 2, 1, 0, 3, 1, 1])
    teacher = NgramSource.from_sequence(tokens, 1, 4)
    table = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [-1.0, 3.0]])
    model = Table(table, np.zeros((4, 2)), context=8)
    counts = {c: int(np.sum(tokens == c)) for c in range(4)}            # 1: 7, 0: 3, 2: 3, 3: 3
    states = est.context_states(model, tokens, teacher, n_contexts=2, block=8)
    # top 2 by count, ties broken by the lower row, listed in row order
    assert states.rows.tolist() == [0, 1]
    np.testing.assert_allclose(states.law, [counts[0] / 10, counts[1] / 10], atol=1e-15)
    np.testing.assert_allclose(states.hidden, table[[0, 1]], atol=1e-15)
    every = est.context_states(model, tokens, teacher, block=8)
    assert every.rows.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(every.law, [counts[c] / 16 for c in range(4)], atol=1e-15)
    order_two = NgramSource.from_sequence(tokens, 2, 4)
    index = {tuple(c): i for i, c in enumerate(order_two.contexts.tolist())}
    pairs = [(tokens[p - 1], tokens[p]) for p in range(16) if p % 8 >= 1]      # inside each window of 8
    found = est.context_states(model, tokens, order_two, block=8)
    seen = sorted({index[c] for c in pairs if c in index})
    assert found.rows.tolist() == seen
    np.testing.assert_allclose(found.law, [sum(index.get(c) == r for c in pairs) / len(pairs) for r in seen],
                               atol=1e-15)
    np.testing.assert_allclose(found.hidden, [table[order_two.contexts[r][1]] for r in seen], atol=1e-15)


class Shifted(Table):
    """h_t = table[token t] + 10 × (index of the window): a state that is not a function of the token."""

    def hidden(self, idx):
        return self.table[idx] + 10.0 * torch.arange(len(idx), dtype=torch.float64)[:, None, None]


def test_context_states_average_the_hidden_states_over_positions():
    tokens = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    teacher = NgramSource.from_sequence(tokens, 1, 2)
    table = np.array([[1.0, 0.0], [0.0, 1.0]])
    states = est.context_states(Shifted(table, np.zeros((2, 2))), tokens, teacher, block=4)
    # token 0 at positions 0, 2 (window 0) and 5, 7 (window 1): mean shift 5; the same for token 1
    np.testing.assert_allclose(states.hidden, table + 5.0, atol=1e-15)
    states = est.context_states(Shifted(table, np.zeros((2, 2))), tokens[:6], teacher, block=3)
    # windows 0-2 and 3-5: token 0 at 0, 2 (shift 0) and 5 (shift 10); token 1 at 1 (0) and 3, 4 (10)
    np.testing.assert_allclose(states.hidden, [[1 + 10 / 3, 10 / 3], [20 / 3, 1 + 20 / 3]], atol=1e-14)


def test_spectral_alignment_scores_an_untrained_model_on_the_same_contexts():
    rng = np.random.default_rng(2)
    P = rng.dirichlet(np.ones(5), size=5)
    tokens = np.zeros(2000, dtype=int)
    for t in range(1, len(tokens)):
        tokens[t] = rng.choice(5, p=P[tokens[t - 1]])
    teacher = NgramSource.from_sequence(tokens, 1, 5)
    law = np.bincount(tokens, minlength=5) / len(tokens)
    K = similarity_kernel(teacher.kernel(), "linear")
    top = operator_spectrum(K, law).eigenfunctions[:, :2]
    aligned, scrambled = Table(top, np.zeros((5, 2))), Table(rng.normal(size=(5, 2)), np.zeros((5, 2)))
    readout = est.read(scrambled, tokens, len(tokens))
    result = est.spectral_alignment(scrambled, readout, teacher, 2, kernel="linear", untrained=aligned,
                                    block=len(tokens))
    assert result.untrained.ky_fan == pytest.approx(1.0, abs=1e-12)         # the untrained one is aligned
    assert result.model.ky_fan < 0.999
    assert result.eigenvalues == pytest.approx(operator_spectrum(K, law).eigenvalues, abs=1e-12)
    assert est.spectral_alignment(scrambled, tokens, teacher, 2, kernel="linear", block=len(tokens)).untrained is None
    bhattacharyya = est.spectral_alignment(aligned, tokens, teacher, 2, block=len(tokens))
    assert bhattacharyya.eigenvalues == pytest.approx(
        operator_spectrum(similarity_kernel(teacher.kernel(), "bhattacharyya"), law).eigenvalues, abs=1e-12)
    few = est.spectral_alignment(aligned, tokens, teacher, 2, kernel="linear", n_contexts=3, block=len(tokens))
    assert len(few.eigenvalues) == 3
    with pytest.raises(SpecError) as info:
        est.spectral_alignment(aligned, tokens, teacher, 5, block=len(tokens))
    assert str(info.value).startswith("only 5 teacher contexts occur; k=5 needs more")
    assert "lower k" in info.value.hint


# --- the held-out split of a run ----------------------------------------------------------------------------

def test_validation_tokens_are_the_last_fraction_of_the_run():
    tokens = list(range(10))
    assert est.validation_tokens(tokens, {"train_config": {"val_fraction": 0.25}}).tolist() == [8, 9]
    assert est.validation_tokens(tokens, {}).tolist() == [9]                          # default 0.1
    assert est.validation_tokens(tokens, {"train_config": {}}).tolist() == [9]
    assert est.validation_tokens(tokens, {"train_config": {"val_fraction": 0}}).tolist() == tokens
    assert est.validation_tokens(np.arange(10, dtype=np.int32), {}).dtype == np.int64


def test_context_states_break_count_ties_by_the_lower_row_and_keep_512_by_default():
    tokens = np.concatenate([np.arange(20), np.arange(20), [7, 7, 7]])   # every count 2, token 7: 5
    teacher = NgramSource.from_sequence(tokens, 1, 20)
    model = Table(np.arange(40.0).reshape(20, 2), np.zeros((20, 2)))
    states = est.context_states(model, tokens, teacher, n_contexts=6, block=len(tokens))
    assert states.rows.tolist() == [0, 1, 2, 3, 4, 7]
    np.testing.assert_allclose(states.law, [2 / 15] * 5 + [5 / 15], atol=1e-15)
    rng = np.random.default_rng(8)
    tokens = rng.integers(0, 30, 4000)
    teacher = NgramSource.from_sequence(tokens, 2, 30)
    index = {tuple(c): i for i, c in enumerate(teacher.contexts.tolist())}
    count = np.zeros(len(index), dtype=int)
    for p in range(1, len(tokens)):
        if (tokens[p - 1], tokens[p]) in index:
            count[index[tokens[p - 1], tokens[p]]] += 1
    assert len(index) > 512
    top = sorted(sorted(range(len(index)), key=lambda r: (-count[r], r))[:512])
    states = est.context_states(Table(np.eye(30), np.zeros((30, 30))), tokens, teacher, block=len(tokens))
    assert states.rows.tolist() == top
    np.testing.assert_allclose(states.law, count[top] / count[top].sum(), atol=1e-15)


class Counting(Table):
    """A Table that records how many sequences each forward reads."""

    def hidden(self, idx):
        self.sizes.append(len(idx))
        return super().hidden(idx)


def test_rollout_kernel_forwards_at_most_512_continuations_at_once():
    model = Counting(np.eye(3), np.eye(3), context=16)
    model.sizes = []
    kernel = est.rollout_kernel(model, [0], 7)                          # 3**6 = 729 paths before the last step
    assert model.sizes == [1, 3, 9, 27, 81, 243, 512, 217]
    assert kernel.shape == (3,) * 7 and kernel.sum() == pytest.approx(1.0, abs=1e-12)


def test_log_probabilities_are_formed_4096_rows_at_a_time(monkeypatch):
    sizes, softmax = [], est.log_softmax
    monkeypatch.setattr(est, "log_softmax", lambda logits: sizes.append(len(logits)) or softmax(logits))
    model, tokens = Table(np.eye(3), np.eye(3), context=5000), np.arange(5000) % 3
    entropies = est.head_entropies(model, est.read(model, tokens, 5000))
    assert sizes == [4096, 904]
    p = softmax_rows(np.eye(3))
    np.testing.assert_allclose(entropies, [shannon(p[t]) for t in tokens], atol=1e-13)


# --- an order-2 source where the probes' conditioning matters ------------------------------------------------

def log_linear_source() -> np.ndarray:
    """T[a, b, c] = q(W_{t+2} = c | W_t = a, W_{t+1} = b) ∝ exp(1.5 [c = b] + 1.5 [c = a + 1 mod 3])."""
    V = 3
    logits = 1.5 * np.eye(V)[None, :, :] + 1.5 * np.roll(np.eye(V), 1, axis=1)[:, None, :]
    return np.exp(logits) / np.exp(logits).sum(2, keepdims=True)


def sample_order_two(T: np.ndarray, length: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tokens = np.zeros(length, dtype=np.int64)
    tokens[1] = 1
    for t in range(2, length):
        tokens[t] = rng.choice(len(T), p=T[tokens[t - 2], tokens[t - 1]])
    return tokens


def population_probe_values(T: np.ndarray) -> tuple[float, float]:
    """(H(W_{t+2} | W_{t+1}), the probe's population target) from the stationary law of the pair chain:
    the count-table baseline tends to log q(c | b); the probe adds A[a, c] (h_t = one-hot of W_t),
    fitted here on the exact joint law by BFGS over the 9 entries of A."""
    V = len(T)
    chain = np.zeros((V * V, V * V))                     # (a, b) -> (b, c)
    for a, b, c in np.ndindex(V, V, V):
        chain[a * V + b, b * V + c] = T[a, b, c]
    values, vectors = np.linalg.eig(chain.T)
    pair = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    joint = (pair / pair.sum()).reshape(V, V)[:, :, None] * T           # P(a, b, c)
    log_q = np.log(joint.sum(0) / joint.sum((0, 2))[:, None])            # log q(c | b)
    conditional_entropy = -float(np.sum(joint * log_q[None]))

    def cross_entropy(flat):
        logits = log_q[None] + flat.reshape(V, 1, V)
        return -float(np.sum(joint * (logits - np.log(np.exp(logits).sum(2, keepdims=True)))))
    best = scipy.optimize.minimize(cross_entropy, np.zeros(V * V), method="BFGS", options={"gtol": 1e-10})
    return conditional_entropy, conditional_entropy - best.fun


def test_probes_condition_on_the_right_tokens_of_an_order_two_source():
    """Baseline CE → H(W_{t+2} | W_{t+1}); the estimate → the population gain of the additive probe;
    K = 3's second term → 0, since W_{t+3} depends on W_{t+1}, W_{t+2} only (order 2)."""
    T = log_linear_source()
    tokens, one_hot = sample_order_two(T, 6000, seed=3), Table(np.eye(3), np.zeros((3, 3)))
    entropy, gain = population_probe_values(T)
    assert gain > 0.1
    probe = est.conditional_probe(one_hot, tokens, block=600, steps=300)
    assert probe.baseline_ce == pytest.approx(entropy, abs=0.01)
    assert probe.estimate == pytest.approx(gain, abs=0.02)
    found = est.surplus_probe(one_hot, tokens, 3, block=600, probe_steps=300)
    assert found.terms[0] == pytest.approx(gain, abs=0.02) and found.terms[1] == pytest.approx(0, abs=0.01)


def test_the_seed_draws_the_split_and_defaults_to_zero():
    tokens, model = sample_order_two(log_linear_source(), 1200, seed=5), Table(np.eye(3), np.zeros((3, 3)))
    probe = est.conditional_probe(model, tokens, block=600, steps=20)
    assert probe == est.conditional_probe(model, tokens, block=600, steps=20, seed=0)
    assert probe != est.conditional_probe(model, tokens, block=600, steps=20, seed=1)
    surplus = est.surplus_probe(model, tokens, 2, block=600, probe_steps=20)
    assert surplus == est.surplus_probe(model, tokens, 2, block=600, probe_steps=20, seed=0)
    assert surplus != est.surplus_probe(model, tokens, 2, block=600, probe_steps=20, seed=1)
    rng = np.random.default_rng(0)
    table = rng.normal(size=(3, 2))
    model = Table(table, rng.normal(size=(3, 2)), context=600)
    distinct = np.arange(300) % 3
    spectra = est.metric_spectra(model, distinct, n_contexts=5)
    assert np.array_equal(spectra.eigenvalues, est.metric_spectra(model, distinct, n_contexts=5, seed=0).eigenvalues)
    assert not np.array_equal(spectra.eigenvalues,
                              est.metric_spectra(model, distinct, n_contexts=5, seed=1).eigenvalues)
    assert len(est.metric_spectra(model, distinct).eigenvalues) == 256          # 256 contexts by default
    assert len(est.metric_spectra(model, distinct, block=4, limit=10).eigenvalues) == 8
    teacher = NgramSource.from_sequence(tokens, 1, 3)
    aligned = est.spectral_alignment(model, tokens, teacher, 1, block=600)
    again = est.spectral_alignment(model, tokens, teacher, 1, block=600, seed=0)
    other = est.spectral_alignment(model, tokens, teacher, 1, block=600, seed=1)
    assert aligned.random.ky_fan == again.random.ky_fan != other.random.ky_fan


def test_spectral_alignment_defaults_to_k_8_on_the_512_most_frequent_contexts():
    rng = np.random.default_rng(8)
    tokens = rng.integers(0, 30, 4000)
    teacher = NgramSource.from_sequence(tokens, 2, 30)
    assert len(teacher.codes) > 512
    result = est.spectral_alignment(Table(np.eye(30), np.zeros((30, 30))), tokens, teacher, block=len(tokens))
    assert len(result.eigenvalues) == 512 and result.k == 8 and len(result.model.angles_deg) == 8


def test_spectral_alignment_reads_the_untrained_model_with_the_same_block_limit_and_contexts():
    """The untrained model's states are grouped by the same contexts over the same windows: computed
    here position by position, then scored by ``alignment_scores`` (tested on its own)."""
    from catlm.analysis.alignment import alignment_scores
    rng = np.random.default_rng(1)
    tokens = np.concatenate([rng.integers(0, 5, 30), rng.integers(0, 6, 200)])   # token 5 only after 30
    tokens[:5] = [0, 1, 2, 3, 4]
    teacher = NgramSource.from_sequence(tokens, 1, 6)
    table = rng.normal(size=(6, 2))
    untrained, block, limit = Shifted(table, np.zeros((6, 2))), 10, 30
    result = est.spectral_alignment(Table(np.eye(6), np.zeros((6, 6))), tokens, teacher, 2, kernel="linear",
                                    n_contexts=4, block=block, limit=limit, untrained=untrained)
    count = np.bincount(tokens[:limit], minlength=6)
    rows = sorted(sorted(range(6), key=lambda r: (-count[r], r))[:4])
    states = [np.mean([table[r] + 10 * (p // block) for p in range(limit) if tokens[p] == r], axis=0) for r in rows]
    law = count[rows] / count[rows].sum()
    K = similarity_kernel(teacher.kernel()[rows], "linear")
    expected = alignment_scores(np.array(states), law, K, 2)
    assert len(result.eigenvalues) == 4
    np.testing.assert_allclose(result.untrained.angles_deg, expected.angles_deg, atol=1e-9)
    assert result.untrained.cka == pytest.approx(expected.cka, abs=1e-12)
    everything = est.spectral_alignment(Table(np.eye(6), np.zeros((6, 6))), tokens, teacher, 2, block=block)
    assert len(everything.eigenvalues) == 6


def test_messages_hints_and_conversions_at_the_edges():
    with pytest.raises(BackendError) as info:
        est.head_weights(torch.nn.Linear(2, 2))
    assert info.value.hint == "estimators need model.head.weight, as catlm.models.GPT has"
    tokens = np.array([0, 1, 0, 1, 2, 1])
    teacher = NgramSource.from_sequence(np.array([0, 0, 0, 0]), 2, 3)
    with pytest.raises(SpecError) as info:
        est.nll_decomposition_vs_teacher(Table(np.eye(3), np.eye(3)), tokens, teacher)
    assert info.value.hint == "build the teacher from the same text, or lower its order"
    with pytest.raises(SpecError) as info:
        est.nll_decomposition_vs_teacher(Table(np.eye(4), np.eye(4)), tokens, teacher)
    assert info.value.hint == "build the teacher with NgramSource.from_sequence(tokens, r, vocab_size=V)"
    with pytest.raises(SpecError) as info:
        est.spectral_alignment(Table(np.eye(3), np.eye(3)), tokens, NgramSource.from_sequence(tokens, 1, 3), 3)
    assert info.value.hint == "lower k or use more tokens"
    # a head with a weight and no bias attribute at all; a float32 head read in float64
    bare = Table(np.eye(2), np.eye(2))
    bare.head = torch.nn.Module()
    bare.head.weight = torch.nn.Parameter(torch.ones(3, 2, dtype=torch.float32) / 3)
    W, b = est.head_weights(bare)
    assert b is None and W.dtype == np.float64 and W.tolist() == [[float(np.float32(1 / 3))] * 2] * 3
    # tokens of any integer type are read as int64; the order-0 teacher's rows are int64 too
    readout = est.read(Table(np.eye(3), np.eye(3)), np.array([2, 0, 1], dtype=np.int32))
    assert readout.tokens.dtype == np.int64 and readout.tokens.tolist() == [2, 0, 1]
    rows = est.teacher_rows(NgramSource.from_sequence(tokens, 0, 3), tokens, np.arange(3))
    assert rows.dtype == np.int64 and rows.tolist() == [0, 0, 0]
    # one position with a next token: coverage 1 of 1
    one = est.nll_decomposition_vs_teacher(Table(np.eye(2), np.eye(2)), [0, 1], NgramSource.from_sequence([0, 1], 1, 2))
    assert (one.positions, one.coverage) == (1, 1.0)
    assert est.validation_tokens([0, 1, 2], {}).tolist() == []      # int(3 × 0.1) = 0 held-out tokens


def test_predictive_entropy_and_context_states_honour_block_and_limit():
    table = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]])
    W = np.array([[1.0, -1.0], [0.5, 2.0], [-1.5, 0.0]])
    model, tokens = Table(table, W), np.array([0, 1, 2, 2, 1, 0, 0, 1])
    h = [shannon(row) for row in softmax_rows(table[tokens] @ W.T)]
    # limit 7, block 2: windows 0-1, 2-3, 4-5 (position 6 is a tail)
    assert est.predictive_entropy(model, tokens, 2, limit=7) == pytest.approx(np.mean(h[:6]), abs=1e-13)
    teacher = NgramSource.from_sequence(tokens, 1, 3)
    states = est.context_states(model, tokens, teacher, block=2, limit=5)     # positions 0-3: 0, 1, 2, 2
    assert states.rows.tolist() == [0, 1, 2]
    np.testing.assert_allclose(states.law, [0.25, 0.25, 0.5], atol=1e-15)


def test_rollout_kernel_enumerates_up_to_two_million_continuations():
    """V**K = 2,000,000 is enumerated (here V = 2e6, K = 1: a uniform head), one more is refused."""
    for V, allowed in ((2_000_000, True), (2_000_001, False)):
        model = Table(np.zeros((1, 1)), np.zeros((V, 1)), context=4)
        if allowed:
            kernel = est.rollout_kernel(model, [0], 1)
            assert kernel.shape == (V,) and np.allclose(kernel, 1 / V, rtol=1e-12, atol=0)
        else:
            with pytest.raises(SpecError) as info:
                est.rollout_kernel(model, [0], 1)
            assert str(info.value).startswith(f"V**K = {V}**1 continuations is too many to enumerate")
            assert info.value.hint == "lower steps; the rollout kernel is exact, not sampled"


def test_rollout_kernel_of_a_float32_model_normalises_its_logits_in_float64():
    table = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, -0.4]], dtype=np.float32)
    W = np.array([[0.3, -1.1], [1.7, 0.2], [-0.6, 0.9]], dtype=np.float32)
    model = Table(table, W).float()
    # the model's own float32 logits (V, V): row = last token; normalised here in float64
    logits = torch.nn.functional.linear(torch.as_tensor(table), torch.as_tensor(W)).double().numpy()
    q = softmax_rows(logits)
    kernel = est.rollout_kernel(model, [2], 2)
    assert kernel.dtype == np.float64
    np.testing.assert_allclose(kernel, q[2][:, None] * q, rtol=1e-14, atol=0)
