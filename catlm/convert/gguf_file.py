"""Reading a GGUF file (llama.cpp's format): metadata, dequantized tensors, the BPE tokenizer.

The ``gguf`` package (PyPI, from llama.cpp) parses the file and dequantizes each tensor to float32,
as HF transformers does when it loads ``gguf_file=``; this module maps the metadata to a
``LlamaConfig`` and the tensor names to HF's, then to catlm's. llama.cpp's converter permutes the
rows of ``attn_q``/``attn_k`` so that rotary pairs are adjacent (``convert_hf_to_gguf.py``,
``permute``); ``unpermute`` undoes it, giving the half-split layout of ``catlm.models.llama``.

>>> w = np.arange(8.0).reshape(8, 1)      # one head of dimension 8: rows 0..7
>>> unpermute(permute(w, 1), 1).ravel().tolist() == w.ravel().tolist()
True
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from catlm.convert.families import LLAMA, LlamaConfig
from catlm.convert.pretrained import Pretrained, rename_all
from catlm.convert.tokenizer import byte_level_bpe
from catlm.errors import SpecError

# the tensor types whose dequantization catlm accepts (gguf.quants, as transformers uses)
SUPPORTED_TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                   "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")

# GGUF tensor name -> HF transformers name (llama)
GGUF_NAMES = (
    (r"token_embd\.weight", "model.embed_tokens.weight"),
    (r"output_norm\.weight", "model.norm.weight"),
    (r"output\.weight", "lm_head.weight"),
    (r"blk\.(\d+)\.attn_norm\.weight", r"model.layers.\1.input_layernorm.weight"),
    (r"blk\.(\d+)\.ffn_norm\.weight", r"model.layers.\1.post_attention_layernorm.weight"),
    (r"blk\.(\d+)\.attn_q\.weight", r"model.layers.\1.self_attn.q_proj.weight"),
    (r"blk\.(\d+)\.attn_k\.weight", r"model.layers.\1.self_attn.k_proj.weight"),
    (r"blk\.(\d+)\.attn_v\.weight", r"model.layers.\1.self_attn.v_proj.weight"),
    (r"blk\.(\d+)\.attn_output\.weight", r"model.layers.\1.self_attn.o_proj.weight"),
    (r"blk\.(\d+)\.ffn_gate\.weight", r"model.layers.\1.mlp.gate_proj.weight"),
    (r"blk\.(\d+)\.ffn_up\.weight", r"model.layers.\1.mlp.up_proj.weight"),
    (r"blk\.(\d+)\.ffn_down\.weight", r"model.layers.\1.mlp.down_proj.weight"),
)

ARCHITECTURES = ("llama",)


def permute(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's row order: per head, the halves (i, i + d/2) interleaved as (2i, 2i + 1)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    """The inverse of ``permute``: HF's half-split rows."""
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def read_gguf(path: str | Path) -> Pretrained:
    """The llama model of a GGUF file, dequantized to float32."""
    from gguf import GGUFReader
    try:
        reader = GGUFReader(str(path))
    except (ValueError, OSError, struct.error) as err:
        raise SpecError(f"{path} is not a readable GGUF file ({err})",
                        hint="pass a .gguf file written by llama.cpp or gguf.GGUFWriter") from None
    fields = {name: field.contents() for name, field in reader.fields.items()}
    arch = fields.get("general.architecture")
    if arch not in ARCHITECTURES:
        raise SpecError(f"{path} holds a {arch!r} model; catlm converts GGUF architectures "
                        f"{', '.join(ARCHITECTURES)}", hint="HF folders of llama or gpt2 models convert too")
    config = _llama_config(fields, {t.name for t in reader.tensors}, path)
    hf = {_hf_name(t.name, path): _dequantize(t, path) for t in reader.tensors}
    for name, heads in (("q_proj", config.heads), ("k_proj", config.kv_heads)):
        for key in [k for k in hf if k.endswith(f"self_attn.{name}.weight")]:
            hf[key] = unpermute(hf[key], heads)
    return Pretrained("llama", config, rename_all(LLAMA, hf, str(path)), _tokenizer(fields, path),
                      str(path), _special(fields), _details(reader, fields))


