"""Estimators on torch models (catlm.analysis.estimators) against closed forms and independent
computations: a head that copies an exact bigram teacher has KL = 0; CE = KL + H per position;
the probe finds no information on an order-1 source and the closed-form amount on a source with
two interleaved chains; g* matches the autograd Fisher information; hidden states equal to the
top eigenfunctions of M_K are perfectly aligned."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is needed for the estimators")

from catlm.analysis import estimators as est                      # noqa: E402
from catlm.analysis.spectral import operator_spectrum, similarity_kernel  # noqa: E402
from catlm.data.ngram import NgramSource                           # noqa: E402
from catlm.errors import BackendError, SpecError                   # noqa: E402
from catlm.models.gpt import GPT, GPTConfig                        # noqa: E402
from catlm.models.heads import LinearSoftmax                       # noqa: E402
from token_sources import interleaved, markov_chain                # noqa: E402


class TableModel(torch.nn.Module):
    """h_t = table[last token]; k_head(h) = softmax(W h + b)."""

    def __init__(self, table: np.ndarray, W: np.ndarray, bias: np.ndarray | None = None):
        super().__init__()
        self.register_buffer("table", torch.as_tensor(table, dtype=torch.float64))
        self.head = LinearSoftmax(W.shape[1], W.shape[0], bias=bias is not None)
        self.head.weight = torch.nn.Parameter(torch.as_tensor(W, dtype=torch.float64))
        if bias is not None:
            self.head.bias = torch.nn.Parameter(torch.as_tensor(bias, dtype=torch.float64))
        self.context = 64

    def hidden(self, idx):
        return self.table[idx]                                   # (B, T, d)


@pytest.fixture(scope="module")
def bigram():
    P = np.random.default_rng(0).dirichlet(np.full(4, 4.0), size=4)
    tokens = markov_chain(P, 3000, seed=1)
    teacher = NgramSource.from_sequence(tokens, 1, 4)
    return tokens, teacher


def copy_model(teacher) -> TableModel:
    """Logits W[w, c] = log P_teacher(w | c): the head is an exact copy of the teacher."""
    P = teacher.kernel()                                       # rows: contexts 0..V-1 in order
    assert teacher.contexts.ravel().tolist() == list(range(teacher.vocab_size))
    return TableModel(np.eye(teacher.vocab_size), np.log(P).T)


def test_a_head_copying_the_teacher_has_zero_kl(bigram):
    tokens, teacher = bigram
    result = est.nll_decomposition_vs_teacher(copy_model(teacher), tokens, teacher, block=500)
    P = teacher.kernel()
    contexts = tokens[:2999]          # windows of 500 cover positions 0..2999, the last has no next
    oracle_entropy = np.mean([-(P[c] * np.log(P[c])).sum() for c in contexts])
    assert abs(result.kl) < 1e-12
    assert result.identity_gap < 1e-12
    assert result.entropy == pytest.approx(oracle_entropy, abs=1e-12)
    assert result.cross_entropy == pytest.approx(oracle_entropy, abs=1e-12)
    observed = -np.mean(np.log(P[tokens[:-1], tokens[1:]]))
    assert result.observed_nll == pytest.approx(observed, abs=1e-12)
    assert result.coverage == 1.0 and result.positions == 2999


def test_ce_equals_kl_plus_entropy_for_a_transformer():
    torch.manual_seed(3)
    model = GPT(GPTConfig(vocab=6, context=16, layers=1, heads=2, dim=8)).double()
    tokens = interleaved(400, 0.7, 6, seed=2)
    teacher = NgramSource.from_sequence(tokens, 2, 6)
    result = est.nll_decomposition_vs_teacher(model, tokens, teacher, block=16)
    # independent: torch logits from forward(), teacher rows by dictionary lookup
    windows = torch.as_tensor(tokens[:400 // 16 * 16]).reshape(-1, 16)
    logq = torch.log_softmax(model(windows), -1).reshape(-1, 6).detach().numpy()
    P, table = teacher.kernel(), {tuple(c): i for i, c in enumerate(teacher.contexts)}
    ce, kl = [], []
    for pos in range(len(logq)):
        if pos % 16 >= 1 and pos + 1 < len(tokens):
            p = P[table[(tokens[pos - 1], tokens[pos])]]
            ce.append(-(p * logq[pos]).sum())
            kl.append(sum(pi * (math.log(pi) - lq) for pi, lq in zip(p, logq[pos]) if pi > 0))
    assert result.positions == len(ce)
    assert result.cross_entropy == pytest.approx(np.mean(ce), abs=1e-10)
    assert result.kl == pytest.approx(np.mean(kl), abs=1e-10)
    assert result.identity_gap < 1e-10 and result.kl > 0


def test_predictive_entropy_matches_torch_categorical():
    torch.manual_seed(4)
    model = GPT(GPTConfig(vocab=7, context=12, layers=1, heads=1, dim=8)).double()
    tokens = torch.randint(0, 7, (60,))
    logits = model(tokens.reshape(5, 12))
    shannon = torch.distributions.Categorical(logits=logits).entropy().mean().item()
    gini = (1 - (torch.softmax(logits, -1) ** 2).sum(-1)).mean().item()
    assert est.predictive_entropy(model, tokens, 12) == pytest.approx(shannon, abs=1e-10)
    assert est.predictive_entropy(model, tokens, 12, divergence="tv") == pytest.approx(gini, abs=1e-10)
    # Rényi-2 categorical entropy is log |supp p| (Hartley); softmax has full support
    hartley = est.predictive_entropy(model, tokens, 12, divergence="renyi", alpha=2)
    assert hartley == pytest.approx(math.log(7), abs=1e-12)


def test_head_entropies_js_and_infinite_renyi_match_the_definition():
    """JS and Rényi-∞ on the head's rows, against D(Δp ‖ p⊗p) evaluated cell by cell here."""
    torch.manual_seed(5)
    model = GPT(GPTConfig(vocab=5, context=8, layers=1, heads=1, dim=8)).double()
    tokens = torch.randint(0, 5, (16,))
    p = torch.softmax(model(tokens.reshape(2, 8)), -1).reshape(-1, 5).detach().numpy()
    readout = est.read(model, tokens, 8)

    def js_definition(row):
        diag, prod = np.diag(row), np.outer(row, row)
        mid = (diag + prod) / 2
        kl = lambda a, b: sum(x * math.log(x / y) for x, y in zip(a.ravel(), b.ravel()) if x > 0)
        return 0.5 * kl(diag, mid) + 0.5 * kl(prod, mid)

    js = est.head_entropies(model, readout, "js")
    np.testing.assert_allclose(js, [js_definition(row) for row in p], atol=1e-12)
    infinite = est.head_entropies(model, readout, "renyi", alpha=math.inf)
    np.testing.assert_allclose(infinite, -np.log(p.min(axis=1)), atol=1e-12)    # log max p/p²


