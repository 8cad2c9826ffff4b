"""Speculative decoding at run time: exactness against plain decoding, the output law, statistics.

Oracles: greedy plain decoding with the KV cache (token for token); the target's exact law of the
first two tokens, computed here by full forward passes without a cache; closed forms for a drafter
equal to the target (every draft accepted, γ + 1 tokens per call); ``NgramSource`` counts for the
n-gram drafter; hand-written prompt-lookup matches. The fast paths (rollback cache, vectorised
verification, the prompt-lookup index, tabulated draws, the head's tabulated input layer) are
checked against the plain implementations they replace: ``KVCache``, ``rejection.verify``, a
brute-force match search, ``inverse_cdf`` and ``FeatureHead.forward``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from catlm.cli import main  # noqa: E402
from catlm.data.ngram import NgramSource  # noqa: E402
from catlm.decoding.drafters import (DraftContext, FeatureHead, HeadTraining,  # noqa: E402
                                     HiddenStateDrafter, LMDrafter, NgramDrafter, PromptLookup,
                                     Sampling, load_head, save_head, target_samples,
                                     train_feature_head, truncate_cache)
from catlm.decoding.exact import residual  # noqa: E402
from catlm.decoding.kvcache import RollbackCache, rollback_cache  # noqa: E402
from catlm.decoding.rejection import inverse_cdf, verify  # noqa: E402
from catlm.decoding.runtime import (fast_verify, forward_cost_ratio, pit_test,  # noqa: E402
                                    plain_generate, speculative_generate)
from catlm.runs import load_run  # noqa: E402
from catlm.decoding.drafters import RowLaw  # noqa: E402
from catlm.decoding.sampling import generate  # noqa: E402
from catlm.decoding.chisquare import chi_square_test  # noqa: E402
from catlm.errors import BackendError, UsageError  # noqa: E402
from catlm.models.gpt import GPT, GPTConfig  # noqa: E402

V = 6


def tiny_gpt(seed: int, vocab: int = V, scale: float = 0.2) -> GPT:
    """A random GPT whose embedding (tied head) is scaled up so that its laws are far from uniform."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab=vocab, context=64, layers=1, heads=2, dim=16)).eval()
    with torch.no_grad():
        model.emb.weight.normal_(0.0, scale)
    return model


@pytest.fixture(scope="module")
def target():
    return tiny_gpt(0)


@pytest.fixture(scope="module")
def drafters(target):
    corpus = np.random.default_rng(1).integers(0, V, 400)
    return {"lookup": PromptLookup(V), "ngram": NgramDrafter.from_tokens(corpus, 2, V),
            "lm": LMDrafter(tiny_gpt(8, scale=0.4), V),
            "head": HiddenStateDrafter(FeatureHead(16, V), target)}


PROMPT = [0, 1, 2, 3, 0, 1, 2]


# --- KV cache rollback -----------------------------------------------------------------------------

def test_truncate_cache_gives_the_logits_of_a_fresh_cache(target):
    x = torch.tensor([[0, 1, 2, 3, 4, 5, 1, 2]])
    cache = target.new_cache()
    with torch.no_grad():
        target(x[:, :6], cache=cache)
        target(torch.tensor([[3, 3]]), cache=cache, start_pos=6)  # drafts later rejected
        truncate_cache(cache, 6)
        rolled = target(x[:, 6:], cache=cache, start_pos=6)
        fresh = target(x)[:, 6:]
    assert cache.length == 8
    assert torch.allclose(rolled, fresh, atol=1e-5)


def test_rollback_cache_gives_the_logits_of_a_fresh_cache(target):
    x = torch.tensor([[0, 1, 2, 3, 4, 5, 1, 2, 0, 3]])
    cache = rollback_cache(target)
    with torch.no_grad():
        target(x[:, :6], cache=cache)
        target(torch.tensor([[3, 3, 4]]), cache=cache, start_pos=6)  # drafts later rejected
        truncate_cache(cache, 7)                                       # the first one kept
        assert cache.length == 7
        target(x[:, 7:8], cache=cache, start_pos=7)
        cache.truncate(6)
        rolled = target(x[:, 6:], cache=cache, start_pos=6)
        fresh = target(x)[:, 6:]
    assert cache.length == 10 and cache.capacity == target.context
    assert torch.allclose(rolled, fresh, atol=1e-5)


