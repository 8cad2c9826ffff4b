"""The PIT χ² test is not vacuous for short runs, and PITs recomputed by an uncached forward
catch a KV-cache error that the runtime's own (cached) PITs cannot see."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from catlm.decoding.chisquare import chi_square_test, uniformity_test

torch = pytest.importorskip("torch", reason="torch is needed for the runtime")

from catlm.decoding.drafters import LMDrafter, Sampling  # noqa: E402
from catlm.decoding.kvcache import RollbackCache  # noqa: E402
from catlm.decoding.pit import uncached_pits  # noqa: E402
from catlm.decoding import runtime  # noqa: E402
from catlm.decoding.runtime import pit_test, speculative_generate  # noqa: E402
from catlm.models.gpt import GPT, GPTConfig  # noqa: E402
from token_sources import interleaved  # noqa: E402

V, PROMPT = 6, [0, 1, 2, 3, 0, 1, 2]


def test_short_runs_get_fewer_bins_and_every_pit_in_one_bin_is_rejected():
    same_bin = np.full(40, 0.05)
    result = pit_test(same_bin)
    # 40 values: 8 equal cells of 5 expected; all in cell 0 gives χ² = (40−5)²/5 + 7·5 = 280
    assert result.dof == 7 and result.statistic == pytest.approx(280.0)
    assert result.pvalue == pytest.approx(stats.chi2.sf(280.0, 7)) and result.pvalue < 1e-50
    uniform = pit_test((np.arange(40) + 0.5) / 40)                   # 5 in each of 8 cells
    assert uniform.statistic == pytest.approx(0.0) and uniform.pvalue == pytest.approx(1.0)


@pytest.mark.parametrize("n", [0, 1, 9])
def test_too_few_tokens_are_not_tested(n):
    result = uniformity_test(np.full(n, 0.5))
    assert result.pvalue is None and not result.tested and "not enough samples" in result.note
    pooled = chi_square_test([0, 0, 0], [0.5, 0.5])                  # 3 samples: one pooled bin
    assert pooled.pvalue is None and pooled.dof == 0


class StaleCache(RollbackCache):
    """A rollback that keeps one rejected draft too many (the target's cache only)."""

    def truncate(self, length: int) -> None:
        self._length = length + 1 if length < self._length else self._length


def tiny_gpt(seed: int, scale: float) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab=V, context=64, layers=1, heads=2, dim=16)).eval()
    with torch.no_grad():
        model.emb.weight.normal_(0.0, scale)
    return model


def runs(target, drafter, count: int = 16, max_new: int = 28):
    return [speculative_generate(target, drafter, 3, PROMPT, max_new, Sampling(), seed=s) for s in range(count)]


def all_uncached(target, results) -> np.ndarray:
    return np.concatenate([uncached_pits(target, PROMPT, r.tokens, Sampling(), seed=100 + i)
                           for i, r in enumerate(results)])


@pytest.fixture(scope="module")
def models():
    """A target trained briefly on interleaved chains (so a corrupted context changes its law a lot)
    and a random drafter that is often rejected (so rollbacks happen in most blocks)."""
    torch.manual_seed(0)
    target = GPT(GPTConfig(vocab=V, context=64, layers=1, heads=2, dim=16))
    data = torch.as_tensor(interleaved(20_000, 0.8, V, 0))
    optimizer = torch.optim.Adam(target.parameters(), lr=2e-2)
    for _ in range(80):
        starts = torch.randint(0, len(data) - 33, (16,))
        windows = torch.stack([data[i:i + 33] for i in starts])
        loss = target.loss(windows[:, :-1], windows[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return target.eval(), LMDrafter(tiny_gpt(8, 0.3), V)


def test_uncached_pits_of_a_correct_run_are_uniform(models):
    target, drafter = models
    results = runs(target, drafter)
    assert pit_test(all_uncached(target, results)).pvalue > 1e-4
    assert pit_test(np.concatenate([r.pit for r in results])).pvalue > 1e-4


def test_an_injected_kv_cache_bug_is_caught_by_uncached_pits_only(models, monkeypatch):
    """The bug: a rollback keeps the K/V of the first rejected draft, so the next block reads a
    token the output does not contain. The cached PITs still look uniform; the uncached ones not."""
    target, drafter = models
    monkeypatch.setattr(runtime, "rollback_cache", lambda model: StaleCache(model.bb.layers, model.context))
    results = runs(target, drafter)
    assert pit_test(np.concatenate([r.pit for r in results])).pvalue > 1e-4   # blind to the bug
    assert pit_test(all_uncached(target, results)).pvalue < 1e-6
