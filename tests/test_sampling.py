"""Ancestral sampling: exact masks, the sampling law (chi-square), greedy, and KV-cached generation."""
from __future__ import annotations


import pytest

torch = pytest.importorskip("torch", reason="sampling needs torch (pip install catlm[torch])")

from scipy.stats import chisquare  # noqa: E402

from catlm.decoding.sampling import generate, sample_next, sampling_log_probs  # noqa: E402
from catlm.errors import BackendError  # noqa: E402
from catlm.models.gpt import GPT, GPTConfig  # noqa: E402

P = torch.tensor([0.4, 0.25, 0.15, 0.1, 0.06, 0.04], dtype=torch.float64)
Z = torch.log(P)[None]  # logits whose softmax is P


def _probs(**kw):
    return sampling_log_probs(Z, **kw).exp()[0]


def test_top_k_keeps_the_k_largest_renormalised():
    expected = torch.tensor([0.4, 0.25, 0.15, 0, 0, 0], dtype=torch.float64) / 0.8
    assert torch.allclose(_probs(top_k=3), expected, atol=1e-15)


def test_top_p_keeps_the_smallest_prefix_reaching_p():
    # cumulative 0.4, 0.65, 0.8, 0.9: p = 0.7 needs the first three tokens, p = 0.65 only two
    assert torch.allclose(_probs(top_p=0.7), torch.tensor([.4, .25, .15, 0, 0, 0], dtype=torch.float64) / .8)
    assert torch.allclose(_probs(top_p=0.3), torch.tensor([1.0, 0, 0, 0, 0, 0], dtype=torch.float64))
    assert torch.allclose(_probs(top_p=1.0), P)


def test_temperature_then_top_k_then_top_p():
    t = 0.5
    sharp = P ** (1 / t) / (P ** (1 / t)).sum()  # softmax(log P / T)
    kept = sharp[:4] / sharp[:4].sum()           # top_k = 4
    cum = torch.cumsum(kept, 0)
    n = int((cum - kept < 0.9).sum())            # nucleus of the top-4 law
    expected = torch.zeros(6, dtype=torch.float64)
    expected[:n] = kept[:n] / kept[:n].sum()
    assert torch.allclose(_probs(temperature=t, top_k=4, top_p=0.9), expected, atol=1e-12)


def test_top_k_keeps_ties_with_the_kth():
    z = torch.tensor([[2.0, 1.0, 1.0, 0.0]])
    assert (sampling_log_probs(z, top_k=2).exp()[0] > 0).tolist() == [True, True, True, False]


def test_greedy_at_temperature_zero():
    z = torch.randn(5, 9)
    tokens, logp = sample_next(z, temperature=0)
    assert torch.equal(tokens, z.argmax(-1)) and torch.equal(logp, torch.zeros(5, dtype=torch.float64))


@pytest.mark.parametrize("kw", [{}, {"temperature": 1.7}, {"top_k": 3}, {"top_p": 0.75},
                                {"temperature": 0.8, "top_k": 5, "top_p": 0.9}])
def test_samples_follow_the_sampling_law(kw):
    """Chi-square goodness of fit of 40,000 draws against the closed-form law."""
    n = 40_000
    g = torch.Generator().manual_seed(7)
    tokens, logp = sample_next(Z.expand(n, -1), generator=g, **kw)
    law = _probs(**kw)
    counts = torch.bincount(tokens, minlength=6).double()
    support = law > 0
    assert counts[~support].sum() == 0                     # never an excluded token
    assert torch.allclose(logp.exp(), law[tokens])         # the reported log-probabilities
    stat = chisquare(counts[support].numpy(), (n * law[support]).numpy())
    assert stat.pvalue > 1e-3


def test_empty_prompt_raises(model):
    with pytest.raises(BackendError, match="T0 >= 1"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 3)


def test_bad_options_raise():
    for kw, pattern in [({"temperature": -1}, "negative"), ({"top_k": 0}, "keeps no token"),
                        ({"top_p": 1.5}, "outside")]:
        with pytest.raises(BackendError, match=pattern):
            sample_next(Z, **kw)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab=30, context=12, layers=2, heads=2, dim=16)).eval()


@pytest.mark.parametrize("kw", [{}, {"temperature": 0.7, "top_k": 10, "top_p": 0.9}])
def test_cached_generation_equals_uncached_token_for_token(model, kw):
    prompt = torch.randint(0, 30, (3, 4), generator=torch.Generator().manual_seed(1))
    runs = [generate(model, prompt, 20, generator=torch.Generator().manual_seed(5), use_cache=c, **kw)
            for c in (True, False)]
    assert torch.equal(runs[0].tokens, runs[1].tokens)      # 24 > context 12: the window slides too
    assert torch.allclose(runs[0].logprobs, runs[1].logprobs, atol=1e-5)
    assert runs[0].sequence.shape == (3, 24)


def test_generation_logprobs_are_those_of_the_model(model):
    prompt = torch.tensor([[1, 2, 3]])
    out = generate(model, prompt, 5, temperature=1.3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits = model(out.sequence)[0, 2:-1] / 1.3          # the step before each new token
    expected = torch.log_softmax(logits.double(), -1).gather(-1, out.tokens[0][:, None])[:, 0]
    assert torch.allclose(out.logprobs[0], expected, atol=1e-5)


def test_greedy_generation_is_argmax_decoding(model):
    out = generate(model, torch.tensor([[4]]), 6, temperature=0)
    seq = torch.tensor([[4]])
    for _ in range(6):
        with torch.no_grad():
            seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out.sequence, seq) and float(out.logprobs.sum()) == 0.0