def _field(fields: dict, key: str, path, default=None):
    if key in fields:
        return fields[key]
    if default is None:
        raise SpecError(f"{path} has no metadata {key!r}", hint="the file is incomplete or not a llama GGUF")
    return default


def _llama_config(fields: dict, tensors: set[str], path) -> LlamaConfig:
    get = lambda key, default=None: _field(fields, f"llama.{key}", path, default)  # noqa: E731
    dim, heads = int(get("embedding_length")), int(get("attention.head_count"))
    if get("rope.dimension_count", dim // heads) != dim // heads or "rope.scaling.type" in fields:
        raise SpecError(f"{path} rotates {get('rope.dimension_count')} of {dim // heads} head dimensions "
                        "or scales its rotary positions", hint="catlm's llama rotates whole heads, unscaled")
    vocab = len(_field(fields, "tokenizer.ggml.tokens", path))
    return LlamaConfig(vocab=int(get("vocab_size", vocab)), dim=dim, layers=int(get("block_count")),
                       heads=heads, kv_heads=int(get("attention.head_count_kv", heads)),
                       ffn=int(get("feed_forward_length")), context=int(get("context_length")),
                       rope_base=_float32(get("rope.freq_base", 10000.0)),
                       eps=_float32(get("attention.layer_norm_rms_epsilon")),
                       tied="output.weight" not in tensors)


def _float32(x: float) -> float:
    """The decimal the file's float32 was written from: its shortest float32 repr (1e-05, not
    9.999999747378752e-06), so the spec reads as the model's config."""
    return float(str(np.float32(x)))


def _hf_name(name: str, path) -> str:
    for pattern, target in GGUF_NAMES:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, target, name)
    raise SpecError(f"{path} has a tensor {name!r} that a llama model does not have",
                    hint="catlm reads llama GGUF files without rope scaling or biases")


def _dequantize(tensor, path) -> np.ndarray:
    from gguf import quants
    kind = tensor.tensor_type.name
    if kind not in SUPPORTED_TYPES:
        raise SpecError(f"{path}: tensor {tensor.name} is stored as {kind}, which catlm does not dequantize",
                        hint=f"supported tensor types: {', '.join(SUPPORTED_TYPES)}")
    shape = tuple(int(n) for n in reversed(tensor.shape))  # GGUF lists the fastest axis first
    return np.asarray(quants.dequantize(tensor.data, tensor.tensor_type), dtype=np.float32).reshape(shape)


def _tokenizer(fields: dict, path):
    model = fields.get("tokenizer.ggml.model")
    if model != "gpt2":
        raise SpecError(f"{path} has a {model!r} tokenizer; catlm builds byte-level BPE ('gpt2') tokenizers",
                        hint="convert a model whose tokenizer.ggml.model is gpt2")
    return byte_level_bpe(_field(fields, "tokenizer.ggml.tokens", path),
                          _field(fields, "tokenizer.ggml.merges", path),
                          fields.get("tokenizer.ggml.pre", "default"),
                          fields.get("tokenizer.ggml.token_type", ()))


def _special(fields: dict) -> dict:
    keys = {"bos": "tokenizer.ggml.bos_token_id", "eos": "tokenizer.ggml.eos_token_id"}
    return {name: int(fields[key]) for name, key in keys.items() if key in fields}


def _details(reader, fields: dict) -> dict:
    from collections import Counter
    types = Counter(t.tensor_type.name for t in reader.tensors)
    return {"format": "gguf", "name": fields.get("general.name"), "tensor_types": dict(types),
            "chat_template": fields.get("tokenizer.chat_template")}
