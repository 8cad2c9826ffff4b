"""Writing a converted checkpoint as a run folder that every catlm command reads like a trained run.

The folder is ``catlm train``'s (layout in docs/torch.md): ``checkpoint.json`` pointing at
``checkpoints/step-00000000/``, which holds ``model.safetensors`` (the spec's parameters, tied
weights stored once), ``spec.cat`` (the spec ``emb >> bb >> head``) and ``state.json`` (the kernel
name and special token ids in ``meta``, the tokenizer inline), with no optimizer state, so
``catlm.runs.load_run`` rebuilds the model by compiling the spec. Beside it, for people and other
tools: ``tokenizer.json`` (HF ``tokenizers``' own format) and ``convert.json`` (source, family,
config, dtype, special token ids, tensor types, time taken).

>>> write_run(None, "out", dtype="int8")
Traceback (most recent call last):
  ...
catlm.errors.SpecError: --dtype int8 is not one catlm writes (choose from float32, bfloat16, float16)
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from catlm.convert.families import KERNEL
from catlm.convert.pretrained import Pretrained
from catlm.errors import SpecError

DTYPES = ("float32", "bfloat16", "float16")
TOKENIZER_FILE, META_FILE = "tokenizer.json", "convert.json"


def write_run(pretrained: Pretrained, out: str | Path, dtype: str = "float32", seconds: float = 0.0) -> Path:
    """Compile the spec, load the tensors (strictly: every parameter, nothing more), save the run."""
    import torch

    from catlm.data.tokenizers import BPETokenizer
    from catlm.models.checkpoint import save_checkpoint
    from catlm.runs.spec import SPEC
    if dtype not in DTYPES:
        raise SpecError(f"--dtype {dtype} is not one catlm writes", hint=f"choose from {', '.join(DTYPES)}")
    out = Path(out)
    model = build_model(pretrained).to(getattr(torch, dtype))
    meta = {"kernel": KERNEL, "source": pretrained.source, "family": pretrained.family, **pretrained.special}
    state = {"meta": meta, "tokenizer": BPETokenizer(pretrained.tokenizer).to_json()}
    save_checkpoint(out, 0, model, None, state, files={SPEC: pretrained.spec()})
    pretrained.tokenizer.save(str(out / TOKENIZER_FILE))
    record = {"source": pretrained.source, "family": pretrained.family, "config": asdict(pretrained.config),
              "dtype": dtype, "special": pretrained.special, "read_seconds": round(seconds, 3),
              **pretrained.details}
    (out / META_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    return out


def build_model(pretrained: Pretrained):
    """The spec's kernel compiled by the torch backend with the checkpoint's tensors in place."""
    import torch

    from catlm.backends.torch import compile_torch
    from catlm.elaborate import parse
    model = compile_torch(parse(pretrained.spec(), file="<converted>").kernels[KERNEL])
    expected = set(model.state_dict())
    tied = {"kernels.head.weight"} if pretrained.config.tied else set()  # shares emb's table
    missing = sorted(expected - set(pretrained.tensors) - tied)
    extra = sorted(set(pretrained.tensors) - expected)
    if missing or extra:
        raise SpecError(f"{pretrained.source} does not fit its {pretrained.family} spec: missing "
                        f"{missing[:5]}, unexpected {extra[:5]}",
                        hint="the file's metadata and its tensors disagree")
    with torch.no_grad():
        params = dict(model.named_parameters(remove_duplicate=False)) | dict(model.named_buffers())
        for name, value in pretrained.tensors.items():
            _load(params[name], torch.tensor(value), name, pretrained.source)
    return model.eval()


def _load(param, value, name: str, source: str) -> None:
    if tuple(param.shape) != tuple(value.shape):
        raise SpecError(f"{source}: tensor {name} has shape {tuple(value.shape)}, the spec's "
                        f"parameter {tuple(param.shape)}", hint="the file's metadata and its tensors disagree")
    param.copy_(value)
