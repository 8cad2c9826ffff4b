"""The model families ``catlm convert`` reads: a config, its ``.cat`` spec, and where each tensor goes.

A family is the functor's data for one architecture: the config of a checkpoint (numbers a paper's
table lists) written as the spec ``emb >> bb >> head`` (the paper's §3: ``k_gen = k_head ∘ k_bb ∘
k_emb``), and a map from the checkpoint's tensor names (HF transformers' names, the lingua franca
GGUF files are translated into too) to the parameters of the compiled ``DiagramModule``.

* ``llama`` (SmolLM2, Llama 2/3 without rope scaling, TinyLlama...): ``embedding(positions=none)
  >> llama(...) >> linear_softmax``, the head tied to the embedding unless the file has its own.
* ``gpt2`` (HF ``GPT2LMHeadModel``, nanoGPT): ``embedding(positions=learned) >> transformer(gelu=tanh)
  >> linear_softmax(tie=emb)``; GPT-2's ``Conv1D`` stores weights (in, out), so they are transposed.

>>> config = LlamaConfig(vocab=32, dim=8, layers=2, heads=4, kv_heads=2, ffn=16, context=64,
...                      rope_base=10000.0, eps=1e-5, tied=True)
>>> print(config.spec().splitlines()[-3])
kernel bb   : E* -> H    = llama(layers=2, heads=4, kv_heads=2, ffn=16, context=64, rope_base=10000, eps=1e-05)
>>> LLAMA.rename("model.layers.1.mlp.up_proj.weight")
'kernels.bb.blocks.1.mlp.up_proj.weight'
"""
from __future__ import annotations

import re
from dataclasses import dataclass

KERNEL = "lm"  # the language model's kernel in every converted spec

OBJECTS = """object Tok = fin {vocab}
object E   = real {dim}
object H   = real {dim}
"""


def _number(x: float) -> str:
    """A spec literal: integers without a point, others as Python writes them (1e-05)."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True, slots=True)
class LlamaConfig:
    vocab: int
    dim: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    context: int
    rope_base: float
    eps: float
    tied: bool

    def spec(self) -> str:
        head = "linear_softmax(tie=emb)" if self.tied else "linear_softmax()"
        return ("# a llama-family language model: k_gen = emb >> bb >> head\n"
                + OBJECTS.format(vocab=self.vocab, dim=self.dim) + "\n"
                f"kernel emb  : Tok* -> E* = embedding(dim={self.dim}, positions=none)\n"
                f"kernel bb   : E* -> H    = llama(layers={self.layers}, heads={self.heads}, "
                f"kv_heads={self.kv_heads}, ffn={self.ffn}, context={self.context}, "
                f"rope_base={_number(self.rope_base)}, eps={_number(self.eps)})\n"
                f"kernel head : H -> Tok   = {head}\n"
                f"kernel {KERNEL} = emb >> bb >> head\n")


@dataclass(frozen=True, slots=True)
class GPT2Config:
    vocab: int
    dim: int
    layers: int
    heads: int
    context: int

    @property
    def tied(self) -> bool:
        """GPT-2's head is always its token embedding."""
        return True

    def spec(self) -> str:
        return ("# a GPT-2 language model: k_gen = emb >> bb >> head\n"
                + OBJECTS.format(vocab=self.vocab, dim=self.dim) + "\n"
                f"kernel emb  : Tok* -> E* = embedding(dim={self.dim}, positions=learned, "
                f"context={self.context})\n"
                f"kernel bb   : E* -> H    = transformer(layers={self.layers}, heads={self.heads}, "
                f"context={self.context}, gelu=tanh)\n"
                f"kernel head : H -> Tok   = linear_softmax(tie=emb)\n"
                f"kernel {KERNEL} = emb >> bb >> head\n")


@dataclass(frozen=True)
class Family:
    """A checkpoint name -> parameter name map (None: a buffer to drop) and the (in, out) weights."""

    name: str
    rules: tuple[tuple[str, str | None], ...]  # (regular expression, replacement), first match wins
    transposed: tuple[str, ...] = ()           # name suffixes stored (in, out)

    def rename(self, name: str) -> str | None:
        for pattern, target in self.rules:
            if re.fullmatch(pattern, name):
                return None if target is None else re.sub(pattern, target, name)
        return None

    def unknown(self, names) -> list[str]:
        """The names no rule mentions: tensors this family would silently lose."""
        return [n for n in names if not any(re.fullmatch(p, n) for p, _ in self.rules)]


LLAMA = Family("llama", (
    (r"model\.embed_tokens\.weight", "kernels.emb.wte.weight"),
    (r"model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj\.weight)", r"kernels.bb.blocks.\1.\2"),
    (r"model\.layers\.(\d+)\.(mlp\.(?:gate|up|down)_proj\.weight)", r"kernels.bb.blocks.\1.\2"),
    (r"model\.layers\.(\d+)\.((?:input|post_attention)_layernorm\.weight)", r"kernels.bb.blocks.\1.\2"),
    (r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq", None),  # recomputed from rope_base
    (r"model\.norm\.weight", "kernels.bb.norm.weight"),
    (r"lm_head\.weight", "kernels.head.weight"),
))

GPT2 = Family("gpt2", (
    (r"(?:transformer\.)?wte\.weight", "kernels.emb.wte.weight"),
    (r"(?:transformer\.)?wpe\.weight", "kernels.emb.wpe.weight"),
    (r"(?:transformer\.)?h\.(\d+)\.attn\.(?:masked_)?bias", None),  # the causal mask buffer
    (r"(?:transformer\.)?h\.(\d+)\.(.+)", r"kernels.bb.h.\1.\2"),
    (r"(?:transformer\.)?ln_f\.(weight|bias)", r"kernels.bb.ln_f.\1"),
    (r"lm_head\.weight", None),  # tied to wte: the same table
), transposed=("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"))

FAMILIES: dict[str, Family] = {f.name: f for f in (LLAMA, GPT2)}

Config = LlamaConfig | GPT2Config
