"""catlm.models: the torch modules, training and checkpoints under catlm's torch backend.

The registry (``IMPLEMENTATIONS``, ``build``) is the torch backend's arrow map for kernels such as
``emb : Tok* -> E* = embedding(dim=256)``; ``GPT`` composes three of them as nanoGPT does;
``train`` fits any module with ``loss(idx, targets)``. Importing this package imports torch; the
names below load on first use (PEP 562).

>>> import catlm.models as models
>>> sorted(models.IMPLEMENTATIONS)
['embedding', 'linear_softmax', 'llama', 'mlp', 'table', 'transformer']
"""
from __future__ import annotations

from catlm.lazy import exports

# public name -> module that defines it
_EXPORTS = {
    "IMPLEMENTATIONS": "catlm.models.registry",
    "Implementation": "catlm.models.registry",
    "build": "catlm.models.registry",
    "kind": "catlm.models.registry",
    "Embedding": "catlm.models.embedding",
    "Transformer": "catlm.models.transformer",
    "KVCache": "catlm.models.transformer",
    "LinearSoftmax": "catlm.models.heads",
    "chunked_cross_entropy": "catlm.models.heads",
    "MLP": "catlm.models.mlp",
    "Table": "catlm.models.table",
    "GPT": "catlm.models.gpt",
    "GPTConfig": "catlm.models.gpt",
    "TrainConfig": "catlm.models.training",
    "TrainSummary": "catlm.models.training",
    "train": "catlm.models.training",
    "save_checkpoint": "catlm.models.checkpoint",
    "load_checkpoint": "catlm.models.checkpoint",
    "latest_checkpoint": "catlm.models.checkpoint",
    "saved_tensor_bytes": "catlm.models.memory",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