class LastTokensModel(torch.nn.Module):
    """h_t = one-hot of each of the last ``r`` tokens, concatenated (zeros before the start)."""

    def __init__(self, V: int, r: int):
        super().__init__()
        self.V, self.r, self.context = V, r, 4096
        self.head = LinearSoftmax(V * r, V, bias=False)

    def hidden(self, idx):
        parts = []
        for lag in range(self.r):
            shifted = torch.nn.functional.pad(idx, (lag, 0), value=-1)[:, :idx.shape[1]]
            parts.append(torch.nn.functional.one_hot(shifted.clamp(min=0), self.V) * (shifted >= 0)[..., None])
        return torch.cat(parts, -1).double()


def test_surplus_probe_recovers_each_chain_rule_term():
    """Three interleaved chains (x_t = x_{t−3} w.p. 0.8) and h_t = the last three tokens: both terms
    I(H; W_2 | W_1) and I(H; W_3 | W_1, W_2) are positive; the exact values come from the order-3
    plug-in source of the same sequence (NgramSource.surplus, tested against enumeration)."""
    V, tokens = 3, interleaved(12_000, 0.8, 3, seed=4, lag=3)
    teacher = NgramSource.from_sequence(tokens, 3, V, cyclic=True)
    term2 = teacher.surplus(2, teacher.suffix_encoder(3)).value
    term3 = teacher.surplus(3, teacher.suffix_encoder(3)).value - term2
    found = est.surplus_probe(LastTokensModel(V, 3), tokens, 3, block=4096, probe_steps=300)
    assert len(found.terms) == 2 and found.total == pytest.approx(sum(found.terms))
    assert found.terms[0] == pytest.approx(term2, abs=0.04) and found.terms[1] == pytest.approx(term3, abs=0.04)
    assert term2 > 0.2 and term3 > 0.2


def test_rollout_kernel_of_a_bigram_copy_is_the_product_of_its_rows(bigram):
    _, teacher = bigram
    P = teacher.kernel()
    Q = est.rollout_kernel(copy_model(teacher), [2, 1], 3)
    expected = np.array([[[P[1, a] * P[a, b] * P[b, c] for c in range(4)] for b in range(4)] for a in range(4)])
    np.testing.assert_allclose(Q, expected, atol=1e-12)


def test_rollout_kernel_of_a_transformer_matches_one_path_at_a_time():
    torch.manual_seed(6)
    model = GPT(GPTConfig(vocab=4, context=8, layers=1, heads=1, dim=8)).double()
    Q = est.rollout_kernel(model, [3, 0, 1], 2)
    assert Q.sum() == pytest.approx(1.0, abs=1e-12)
    for a, b in ((0, 0), (2, 3), (3, 1)):
        first = torch.softmax(model(torch.tensor([[3, 0, 1]]))[0, -1], -1)[a]
        second = torch.softmax(model(torch.tensor([[3, 0, 1, a]]))[0, -1], -1)[b]
        assert Q[a, b] == pytest.approx(float((first * second).detach()), abs=1e-12)