def test_rollback_cache_refuses_positions_past_its_capacity():
    bb_cache = RollbackCache(layers=1, capacity=4)
    k = torch.zeros(1, 2, 3, 4)
    bb_cache.extend(0, k, k)
    with pytest.raises(BackendError, match="capacity of 4"):
        bb_cache.extend(0, k, k)


# --- greedy: token for token ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["lookup", "ngram", "lm", "head"])
@pytest.mark.parametrize("gamma", [1, 4])
def test_greedy_speculative_equals_greedy_plain(target, drafters, name, gamma):
    greedy = Sampling(0.0)
    plain = plain_generate(target, PROMPT, 40, greedy)
    spec = speculative_generate(target, drafters[name], gamma, PROMPT, 40, greedy, seed=3)
    assert spec.tokens == plain.tokens
    assert spec.stats.emitted == 40 and spec.stats.blocks < 40 + 1


@pytest.mark.parametrize("top", [{}, {"top_k": 3}])
def test_plain_generate_follows_sampling_generate_at_temperature_0(target, top):
    oracle = generate(target, torch.tensor([PROMPT]), 30, temperature=0.0, **top).tokens[0].tolist()
    assert plain_generate(target, PROMPT, 30, Sampling(0.0, **top)).tokens == oracle


def test_greedy_uses_fewer_target_calls_with_the_target_as_drafter(target):
    spec = speculative_generate(target, LMDrafter(target, V), 4, PROMPT, 40, Sampling(0.0))
    assert spec.tokens == plain_generate(target, PROMPT, 40, Sampling(0.0)).tokens
    assert spec.stats.blocks == 8  # 40 tokens, 5 per call


# --- sampling: the output law --------------------------------------------------------------------

def exact_two_token_law(model, prompt, sampling: Sampling) -> dict:
    """P(x1, x2 | prompt) under the sampling law, from full forward passes without a cache."""
    with torch.no_grad():
        p1 = sampling.probs(model(torch.tensor([prompt]))[0, -1])
        law = {}
        for x1 in np.flatnonzero(p1):
            p2 = sampling.probs(model(torch.tensor([prompt + [int(x1)]]))[0, -1])
            law.update({(int(x1), int(x2)): p1[x1] * p2[x2] for x2 in np.flatnonzero(p2)})
    return law


def resample_from_p(p_rows, q_rows, drafted, rng):
    """A wrong verifier: on rejection it samples p instead of the residual norm(max(0, p - q))."""
    u = rng.random(len(drafted) + 1)
    for i, x in enumerate(drafted):
        if not u[i] < min(1.0, p_rows[i, x] / q_rows[i, x]):
            return np.array([*drafted[:i], inverse_cdf(p_rows[i], u[-1])])
    return np.array([*drafted, inverse_cdf(p_rows[-1], u[-1])])


def first_pairs(target, drafter, sampling, runs: int, **kw) -> list[tuple[int, int]]:
    return [tuple(speculative_generate(target, drafter, 3, PROMPT, 2, sampling, seed=s, **kw).tokens)
            for s in range(runs)]


LAWS = {"lm": Sampling(1.0), "ngram": Sampling(0.8, top_k=4, top_p=0.9), "head": Sampling(1.0)}
RUNS = 1000


@pytest.mark.parametrize("name", sorted(LAWS))
def first_token_law(law: dict) -> dict:
    first = {}
    for (x1, _), prob in law.items():
        first[x1] = first.get(x1, 0.0) + prob
    return first


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LAWS))
def test_first_tokens_follow_the_target_law(target, drafters, name):
    sampling = LAWS[name]
    law = exact_two_token_law(target, PROMPT, sampling)
    pairs = first_pairs(target, drafters[name], sampling, RUNS)
    assert chi_square_test([x1 for x1, _ in pairs], first_token_law(law)).pvalue > 1e-4
    assert chi_square_test(pairs, law).pvalue > 1e-4


