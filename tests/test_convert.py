"""``catlm convert``: tiny GGUF files (``gguf.GGUFWriter``) and HF folders, checked against HF
transformers as the oracle (it loads the same GGUF with ``gguf_file=``, or the same weights) and
against an HF ``LlamaForCausalLM`` built directly from the un-permuted, dequantized weights."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gguf", reason="the gguf package (catlm's llm extra) writes and reads the files")
transformers = pytest.importorskip("transformers", reason="HF transformers (dev extra) is the oracle")

from catlm.cli import main  # noqa: E402
from catlm.convert import convert, read_source  # noqa: E402
from catlm.convert.gguf_file import unpermute  # noqa: E402
from catlm.elaborate import parse  # noqa: E402
from catlm.errors import SpecError  # noqa: E402
from catlm.runs import load_run as load_model  # noqa: E402
from tests.tiny_llama import (TEXT, TinyLlama, bpe_tokens, dequantized, hf_llama, hf_weights,  # noqa: E402
                              llama_cpp_permute, write_gguf)

CFG = TinyLlama()
PROMPTS = ["To be, or not to be", "the slings and arrows of 1601 fortunes", "whether 'tis nobler"]


@pytest.fixture(scope="module")
def bpe():
    return bpe_tokens(CFG.vocab)


@pytest.fixture(scope="module")
def weights(bpe):
    return hf_weights(CFG, len(bpe[0]))


def _gguf(folder, bpe, weights, quant="F32", **kw):
    return write_gguf(folder / f"tiny-{quant}.gguf", CFG, weights, *bpe, quant=quant, **kw)


def _hf_from_gguf(path):
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()


def _logprobs(model, ids):
    with torch.no_grad():
        out = model(torch.tensor([ids]))
        return torch.log_softmax(getattr(out, "logits", out).double(), dim=-1)


@pytest.mark.parametrize("quant", ["F32", "Q8_0", "Q4_1"])
def test_gguf_run_equals_hf_loading_the_same_file(tmp_path, bpe, weights, quant):
    path = _gguf(tmp_path, bpe, weights, quant)
    run = load_model(convert(path, tmp_path / "run"))
    hf = _hf_from_gguf(path)
    direct = hf_llama(CFG, dequantized(weights, quant), len(bpe[0]))
    for text in PROMPTS:
        ids = run.tokenizer.encode(text)
        ours = _logprobs(run.model, ids)
        assert (ours - _logprobs(hf, ids)).abs().max() <= 1e-5
        assert (ours - _logprobs(direct, ids)).abs().max() <= 1e-5


def test_tokenizer_gives_hf_ids_and_splits_digits_as_llama_cpp(tmp_path, bpe, weights):
    path = _gguf(tmp_path, bpe, weights)
    ours = read_source(path).tokenizer
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=path.name)
    for line in TEXT.splitlines() + PROMPTS:
        assert ours.encode(line).ids == theirs(line)["input_ids"]
    vocab = {t: i for i, t in enumerate(bpe[0])}
    assert ours.encode("1601").ids == [vocab["1"], vocab["6"], vocab["0"], vocab["1"]]
    assert ours.encode("<|endoftext|>").ids == [vocab["<|endoftext|>"]]  # a control token stays whole
    assert ours.decode(ours.encode(TEXT).ids) == TEXT


def test_unpermute_inverts_llama_cpp_permute():
    w = np.random.default_rng(1).standard_normal((24, 5))
    for heads in (1, 2, 3, 6):
        assert np.array_equal(unpermute(llama_cpp_permute(w, heads), heads), w)
    assert not np.array_equal(llama_cpp_permute(w, 2), w)


def test_untied_head_gets_its_own_weight(tmp_path, bpe):
    weights = hf_weights(CFG, len(bpe[0]), seed=3, tied=False)
    path = _gguf(tmp_path, bpe, weights)
    run = load_model(convert(path, tmp_path / "run"))
    assert "tie=" not in (run.folder / "spec.cat").read_text()
    ids = run.tokenizer.encode(PROMPTS[0])
    direct = hf_llama(CFG, weights, len(bpe[0]), tied=False)
    assert (_logprobs(run.model, ids) - _logprobs(direct, ids)).abs().max() <= 1e-5


def test_run_folder_holds_spec_tokenizer_and_metadata(tmp_path, bpe, weights):
    from tokenizers import Tokenizer
    out = convert(_gguf(tmp_path, bpe, weights, "Q8_0"), tmp_path / "run")
    run = load_model(out)
    text = (run.folder / "spec.cat").read_text()
    assert str(parse(text).kernels["lm"].dom) == "Tok*" and "llama(layers=2, heads=4, kv_heads=2" in text
    assert "rope_base=10000, eps=1e-05)" in text  # the decimals the float32 metadata came from
    assert not (run.folder / "optimizer.safetensors").exists()
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert tok.encode(TEXT).ids == run.tokenizer.encode(TEXT)
    meta = json.loads((out / "convert.json").read_text())
    assert meta["family"] == "llama" and meta["special"] == {"bos": 1, "eos": 0}
    assert meta["tensor_types"] == {"Q8_0": 1 + 7 * CFG.layers, "F32": 1 + 2 * CFG.layers}  # tied: no output
    assert run.meta["eos"] == 0 and run.model.head.weight is run.model.kernels["emb"].weight


def test_bfloat16_weights(tmp_path, bpe, weights):
    run = load_model(convert(_gguf(tmp_path, bpe, weights), tmp_path / "run", dtype="bfloat16"))
    assert run.model.head.weight.dtype == torch.bfloat16
    expected = torch.from_numpy(weights["model.embed_tokens.weight"]).to(torch.bfloat16)
    assert torch.equal(run.model.head.weight, expected)


def test_unsupported_architecture_names_the_supported_ones(tmp_path, bpe, weights):
    path = _gguf(tmp_path, bpe, weights, architecture="falcon")
    with pytest.raises(SpecError, match=r"'falcon' model; catlm converts GGUF architectures llama"):
        read_source(path)


def test_unsupported_tensor_type_names_the_supported_ones(tmp_path, bpe, weights):
    odd = dict(weights)
    odd["model.norm.weight"] = np.arange(CFG.dim, dtype=np.int32)  # stored as GGML I32
    path = _gguf(tmp_path, bpe, odd)
    with pytest.raises(SpecError, match=r"output_norm.weight is stored as I32.*") as info:
        read_source(path)
    assert "Q4_1" in info.value.hint and "Q8_0" in info.value.hint


def test_convert_cli_writes_a_run_and_reports_bad_input(tmp_path, bpe, weights, capsys):
    path = _gguf(tmp_path, bpe, weights)
    assert main(["convert", str(path), "--out", str(tmp_path / "run"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["kv_heads"] == 2
    assert main(["convert", str(path), "--out", str(tmp_path / "run")]) == 1  # a run is there
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["convert", str(path), "--out", str(tmp_path / "run"), "--force"]) == 0
    assert "kernel lm = emb >> bb >> head" in capsys.readouterr().out
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf file at all")
    assert main(["convert", str(tmp_path / "junk.gguf"), "--out", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "is not a readable GGUF file" in err and "Traceback" not in err


# --- HF folders ------------------------------------------------------------------------------------

def _save_tokenizer(folder, bpe):
    from catlm.convert.tokenizer import byte_level_bpe
    byte_level_bpe(*bpe[:2], "smollm", bpe[2]).save(str(folder / "tokenizer.json"))


def test_hf_llama_folder(tmp_path, bpe, weights):
    model = hf_llama(CFG, weights, len(bpe[0]))
    model.save_pretrained(tmp_path / "hf")
    _save_tokenizer(tmp_path / "hf", bpe)
    run = load_model(convert(tmp_path / "hf", tmp_path / "run"))
    ids = run.tokenizer.encode(PROMPTS[1])
    assert (_logprobs(run.model, ids) - _logprobs(model, ids)).abs().max() <= 1e-5


def _gpt2(bpe, activation="gelu_new"):
    config = transformers.GPT2Config(vocab_size=len(bpe[0]), n_positions=64, n_embd=32, n_layer=2,
                                     n_head=4, activation_function=activation, initializer_range=0.3,
                                     bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config).eval()


def test_hf_gpt2_folder_has_the_tanh_gelu(tmp_path, bpe):
    model = _gpt2(bpe)
    model.save_pretrained(tmp_path / "hf")
    _save_tokenizer(tmp_path / "hf", bpe)
    run = load_model(convert(tmp_path / "hf", tmp_path / "run"))
    assert "gelu=tanh" in (run.folder / "spec.cat").read_text()
    ids = run.tokenizer.encode(PROMPTS[0] + PROMPTS[2])
    ours, theirs = _logprobs(run.model, ids), _logprobs(model, ids)
    assert (ours - theirs).abs().max() <= 1e-5
    for block in run.model.kernels["bb"].h:  # the exact GELU is measurably different
        block.mlp.gelu.approximate = "none"
    assert (_logprobs(run.model, ids) - theirs).abs().max() > 1e-5


def test_hf_folder_of_another_family_names_the_supported_ones(tmp_path, bpe):
    _gpt2(bpe, activation="relu").save_pretrained(tmp_path / "relu")
    _save_tokenizer(tmp_path / "relu", bpe)
    with pytest.raises(SpecError, match="tanh GELU"):
        read_source(tmp_path / "relu")
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(SpecError, match="'bert' model; catlm converts llama, gpt2"):
        read_source(tmp_path / "bert")


def test_sample_and_speculate_read_a_converted_run(tmp_path, bpe, weights, capsys):
    out = str(convert(_gguf(tmp_path, bpe, weights, "Q8_0"), tmp_path / "run"))
    assert main(["sample", out, "--prompt", "To be", "--max-new", "12", "--temperature", "0", "--json"]) == 0
    sampled = json.loads(capsys.readouterr().out)
    run = load_model(out)
    ids = run.tokenizer.encode("To be")
    for _ in range(12):  # the argmax loop, by hand
        ids.append(int(_logprobs(run.model, ids)[0, -1].argmax()))
    assert sampled["tokens"] == ids[-12:]
    assert main(["speculate", out, "--drafter", "lookup", "--gamma", "3", "--prompt", "To be",
                 "--max-new", "12", "--temperature", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == sampled["text"]  # greedy is greedy
