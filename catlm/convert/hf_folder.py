"""Reading an HF-style folder: ``config.json`` + ``model.safetensors`` (+ ``tokenizer.json``).

What researchers have on disk after ``save_pretrained``: the config names the family
(``model_type``: ``llama`` or ``gpt2``) and its sizes, the safetensors file the tensors under HF's
names (read with ``safetensors.numpy``: no torch, no pickle), and ``tokenizer.json`` (or GPT-2's
``vocab.json`` + ``merges.txt``) the tokenizer, read by HF ``tokenizers`` itself.

>>> _llama({"hidden_size": 8, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 10,
...         "num_hidden_layers": 1, "intermediate_size": 16, "max_position_embeddings": 32,
...         "rope_theta": 500000.0, "tie_word_embeddings": True}, Path("tiny"))
LlamaConfig(vocab=10, dim=8, layers=1, heads=2, kv_heads=1, ffn=16, context=32, rope_base=500000.0, eps=1e-06, tied=True)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from catlm.convert.families import GPT2, LLAMA, GPT2Config, LlamaConfig
from catlm.convert.pretrained import Pretrained, rename_all
from catlm.errors import SpecError


def read_hf_folder(folder: str | Path) -> Pretrained:
    folder = Path(folder)
    config = _json(folder / "config.json")
    kind = config.get("model_type")
    if kind not in READERS:
        raise SpecError(f"{folder}/config.json describes a {kind!r} model; catlm converts "
                        f"{', '.join(READERS)}", hint="or pass a llama GGUF file")
    family, read_config = READERS[kind]
    tensors = {name: value.astype(np.float32) for name, value in _safetensors(folder).items()}
    special = _special(config)
    return Pretrained(kind, read_config(config, folder), rename_all(family, tensors, str(folder)),
                      _tokenizer(folder, special), str(folder), special, {"format": "hf"})


def _json(path: Path) -> dict:
    if not path.is_file():
        raise SpecError(f"no {path.name} in {path.parent}",
                        hint="pass a GGUF file or a folder written by save_pretrained")
    return json.loads(path.read_text(encoding="utf-8"))


def _safetensors(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file
    path = folder / "model.safetensors"
    if not path.is_file():
        raise SpecError(f"no model.safetensors in {folder}",
                        hint="save the model with safe_serialization (one file; shards are not read)")
    try:
        return load_file(str(path))
    except TypeError:  # numpy has no bfloat16: read through torch's loader, still no pickle
        from safetensors.torch import load_file as load_torch
        return {k: v.float().numpy() for k, v in load_torch(str(path)).items()}


def _need(config: dict, key: str, folder: Path):
    if key not in config:
        raise SpecError(f"{folder}/config.json has no {key!r}")
    return config[key]


def _llama(config: dict, folder: Path) -> LlamaConfig:
    need = lambda key: _need(config, key, folder)  # noqa: E731
    dim, heads = need("hidden_size"), need("num_attention_heads")
    rope = config.get("rope_parameters") or {}
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type", scaling.get("type", "default")) != "default" or \
            rope.get("rope_type", "default") != "default":
        raise SpecError(f"{folder}: rotary scaling {scaling or rope} is not supported",
                        hint="catlm's llama uses unscaled rotary positions")
    if config.get("attention_bias") or config.get("mlp_bias") or \
            config.get("head_dim", dim // heads) != dim // heads:
        raise SpecError(f"{folder}: attention/MLP biases or a head_dim other than hidden/heads "
                        "are not supported", hint="catlm's llama has bias-free projections")
    return LlamaConfig(vocab=need("vocab_size"), dim=dim, layers=need("num_hidden_layers"), heads=heads,
                       kv_heads=config.get("num_key_value_heads") or heads,
                       ffn=need("intermediate_size"), context=need("max_position_embeddings"),
                       rope_base=float(rope.get("rope_theta", config.get("rope_theta", 10000.0))),
                       eps=float(config.get("rms_norm_eps", 1e-6)),
                       tied=bool(config.get("tie_word_embeddings", False)))


def _gpt2(config: dict, folder: Path) -> GPT2Config:
    need = lambda key: _need(config, key, folder)  # noqa: E731
    if config.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh") or \
            config.get("layer_norm_epsilon", 1e-5) != 1e-5:
        raise SpecError(f"{folder}: GPT-2 with activation {config.get('activation_function')} or "
                        f"layer_norm_epsilon {config.get('layer_norm_epsilon')} is not supported",
                        hint="catlm's GPT-2 layout has the tanh GELU and LayerNorm eps 1e-5")
    return GPT2Config(vocab=need("vocab_size"), dim=need("n_embd"), layers=need("n_layer"),
                      heads=need("n_head"), context=need("n_positions"))


READERS = {"llama": (LLAMA, _llama), "gpt2": (GPT2, _gpt2)}


def _tokenizer(folder: Path, special: dict):
    from tokenizers import Tokenizer
    if (folder / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(folder / "tokenizer.json"))
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return _gpt2_files(folder, special)
    raise SpecError(f"no tokenizer in {folder}",
                    hint="save the tokenizer too (tokenizer.json, or vocab.json + merges.txt)")


def _gpt2_files(folder: Path, special: dict):
    """GPT-2's own files; its bos/eos (``<|endoftext|>``) stays one special token."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    tok = Tokenizer(models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    names = [tok.id_to_token(i) for i in dict.fromkeys(special.values())]
    tok.add_special_tokens([AddedToken(n, special=True, normalized=False) for n in names if n])
    return tok


def _special(config: dict) -> dict:
    keys = {"bos": "bos_token_id", "eos": "eos_token_id"}
    return {name: int(config[key]) for name, key in keys.items() if isinstance(config.get(key), int)}