@pytest.mark.slow
def test_a_wrong_verifier_fails_the_same_test(target, drafters):
    sampling = LAWS["lm"]
    law = exact_two_token_law(target, PROMPT, sampling)
    pairs = first_pairs(target, drafters["lm"], sampling, RUNS, verifier=resample_from_p)
    assert chi_square_test([x1 for x1, _ in pairs], first_token_law(law)).pvalue < 1e-6
    assert chi_square_test(pairs, law).pvalue < 1e-6


def test_plain_first_tokens_follow_the_target_law(target):
    sampling = LAWS["ngram"]
    law = first_token_law(exact_two_token_law(target, PROMPT, sampling))
    firsts = [plain_generate(target, PROMPT, 1, sampling, seed=s).tokens[0] for s in range(600)]
    assert chi_square_test(firsts, law).pvalue > 1e-4


def test_pit_values_of_a_long_run_are_uniform_and_detect_a_wrong_law(target, drafters):
    spec = speculative_generate(target, drafters["lm"], 3, PROMPT, 56, Sampling(), seed=0)
    pits = np.concatenate([spec.pit] + [speculative_generate(target, drafters["lm"], 3, PROMPT, 56,
                                                             Sampling(), seed=s).pit
                                        for s in range(1, 8)])
    assert len(pits) == 8 * 56
    assert pit_test(pits).pvalue > 1e-4
    assert pit_test(pits ** 2).pvalue < 1e-6  # the PITs of a law other than the target's


# --- statistics ----------------------------------------------------------------------------------

def test_a_drafter_equal_to_the_target_accepts_every_draft(target):
    spec = speculative_generate(target, LMDrafter(target, V), 3, PROMPT, 40, Sampling(), seed=5)
    s = spec.stats
    assert s.accepted == s.drafted == s.tested == 30  # 10 blocks of 3 drafts, bonus counted
    assert s.blocks == 10 and s.tokens_per_call == 4.0 and s.mean_accepted_length == 4.0
    assert s.per_position_rate == [1.0, 1.0, 1.0]
    assert abs(s.predicted_acceptance - 1.0) < 1e-5


def test_statistics_are_consistent_and_match_the_prediction(target, drafters):
    stats = [speculative_generate(target, drafters["lm"], 3, PROMPT, 56, Sampling(), seed=s).stats
             for s in range(12)]
    accepted, tested = sum(s.accepted for s in stats), sum(s.tested for s in stats)
    predicted = sum(s.predicted for s in stats) / tested
    sd = np.sqrt(predicted * (1 - predicted) / tested)
    assert abs(accepted / tested - predicted) < 4 * sd
    for s in stats:
        assert s.emitted == 56 == s.accepted + s.blocks
        assert s.tokens_per_call == pytest.approx(s.mean_accepted_length)
        assert s.acceptance_rate == s.accepted / s.drafted
        assert sum(s.position_drafted) == s.drafted and sum(s.position_accepted) == s.accepted
        assert s.position_drafted[0] <= s.blocks  # the last blocks draft fewer than γ tokens
        assert all(a <= d for a, d in zip(s.position_accepted, s.position_drafted))


def test_plain_generate_reports_one_token_per_call(target):
    plain = plain_generate(target, PROMPT, 10, Sampling())
    assert plain.stats.blocks == plain.stats.emitted == 10 and plain.stats.tokens_per_call == 1.0


# --- the fast paths against what they replace ---------------------------------------------------

