"""Tiny llama checkpoints for the conversion tests: a GGUF written with ``gguf.GGUFWriter`` and an
HF folder written by ``transformers``, from the same HF-layout weights and a real byte-level BPE.

The BPE is trained here by HF ``tokenizers`` on a short text, so its merges are real ones; the GGUF
file stores them as llama.cpp does (tokens in id order in GPT-2's byte spelling, merges as "a b").
llama.cpp's row permutation of ``attn_q``/``attn_k`` is written out here independently of
``catlm.convert.gguf_file``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TEXT = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer "
        "the slings and arrows of outrageous fortune, or to take arms against a sea of troubles. "
        "1601 was the year; 42 lines, 7 acts.\n") * 4
SPECIAL = ["<|endoftext|>", "<|im_start|>"]


@dataclass(frozen=True)
class TinyLlama:
    vocab: int = 300
    dim: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    ffn: int = 96
    context: int = 128
    rope_base: float = 10000.0
    eps: float = 1e-5

    @property
    def d_head(self) -> int:
        return self.dim // self.heads


def bpe_tokens(vocab: int) -> tuple[list[str], list[str], list[int]]:
    """(tokens by id, merges "a b", llama.cpp token types) of a byte-level BPE trained on TEXT,
    splitting digits as SmolLM2's tokenizer (llama.cpp's ``smollm``) does."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([  # as SmolLM2's: every digit alone
        pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TEXT], trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    tokens = [t for t, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    types = [3 if t in SPECIAL else 1 for t in tokens]
    return tokens, merges, types


def hf_weights(cfg: TinyLlama, vocab: int, seed: int = 0, tied: bool = True) -> dict[str, np.ndarray]:
    """Random float32 weights under HF ``LlamaForCausalLM`` names (half-split rotary layout)."""
    rng = np.random.default_rng(seed)
    w = lambda *shape: (rng.standard_normal(shape) * 0.08).astype(np.float32)  # noqa: E731
    kv = cfg.kv_heads * cfg.d_head
    out = {"model.embed_tokens.weight": w(vocab, cfg.dim), "model.norm.weight": 1 + w(cfg.dim)}
    for i in range(cfg.layers):
        p = f"model.layers.{i}."
        out |= {p + "input_layernorm.weight": 1 + w(cfg.dim), p + "post_attention_layernorm.weight": 1 + w(cfg.dim),
                p + "self_attn.q_proj.weight": w(cfg.dim, cfg.dim), p + "self_attn.k_proj.weight": w(kv, cfg.dim),
                p + "self_attn.v_proj.weight": w(kv, cfg.dim), p + "self_attn.o_proj.weight": w(cfg.dim, cfg.dim),
                p + "mlp.gate_proj.weight": w(cfg.ffn, cfg.dim), p + "mlp.up_proj.weight": w(cfg.ffn, cfg.dim),
                p + "mlp.down_proj.weight": w(cfg.dim, cfg.ffn)}
    if not tied:
        out["lm_head.weight"] = w(vocab, cfg.dim)
    return out


def llama_cpp_permute(w: np.ndarray, heads: int) -> np.ndarray:
    """convert_hf_to_gguf.py's ``permute``: rows (h, 2, d/2) -> (h, d/2, 2)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


GGUF_OF_HF = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
              "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down"}


def gguf_name(hf: str) -> str:
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    _, _, i, rest = hf.split(".", 3)
    return f"blk.{i}.{GGUF_OF_HF[rest.removesuffix('.weight')]}.weight"


def write_gguf(path: Path, cfg: TinyLlama, weights: dict[str, np.ndarray], tokens, merges, types,
               quant: str = "F32", architecture: str = "llama", pre: str = "smollm") -> Path:
    """The GGUF file llama.cpp would write for these weights; 2-D matrices stored as ``quant``."""
    import gguf
    qtype = gguf.GGMLQuantizationType[quant]
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_block_count(cfg.layers)
    writer.add_context_length(cfg.context)
    writer.add_embedding_length(cfg.dim)
    writer.add_feed_forward_length(cfg.ffn)
    writer.add_head_count(cfg.heads)
    writer.add_head_count_kv(cfg.kv_heads)
    writer.add_rope_freq_base(cfg.rope_base)
    writer.add_rope_dimension_count(cfg.d_head)
    writer.add_layer_norm_rms_eps(cfg.eps)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_merges(merges)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(0)
    for name, w in weights.items():
        if name.endswith(("q_proj.weight", "k_proj.weight")):
            w = llama_cpp_permute(w, cfg.heads if "q_proj" in name else cfg.kv_heads)
        if w.ndim == 2 and quant != "F32":
            writer.add_tensor(gguf_name(name), gguf.quants.quantize(w, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(gguf_name(name), w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def dequantized(weights: dict[str, np.ndarray], quant: str) -> dict[str, np.ndarray]:
    """What a reader gets back from ``quant``-stored matrices (gguf's own round trip)."""
    import gguf
    if quant == "F32":
        return weights
    qtype = gguf.GGMLQuantizationType[quant]
    return {k: gguf.quants.dequantize(gguf.quants.quantize(w, qtype), qtype) if w.ndim == 2 else w
            for k, w in weights.items()}


def hf_llama(cfg: TinyLlama, weights: dict[str, np.ndarray], vocab: int, tied: bool = True):
    """HF ``LlamaForCausalLM`` holding ``weights``: the independent oracle."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(vocab_size=vocab, hidden_size=cfg.dim, intermediate_size=cfg.ffn,
                         num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
                         num_key_value_heads=cfg.kv_heads, max_position_embeddings=cfg.context,
                         rms_norm_eps=cfg.eps, rope_theta=cfg.rope_base, tie_word_embeddings=tied,
                         bos_token_id=1, eos_token_id=0)
    model = LlamaForCausalLM(config).eval()
    state = {k: torch.from_numpy(np.array(v)) for k, v in weights.items()}
    if tied:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    model.load_state_dict(state, strict=True)
    return model
