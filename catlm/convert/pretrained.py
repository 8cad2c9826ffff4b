"""A pretrained checkpoint read into memory: family, config, float32 tensors by catlm name, tokenizer.

The hand-off between the readers (``catlm.convert.gguf_file``, ``catlm.convert.hf_folder``) and the
writer of the run folder (``catlm.convert.run_folder``): whatever the file format, a checkpoint is
a ``Pretrained`` whose tensors are already named as the compiled spec's parameters.

>>> from catlm.convert.families import GPT2
>>> w = np.zeros((4, 12), dtype=np.float32)      # GPT-2's Conv1D: (in, out)
>>> {k: v.shape for k, v in rename_all(GPT2, {"h.0.attn.c_attn.weight": w, "h.0.attn.bias": w}, "x").items()}
{'kernels.bb.h.0.attn.c_attn.weight': (12, 4)}
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from catlm.convert.families import FAMILIES, Config, Family
from catlm.errors import SpecError


@dataclass(frozen=True)
class Pretrained:
    family: str
    config: Config
    tensors: dict[str, np.ndarray]   # catlm parameter name -> float32 array
    tokenizer: object                # a tokenizers.Tokenizer
    source: str
    special: dict = field(default_factory=dict)   # {"bos": id, "eos": id} when the file says
    details: dict = field(default_factory=dict)   # what else the file records (tensor types...)

    def spec(self) -> str:
        return self.config.spec()


def rename_all(family: Family, tensors: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """The tensors under catlm's names; a tensor no rule knows is an error, not a silent loss."""
    unknown = family.unknown(tensors)
    if unknown:
        raise SpecError(f"{source} holds tensors a {family.name} model does not have: "
                        f"{', '.join(sorted(unknown)[:5])}",
                        hint=f"catlm converts these families: {', '.join(FAMILIES)}")
    out = {}
    for name, value in tensors.items():
        target = family.rename(name)
        if target is not None:
            out[target] = value.T if name.endswith(family.transposed) else value
    return out
