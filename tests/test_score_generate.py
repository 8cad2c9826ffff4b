"""``catlm score`` and ``generate()``: against direct forward passes, argmax loops and ``sample``."""
from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")

from catlm.cli import main  # noqa: E402
from catlm.data.tokenizers import CharTokenizer  # noqa: E402
from catlm.runs.generate import generate  # noqa: E402
from catlm.decoding.sampling import generate as sample_generate  # noqa: E402
from catlm.decoding.scoring import score  # noqa: E402
from catlm.models.checkpoint import save_checkpoint  # noqa: E402
from catlm.models.gpt import GPT, GPTConfig  # noqa: E402
from catlm.runs import load_run as load_model  # noqa: E402

TEXT = "abracadabra, said the cat; a bad cab.\n"
CONFIG = {"vocab": 16, "context": 24, "layers": 1, "heads": 2, "dim": 16}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder as ``catlm train`` writes it: a char tokenizer and a GPT whose logits are sharp."""
    tok = CharTokenizer.from_text(TEXT)
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**CONFIG, "vocab": tok.vocab_size}))
    with torch.no_grad():
        model.head.weight.mul_(40)  # far from uniform, so that argmax ties cannot happen
    out = tmp_path_factory.mktemp("run")
    save_checkpoint(out, 1, model, None, {"model_config": {**CONFIG, "vocab": tok.vocab_size},
                                          "tokenizer": tok.to_json(), "meta": {}})
    return out


def _direct(model, ids):
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids]))[0].double(), dim=-1)
    return [float(logp[t, ids[t + 1]]) for t in range(len(ids) - 1)]


def test_score_equals_a_direct_forward_pass(run_dir):
    run = load_model(run_dir)
    ids = run.tokenizer.encode(TEXT[:20])
    got = score(run.model, ids, text_bytes=19)
    assert got.logprobs == pytest.approx(_direct(run.model, ids), abs=1e-6)  # float32 logits
    assert got.nll == pytest.approx(-sum(got.logprobs) / 19)
    assert got.bits_per_byte == pytest.approx(-sum(got.logprobs) / math.log(2) / 19)


def test_windows_score_every_token_once_with_enough_context(run_dir):
    run = load_model(run_dir)
    ids = run.tokenizer.encode(TEXT * 2)  # 76 tokens, past the context of 24
    window, stride = 24, 10
    got = score(run.model, ids, window=window, stride=stride).logprobs
    assert len(got) == len(ids) - 1
    for t in range(1, len(ids)):  # some context of >= window - stride tokens (or all of them) gives it
        contexts = range(min(t, window - stride), min(t, window - 1) + 1)
        assert any(got[t - 1] == pytest.approx(_direct(run.model, ids[t - c:t + 1])[-1], abs=1e-6)
                   for c in contexts), t


def test_score_cli_json_has_the_token_ids(run_dir, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    assert main(["score", str(run_dir), "--corpus", str(corpus), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ids = load_model(run_dir).tokenizer.encode(TEXT)
    assert out["tokens"] == ids and out["bytes"] == len(TEXT) - 1
    assert out["bits_per_byte"] == pytest.approx(-sum(out["logprobs"]) / math.log(2) / (len(TEXT) - 1))
    assert main(["score", str(run_dir), "--text", "a"]) == 1
    assert "at least two tokens" in capsys.readouterr().err


def _greedy(model, ids, n):
    ids = list(ids)
    for _ in range(n):
        with torch.no_grad():
            ids.append(int(model(torch.tensor([ids[-model.context:]]))[0, -1].argmax()))
    return ids


def test_greedy_generate_equals_the_argmax_loop_and_lookup_drafting(run_dir):
    run = load_model(run_dir)
    prompt = "abra"
    expected = _greedy(run.model, run.tokenizer.encode(prompt), 15)[4:]
    plain = generate(run, prompt, 15, temperature=0)
    drafted = generate(run, prompt, 15, temperature=0, drafter="lookup", gamma=3)
    assert plain.tokens == drafted.tokens == expected
    assert plain.text == run.tokenizer.decode(expected) and plain.stop_reason == "length"
    assert drafted.stats.blocks <= 15


def test_stop_strings_and_eos_end_the_text(run_dir):
    run = load_model(run_dir)
    full = generate(run, "abra", 15, temperature=0)
    stop = full.text[5:7]
    cut = generate(run, "abra", 15, temperature=0, stop=["zzz", stop])
    assert cut.stop_reason == "stop" and cut.text == full.text[:full.text.index(stop)]
    assert len(cut.tokens) < 15
    eos = full.tokens[3]
    ended = generate(run.__class__(run.model, run.tokenizer, run.folder, {"meta": {"eos": eos}}),
                     "abra", 15, temperature=0)
    assert ended.stop_reason == "eos" and ended.tokens == full.tokens[:full.tokens.index(eos) + 1]
    assert ended.text == run.tokenizer.decode(full.tokens[:full.tokens.index(eos)])


def test_streamed_pieces_make_up_the_text(run_dir):
    pieces: list[str] = []
    done = generate(run_dir, "abra", 12, temperature=0, stop=["cat"], stream=pieces.append)
    assert "".join(pieces) == done.text and len(pieces) > 1


def test_past_the_context_the_window_slides_as_in_sample(run_dir):
    run = load_model(run_dir)
    prompt = TEXT[:20]
    done = generate(run, prompt, 30, temperature=1.0, seed=3)
    ids = torch.tensor([run.tokenizer.encode(prompt)])
    ref = sample_generate(run.model, ids, 30, generator=torch.Generator().manual_seed(3))
    assert done.tokens == ref.tokens[0].tolist()


def test_generate_cli_prints_prompt_and_continuation(run_dir, capsys):
    assert main(["generate", str(run_dir), "--prompt", "abra", "--max-new", "8", "--temperature", "0"]) == 0
    expected = generate(run_dir, "abra", 8, temperature=0).text
    assert capsys.readouterr().out == "abra" + expected + "\n"
    assert main(["generate", str(run_dir), "--prompt", "abra", "--max-new", "8", "--temperature", "0",
                 "--drafter", "lookup", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["text"] == expected and out["speculative"]["emitted"] == 8