def random_rows(rng, k: int, vocab: int, point: bool) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Target rows (k+1, V) with zeros, draft rows (k, V) (point masses or random) and drafts from q."""
    p = rng.dirichlet(np.full(vocab, 0.5), k + 1) * (rng.random((k + 1, vocab)) < 0.7)
    p[:, 0] += 1e-3
    p /= p.sum(-1, keepdims=True)
    q = rng.dirichlet(np.full(vocab, 0.5), k)
    drafted = [int(rng.choice(vocab, p=row)) for row in q]
    if point:
        q = np.eye(vocab)[drafted] if k else np.zeros((0, vocab))
    return p, q, drafted


@pytest.mark.parametrize("point", [False, True])
def test_fast_verify_emits_what_verify_emits_on_the_same_uniforms(point):
    rng = np.random.default_rng(7)
    for trial in range(300):
        k = int(rng.integers(0, 5))
        p, q, drafted = random_rows(rng, k, 5, point)
        if trial % 5 == 0 and k and not point:
            q[0] = p[0]  # p = q: the draft is accepted surely, the residual is never read
            drafted[0] = int(np.argmax(p[0]))
        fast = fast_verify(p, q, drafted, np.random.default_rng(trial))
        assert fast == verify(p, q, drafted, np.random.default_rng(trial)).tolist()


def test_fast_verify_residual_is_exact_residual():
    from catlm.decoding.runtime import _residual
    rng = np.random.default_rng(3)
    for _ in range(50):
        p, q, _ = random_rows(rng, 1, 6, False)
        assert np.allclose(_residual(p[0], q[0]), residual(p[0], q[0]), atol=1e-15)
    assert np.array_equal(_residual(p[0], p[0]), residual(p[0], p[0]))


def test_row_law_draws_what_inverse_cdf_draws():
    rng = np.random.default_rng(4)
    for _ in range(100):
        q = rng.dirichlet(np.ones(7)) * (rng.random(7) < 0.6)
        q[int(rng.integers(7))] += 0.1
        q /= q.sum()
        law = RowLaw.of(q)
        for u in [0.0, *rng.random(20), 1.0 - 1e-16, float(np.cumsum(q)[2])]:
            assert law.draw(u) == inverse_cdf(q, u)


def latest_match_oracle(seq: list[int], gamma: int, max_ngram: int) -> list[int]:
    """Brute force: for n = max_ngram..1 the latest i < len - n with seq[i:i+n] == seq[-n:]."""
    for n in range(min(max_ngram, len(seq) - 1), 0, -1):
        hits = [i for i in range(len(seq) - n) if seq[i:i + n] == seq[-n:]]
        if hits:
            text = list(seq)
            for j in range(gamma):  # the copy runs on into what it copied
                text.append(text[hits[-1] + n + j])
            return text[len(seq):]
    return []


def test_prompt_lookup_index_agrees_with_a_brute_force_search():
    rng = np.random.default_rng(5)
    lookup = PromptLookup(vocab=4, max_ngram=3)
    for _ in range(20):
        seq = rng.integers(0, 4, int(rng.integers(1, 6))).tolist()
        for _ in range(15):  # a growing text, as in a run; then an unrelated one, same instance
            assert lookup.propose(context(seq, gamma=4)).tokens == latest_match_oracle(seq, 4, 3)
            seq += rng.integers(0, 4, int(rng.integers(1, 4))).tolist()


def test_ngram_drafter_laws_follow_the_sampling_transform():
    tokens = np.random.default_rng(6).integers(0, 5, 300)
    drafter = NgramDrafter.from_tokens(tokens, 2, 5)
    for sampling in (Sampling(), Sampling(0.7, top_k=2), Sampling(1.3, top_p=0.6)):
        draft = drafter.propose(context([1, 2], gamma=3, sampling=sampling))
        seq = [1, 2] + draft.tokens
        for i, row in enumerate(draft.q):
            counts = drafter.row(seq[:2 + i])
            with np.errstate(divide="ignore"):
                assert np.allclose(row, sampling.probs(torch.from_numpy(np.log(counts))))


def test_hidden_state_drafter_rows_are_those_of_the_feature_head(target):
    torch.manual_seed(2)
    head = FeatureHead(16, V)
    h = torch.randn(16)
    draft = HiddenStateDrafter(head, target).propose(context([0, 3], gamma=3, hidden=h))
    token = torch.tensor(3)
    with torch.no_grad():
        for x, row in zip(draft.tokens, draft.q):
            h = head(h, token)  # FeatureHead.forward: fuse(cat(h, e_token)) + residual MLP
            assert np.allclose(row, Sampling().probs(target.head(h)), atol=1e-6)
            token = torch.tensor(x)


def test_forward_cost_ratio_reports_medians(target):
    cost = forward_cost_ratio(target, 3, past=8, repeats=3)
    assert cost["one_token_s"] > 0 and cost["ratio"] == pytest.approx(cost["block_s"] / cost["one_token_s"])


# --- drafters ------------------------------------------------------------------------------------

def context(tokens, gamma=3, sampling=Sampling(), hidden=None):
    return DraftContext(list(tokens), hidden, gamma, sampling, torch.Generator().manual_seed(0))


def test_prompt_lookup_copies_the_latest_longest_match():
    lookup = PromptLookup(vocab=10, max_ngram=3)
    assert lookup.propose(context([5, 1, 2, 7, 1, 2, 8, 3, 1, 2])).tokens == [8, 3, 1]
    assert lookup.propose(context([4, 6, 1, 2, 3, 0, 6, 1, 2, 5, 9, 1, 2])).tokens == [5, 9, 1]
    assert lookup.propose(context([7, 3, 4, 3, 4], gamma=5)).tokens == [3, 4, 3, 4, 3]  # runs on
    draft = lookup.propose(context([3, 4, 5]))
    assert draft.tokens == [] and draft.q.shape == (0, 10)
    point = lookup.propose(context([1, 2, 1], gamma=2))
    assert point.tokens == [2, 1] and point.q.tolist() == np.eye(10)[[2, 1]].tolist()


def test_ngram_drafter_counts_agree_with_ngram_source():
    tokens = np.random.default_rng(2).integers(0, 4, 300)
    drafter = NgramDrafter.from_tokens(tokens, 2, 4)
    source = NgramSource.from_sequence(tokens, 2, 4)
    for row, ctx in zip(source.kernel(), source.contexts):
        counts = drafter.row(list(ctx))
        assert np.allclose(counts / counts.sum(), row)
    q = drafter.propose(context([int(tokens[0]), int(tokens[1])], gamma=1)).q[0]
    assert np.allclose(q, source.kernel()[source.index(tokens[:2])])


@pytest.mark.slow
def test_hidden_state_head_learns_from_the_target_samples(target):
    sequences = target_samples(target, count=32, length=24, seed=0)
    assert sequences.shape == (32, 24)
    head, losses = train_feature_head(target, sequences, HeadTraining(steps=150, batch=16))
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
    trained = speculative_generate(target, HiddenStateDrafter(head, target), 3, PROMPT, 56, seed=1)
    untrained = speculative_generate(target, HiddenStateDrafter(FeatureHead(16, V), target), 3,
                                     PROMPT, 56, seed=1)
    assert trained.stats.predicted_acceptance > untrained.stats.predicted_acceptance


def test_save_and_load_head_round_trip(tmp_path):
    head = FeatureHead(16, V)
    loaded = load_head(save_head(head, tmp_path / "head"))
    h, x = torch.randn(3, 16), torch.tensor([0, 4, 5])
    assert torch.equal(loaded(h, x), head.eval()(h, x))
    with pytest.raises(BackendError, match="no drafter head"):
        load_head(tmp_path / "missing")


# --- bad input -----------------------------------------------------------------------------------

def test_bad_runs_raise_catlm_errors(target, drafters):
    with pytest.raises(UsageError, match="prompt is empty"):
        speculative_generate(target, drafters["lookup"], 3, [], 5)
    with pytest.raises(UsageError, match="gamma"):
        speculative_generate(target, drafters["lookup"], -1, PROMPT, 5)
    with pytest.raises(BackendError, match="no catlm checkpoint"):
        load_run("/nonexistent/folder")


@pytest.mark.parametrize("run", [
    lambda target, prompt: speculative_generate(target, PromptLookup(V), 3, prompt, 5),
    lambda target, prompt: plain_generate(target, prompt, 5)])
@pytest.mark.parametrize("batch", [torch.tensor([PROMPT, PROMPT]), [PROMPT, PROMPT], np.array([PROMPT])])
def test_a_batch_of_prompts_is_a_usage_error_saying_what_is_supported(target, run, batch):
    with pytest.raises(UsageError, match="runs one sequence at a time"):
        run(target, batch)


def test_one_prompt_may_be_a_list_an_array_or_a_1d_tensor(target):
    runs = [plain_generate(target, prompt, 6, Sampling(0.0)).tokens
            for prompt in (PROMPT, np.array(PROMPT), torch.tensor(PROMPT))]
    assert runs[0] == runs[1] == runs[2]


# --- past the model's context: the window slides as in sampling.generate ---------------------------

C = 16  # a short context, so that prompt + new tokens overrun it within a few blocks


@pytest.fixture(scope="module")
def short_target():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab=V, context=C, layers=1, heads=2, dim=16)).eval()
    with torch.no_grad():
        model.emb.weight.normal_(0.0, 0.2)
    return model


@pytest.fixture(scope="module")
def short_drafters(short_target):
    torch.manual_seed(8)
    small = GPT(GPTConfig(vocab=V, context=C, layers=1, heads=1, dim=8)).eval()
    corpus = np.random.default_rng(1).integers(0, V, 400)
    return {"lookup": PromptLookup(V), "ngram": NgramDrafter.from_tokens(corpus, 2, V),
            "lm": LMDrafter(small, V), "head": HiddenStateDrafter(FeatureHead(16, V), short_target),
            "target": LMDrafter(short_target, V)}


LONG_PROMPT = [0, 1, 2, 3, 4, 5] * 3 + [0, 1]  # 20 tokens > C


@pytest.mark.parametrize("name", ["lookup", "ngram", "lm", "head", "target"])
@pytest.mark.parametrize("gamma", [1, 4])
@pytest.mark.parametrize("prompt", [PROMPT, LONG_PROMPT], ids=["short", "long"])
def test_greedy_speculative_past_the_context_is_greedy_generate(short_target, short_drafters,
                                                                name, gamma, prompt):
    oracle = generate(short_target, torch.tensor([prompt]), 30, temperature=0.0).tokens[0].tolist()
    spec = speculative_generate(short_target, short_drafters[name], gamma, prompt, 30, Sampling(0.0))
    assert spec.tokens == oracle
    assert plain_generate(short_target, prompt, 30, Sampling(0.0)).tokens == oracle


def test_the_target_as_drafter_past_the_context_accepts_every_draft(short_target, short_drafters):
    spec = speculative_generate(short_target, short_drafters["target"], 4, LONG_PROMPT, 30, Sampling(0.0))
    assert spec.stats.accepted == spec.stats.drafted > 0
    assert spec.stats.blocks == 6  # 30 tokens, 5 per call: sliding costs no extra call


def sliding_two_token_law(model, prompt, sampling: Sampling) -> dict:
    """P(x1, x2 | prompt) when each step reads only the last C tokens (nanoGPT's window),
    from full forward passes without a cache."""
    def probs(seq):
        return sampling.probs(model(torch.tensor([seq[-C:]]))[0, -1])
    with torch.no_grad():
        p1 = probs(prompt)
        return {(int(x1), int(x2)): p1[x1] * p2
                for x1 in np.flatnonzero(p1)
                for x2, p2 in enumerate(probs(prompt + [int(x1)])) if p2 > 0}


@pytest.mark.parametrize("name", ["lm", "head"])
def test_sampled_tokens_past_the_context_follow_the_sliding_law(short_target, short_drafters, name):
    law = sliding_two_token_law(short_target, LONG_PROMPT, Sampling(1.0))
    pairs = [tuple(speculative_generate(short_target, short_drafters[name], 3, LONG_PROMPT, 2,
                                        Sampling(1.0), seed=s).tokens) for s in range(600)]
    assert chi_square_test(pairs, law).pvalue > 1e-4


# --- the command line ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from catlm.data.tokenizers import CharTokenizer
    from catlm.models.training import TrainConfig, train
    text = "to be or not to be, that is the question. " * 30
    tok = CharTokenizer.from_text(text)
    out = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab=tok.vocab_size, context=64, layers=1, heads=2, dim=16))
    train(model, text, TrainConfig(steps=30, batch=8, block=16, eval_interval=30, eval_iters=1,
                                   device="cpu"), out, progress=False, tokenizer=tok)
    (out / "corpus.txt").write_text(text)
    return out


@pytest.mark.parametrize("drafter", ["lookup", "ngram", "head"])
def test_speculate_command_reports_json(checkpoint, drafter, capsys):
    args = [str(checkpoint), "--drafter", drafter, "--gamma", "3", "--max-new", "40", "--json",
            "--prompt", "to be", "--corpus", str(checkpoint / "corpus.txt"), "--head-steps", "20"]
    assert main(["speculate", *args]) == 0
    report = json.loads(capsys.readouterr().out)
    spec = report["speculative"]
    assert report["bonus_token_counted"] and spec["emitted"] == 40
    assert spec["tokens_per_call"] == pytest.approx(40 / spec["blocks"])
    assert 0.0 <= report["chi_square"]["pvalue"] <= 1.0 and report["speedup"] > 0
    assert len(report["text"]) == 40


def test_speculate_command_lm_drafter_and_errors(checkpoint, capsys):
    assert main(["speculate", str(checkpoint), "--drafter", f"lm:{checkpoint}", "--gamma", "2",
                 "--max-new", "20", "--temperature", "0", "--prompt", "to"]) == 0
    assert "tokens per target call" in capsys.readouterr().out
    assert main(["speculate", str(checkpoint), "--drafter", "medusa", "--gamma", "2", "--prompt", "to"]) == 1
    assert "unknown drafter 'medusa'" in capsys.readouterr().err
    assert main(["speculate", str(checkpoint), "--drafter", "lookup", "--gamma", "2",
                 "--max-new", "100", "--prompt", "to", "--json"]) == 0  # past the context of 64
    assert json.loads(capsys.readouterr().out)["speculative"]["emitted"] == 100
    assert main(["speculate", str(checkpoint), "--drafter", "lookup", "--gamma", "2"]) == 1
    assert "not in this char tokenizer" in capsys.readouterr().err  # the default prompt "\n"
    assert main(["speculate", str(Path(checkpoint) / "nope"), "--drafter", "lookup",
                 "--gamma", "2"]) == 1


def fresh_run(checkpoint: Path, tmp_path: Path) -> Path:
    """A copy of the module's run folder without the drafter head other tests saved in it."""
    run = tmp_path / "run"
    shutil.copytree(checkpoint, run, ignore=shutil.ignore_patterns("drafter-head"))
    return run


def test_a_trained_head_is_saved_in_the_run_folder_and_trained_once(checkpoint, tmp_path, capsys):
    run = fresh_run(checkpoint, tmp_path)
    head = run / "drafter-head"

    def speculate(steps: int) -> tuple[dict, str]:
        assert main(["speculate", str(run), "--drafter", "head", "--gamma", "3", "--max-new", "20",
                     "--prompt", "to be", "--head-steps", str(steps), "--json"]) == 0
        captured = capsys.readouterr()
        return json.loads(captured.out), captured.err

    first, err = speculate(5)
    assert "training a drafter head" in err and f"saved the drafter head in {head}" in err
    meta = json.loads((head / "head.json").read_text())
    assert meta["trained_for"] == {"checkpoint": load_run(run).folder.name, "steps": 5, "seed": 0}
    weights = (head / "head.safetensors").read_bytes()
    again, err = speculate(5)
    assert "training" not in err and (head / "head.safetensors").read_bytes() == weights
    assert again["text"] == first["text"]
    _, err = speculate(6)  # other settings: an incompatible head, trained again and saved over it
    assert "training a drafter head" in err
    assert json.loads((head / "head.json").read_text())["trained_for"]["steps"] == 6
    (head / "head.safetensors").write_bytes(b"not safetensors")
    _, err = speculate(6)  # a damaged head: said, trained again
    assert "note: cannot read the drafter head" in err and "training a drafter head" in err
    (head / "head.json").write_text("{")
    _, err = speculate(6)
    assert "is not the JSON of a drafter head" in err and "training a drafter head" in err
    assert load_head(head).dim == 16


def test_a_head_that_cannot_be_saved_is_used_and_said(checkpoint, tmp_path, capsys):
    run = fresh_run(checkpoint, tmp_path)
    (run / "drafter-head").write_text("a file where the head's folder would go")
    assert main(["speculate", str(run), "--drafter", "head", "--gamma", "3", "--max-new", "10",
                 "--prompt", "to be", "--head-steps", "5"]) == 0
    err = capsys.readouterr().err
    assert "note: the drafter head is not kept" in err and "Traceback" not in err


def test_speculate_checks_its_prompt_before_training_a_head(checkpoint, tmp_path, capsys):
    run = fresh_run(checkpoint, tmp_path)
    assert main(["speculate", str(run), "--drafter", "head", "--gamma", "3", "--prompt", ""]) == 1
    err = capsys.readouterr().err
    assert "the prompt is empty" in err and "training" not in err
    assert not (run / "drafter-head").exists()