def test_probe_finds_nothing_on_an_order_one_source(bigram):
    tokens, _ = bigram
    one_hot = TableModel(np.eye(4), np.zeros((4, 4)))
    probe = est.conditional_probe(one_hot, tokens, block=500)
    assert abs(probe.estimate) < 0.02
    assert probe.label.startswith("lower-bound estimate")
    torch.manual_seed(5)
    gpt = GPT(GPTConfig(vocab=4, context=32, layers=1, heads=1, dim=8)).double()
    assert abs(est.conditional_probe(gpt, tokens, block=32).estimate) < 0.03


def test_probe_recovers_the_information_of_interleaved_chains():
    V, stay = 4, 0.9
    tokens = interleaved(6000, stay, V, seed=6)
    one_hot = TableModel(np.eye(V), np.zeros((V, V)))
    probe = est.conditional_probe(one_hot, tokens, block=600, steps=300)
    # given W_{t+1} (the other chain), W_{t+2} depends on W_t alone: I = log V − H(row)
    same, other = stay + (1 - stay) / V, (1 - stay) / V
    exact = math.log(V) + same * math.log(same) + (V - 1) * other * math.log(other)
    assert probe.estimate == pytest.approx(exact, abs=0.05)
    assert probe.estimate <= probe.baseline_ce


def test_metric_spectra_match_the_autograd_fisher_information():
    torch.manual_seed(7)
    model = GPT(GPTConfig(vocab=9, context=8, layers=1, heads=1, dim=6, bias=True)).double()
    with torch.no_grad():
        model.head.bias.normal_()
    tokens = torch.randint(0, 9, (16,))
    spectra = est.metric_spectra(model, tokens, n_contexts=100, block=8)
    W, b = model.head.weight.detach(), model.head.bias.detach()
    hs = model.hidden(tokens.reshape(2, 8)).detach().reshape(-1, 6)
    metrics = []
    for h in hs:   # g*(h) = E_p[score scoreᵀ] with the score from autograd
        jac = torch.autograd.functional.jacobian(lambda x: torch.log_softmax(W @ x + b, -1), h)  # (V, d)
        p = torch.softmax(W @ h + b, -1)
        metrics.append((jac.T * p) @ jac)
    metrics = torch.stack(metrics).numpy()
    oracle = np.sort(np.linalg.eigvalsh(metrics), axis=1)[:, ::-1]
    assert np.allclose(spectra.eigenvalues, oracle, atol=1e-12)
    assert np.allclose(spectra.averaged_spectrum, np.linalg.eigvalsh(metrics.mean(0))[::-1], atol=1e-12)
    assert spectra.anisotropy["numerical_rank"] <= min(6, 9 - 1)


def test_hidden_states_on_the_top_eigenfunctions_are_aligned(bigram):
    tokens, teacher = bigram
    law = np.bincount(tokens, minlength=4) / len(tokens)       # one window: every position
    K = similarity_kernel(teacher.kernel(), "linear")
    top = operator_spectrum(K, law).eigenfunctions[:, :2]
    model = TableModel(top, np.zeros((4, 2)))
    result = est.spectral_alignment(model, tokens, teacher, k=2, kernel="linear", block=len(tokens))
    assert np.allclose(result.model.angles_deg, 0, atol=1e-5)
    assert result.model.ky_fan == pytest.approx(1.0, abs=1e-12)
    assert result.random.ky_fan <= 1 + 1e-12 and result.permuted.ky_fan <= 1 + 1e-12
    assert result.eigenvalues == pytest.approx(operator_spectrum(K, law).eigenvalues, abs=1e-12)


def test_bad_inputs_raise_catlm_errors(bigram):
    tokens, teacher = bigram
    with pytest.raises(BackendError, match="linear-softmax head"):
        est.head_weights(torch.nn.Linear(2, 2))
    wrong = TableModel(np.eye(5), np.zeros((5, 5)))
    with pytest.raises(SpecError, match="teacher has 4 tokens"):
        est.nll_decomposition_vs_teacher(wrong, tokens, teacher)
    with pytest.raises(SpecError, match="offset"):
        est.conditional_probe(copy_model(teacher), tokens, offset=1)
    from catlm.runs import load_run
    with pytest.raises(BackendError, match="no catlm checkpoint"):
        load_run("/nonexistent/folder")


@pytest.mark.slow
def test_a_checkpoint_loads_to_the_same_kernel(tmp_path):
    from catlm.data.tokenizers import CharTokenizer
    from catlm.models.training import TrainConfig, train
    text = "to be or not to be, that is the question. " * 20
    tok = CharTokenizer.from_text(text)
    torch.manual_seed(8)
    model = GPT(GPTConfig(vocab=tok.vocab_size, context=16, layers=1, heads=1, dim=8))
    train(model, text, TrainConfig(steps=3, batch=2, block=16, eval_interval=3, eval_iters=1,
                                   device="cpu"), out_dir=tmp_path, progress=False, tokenizer=tok)
    from catlm.runs import load_run
    run = load_run(tmp_path)
    loaded, tokenizer, state = run.model, run.tokenizer, run.state
    idx = torch.as_tensor([tok.encode("to be or not")])
    assert tokenizer == tok and state["step"] == 3
    assert torch.allclose(loaded(idx), model(idx), atol=1e-6)
    val = est.validation_tokens(tok.encode(text), state)
    assert len(val) == int(len(text) * 0.1)
