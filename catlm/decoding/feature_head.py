"""The feature head of the hidden-state drafter (EAGLE-like): the module, its training, its files.

``FeatureHead`` is ``g(h_t, x_{t+1}) -> ĥ_{t+1}``: the target's hidden state at one position and the
next token give a predicted next hidden state, read by the target's own head (EAGLE, Li et al.
2024, https://arxiv.org/abs/2401.15077, feature-level autoregression). ``train_feature_head`` fits
it on sequences the target sampled itself (``target_samples``); ``save_head``/``load_head`` write
and read safetensors + JSON (never pickles). ``catlm.decoding.drafters.HiddenStateDrafter`` drafts
with it.

>>> import torch
>>> head = FeatureHead(dim=8, vocab=5)
>>> head(torch.zeros(3, 8), torch.tensor([0, 1, 4])).shape
torch.Size([3, 8])
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from catlm.errors import BackendError

__all__ = ["FeatureHead", "HeadTraining", "target_samples", "train_feature_head", "save_head",
           "load_head", "head_meta"]


class FeatureHead(nn.Module):
    """g(h_t, x_{t+1}) -> ĥ_{t+1}: (.., d) and (..) -> (.., d); a fused input and one residual MLP."""

    def __init__(self, dim: int, vocab: int):
        super().__init__()
        self.dim, self.vocab = dim, vocab
        self.embed = nn.Embedding(vocab, dim)
        self.fuse = nn.Linear(2 * dim, dim)
        self.ln = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, h: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        x = self.fuse(torch.cat([h, self.embed(token)], dim=-1))  # (.., d)
        return x + self.mlp(self.ln(x))




@dataclass(frozen=True, slots=True)
class HeadTraining:
    steps: int = 400
    batch: int = 32
    lr: float = 3e-3
    feature_weight: float = 1.0   # EAGLE's regression of ĥ onto the true next hidden state
    seed: int = 0
    # start the token table from the target's head rows (V, d) and freeze it, as EAGLE shares the
    # target's embedding: a large vocabulary is mostly unseen in a short training run
    embedding_from_head: bool = False
    chunk: int = 16               # sequences per target forward when the hidden states are read


def target_samples(target, count: int, length: int, seed: int = 0,
                   prompts: torch.Tensor | None = None) -> torch.Tensor:
    """(count, length) sequences the target samples at temperature 1 from ``prompts`` (count, T0),
    by default one uniformly random token each: the training data of a hidden-state head."""
    from catlm.decoding.sampling import generate
    gen = torch.Generator().manual_seed(seed)
    if prompts is None:
        prompts = torch.randint(target.head.vocab, (count, 1), generator=gen)
    return generate(target.eval(), prompts, length - prompts.shape[1], generator=gen).sequence


def train_feature_head(target, sequences: torch.Tensor, config: HeadTraining = HeadTraining()
                       ) -> tuple[FeatureHead, list[float]]:
    """Fit a ``FeatureHead`` on sequences (N, T) the target sampled (its own outputs).

    Loss per position t: the expected NLL ``−Σ_x p(x | h_{t+1}) log q(x | ĥ_{t+1})`` of the target's
    next-token law (the mean of the NLL of its sampled tokens) plus ``feature_weight`` times the
    smooth-L1 distance of ĥ_{t+1} to h_{t+1}, so that ĥ can be fed back for the next draft.
    """
    torch.manual_seed(config.seed)
    with torch.no_grad():
        hidden = torch.cat([target.hidden(part) for part in sequences.split(config.chunk)])  # (N, T, d)
    head = FeatureHead(hidden.shape[-1], target.head.vocab)
    if config.embedding_from_head:
        head.embed.weight.data.copy_(target.head.weight.detach())
        head.embed.weight.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in head.parameters() if p.requires_grad], lr=config.lr, weight_decay=0.0)
    gen, losses = torch.Generator().manual_seed(config.seed), []
    for _ in range(config.steps):
        rows = torch.randint(len(sequences), (config.batch,), generator=gen)
        with torch.no_grad():  # the target's rows of this batch only: (N, T, V) is never held
            target_logp = torch.log_softmax(target.head(hidden[rows]).double(), dim=-1).float()
        loss = _head_loss(head, target, hidden[rows], sequences[rows], target_logp, config)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return head.eval(), losses


def _head_loss(head, target, hidden, tokens, target_logp, config: HeadTraining) -> torch.Tensor:
    predicted = head(hidden[:, :-1], tokens[:, 1:])  # ĥ_{t+1} from (h_t, x_{t+1}): (B, T-1, d)
    logq = torch.log_softmax(target.head(predicted), dim=-1)
    nll = -(target_logp[:, 1:].exp() * logq).sum(-1).mean()
    feature = nn.functional.smooth_l1_loss(predicted, hidden[:, 1:])
    return nll + config.feature_weight * feature


def save_head(head: FeatureHead, path: str | Path, trained_for: dict | None = None) -> Path:
    """A folder with ``head.safetensors`` and ``head.json`` (dim, vocab, and ``trained_for``: what
    the head was fitted to, e.g. the target's checkpoint and the training settings).

    The JSON is removed first and written last, each file through a temporary name, so a head cut
    off mid-write has no ``head.json`` and reads as missing, never as a head for the wrong target.
    """
    from safetensors.torch import save_model
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "head.json").unlink(missing_ok=True)
    save_model(head, str(path / "head.safetensors.tmp"))
    (path / "head.safetensors.tmp").replace(path / "head.safetensors")
    meta = {"kind": "feature_head", "dim": head.dim, "vocab": head.vocab, "trained_for": trained_for or {}}
    (path / "head.json.tmp").write_text(json.dumps(meta, sort_keys=True))
    (path / "head.json.tmp").replace(path / "head.json")
    return path


def head_meta(path: str | Path) -> dict:
    """The ``head.json`` of a saved head; a ``BackendError`` if it is missing or not that JSON."""
    path = Path(path) / "head.json"
    if not path.is_file():
        raise BackendError(f"no drafter head at {str(path.parent)!r} (head.json missing)",
                           hint="train one with catlm.decoding.drafters.train_feature_head and save_head")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        int(meta["dim"]), int(meta["vocab"])
    except (ValueError, KeyError, TypeError, UnicodeError) as err:
        raise BackendError(f"{str(path)!r} is not the JSON of a drafter head ({err})",
                           hint="delete the folder and train the head again") from None
    return meta


def load_head(path: str | Path) -> FeatureHead:
    """The head saved in ``path`` by ``save_head``; a ``BackendError`` for a missing or damaged file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model
    meta = head_meta(path)
    head = FeatureHead(int(meta["dim"]), int(meta["vocab"]))
    try:
        load_model(head, str(Path(path) / "head.safetensors"))
    except (OSError, RuntimeError, SafetensorError) as err:
        raise BackendError(f"cannot read the drafter head in {str(path)!r}: {err}",
                           hint="delete the folder and train the head again") from None
    return head.eval()
