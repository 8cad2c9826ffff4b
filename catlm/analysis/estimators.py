"""The paper's quantities estimated on trained torch language models (imports torch).

Source: Zhang, arXiv 2507.19247, §4–§7 (categorical entropy, Thm 5.1, the surplus, g*, M_K). A model exposes ``hidden(idx) -> (B, T, d)`` (h after every prefix: k_bb ∘ k_emb)
and ``head.weight`` (V, d) with an optional ``head.bias``: k_head(h) = softmax(W h + b). Every
estimator reads the hidden states of a token sequence cut into windows of ``block`` tokens
(``read``; each also accepts that ``Readout`` itself), then works in float64 numpy. A
*teacher* is an order-r ``NgramSource``: its kernel is
taken as the data law P_data(· | last r tokens), which makes L_CE = L_KL + H(W | C) exact per
position. The probe estimate of I(H_t; W_{t+2} | W_{t+1}) is variational, not exact.

>>> import torch
>>> from catlm.models.gpt import GPT, GPTConfig
>>> _ = torch.manual_seed(0)
>>> model = GPT(GPTConfig(vocab=5, context=8, layers=1, heads=1, dim=8))
>>> tokens = torch.tensor([0, 1, 2, 3, 4] * 8)
>>> 0 < predictive_entropy(model, tokens, block=8) <= math.log(5)
True
"""
from __future__ import annotations

import math  # noqa: F401 (used by the module example)
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import torch

from catlm.analysis.alignment import Alignment, alignment_with_baselines
from catlm.analysis.divergences import lookup
from catlm.analysis.entropy import CLOSED_FORMS
from catlm.analysis.geometry import mean_anisotropy, pullback_metric
from catlm.analysis.spectral import similarity_kernel
from catlm.errors import BackendError, SpecError

CHUNK = 4096  # rows of (N, V) log-probabilities formed at once


# --- reading a model ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Readout:
    """Hidden states h (N, d) after the prefix ending at ``position`` (N,) of ``tokens``, and
    ``offset`` (N,), how many earlier tokens of the same window the model read."""

    tokens: np.ndarray
    hidden: np.ndarray
    position: np.ndarray
    offset: np.ndarray


def head_weights(model) -> tuple[np.ndarray, np.ndarray | None]:
    """(W (V, d), b (V,) or None) of the model's linear-softmax head, in float64."""
    head = getattr(model, "head", None)
    if head is None or not isinstance(getattr(head, "weight", None), torch.Tensor):
        raise BackendError(f"{type(model).__name__} has no linear-softmax head with a weight (V, d)",
                           hint="estimators need model.head.weight, as catlm.models.GPT has")
    bias = getattr(head, "bias", None)
    as_numpy = lambda t: t.detach().to("cpu", torch.float64).numpy()
    return as_numpy(head.weight), None if bias is None else as_numpy(bias)


def _as_tokens(tokens) -> torch.Tensor:
    tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.long).reshape(-1)
    if len(tokens) < 2:
        raise SpecError(f"need at least 2 tokens to estimate anything, got {len(tokens)}")
    return tokens


def read(model, tokens, block: int | None = None, limit: int | None = None, batch: int = 16) -> Readout:
    """Hidden states over non-overlapping windows of ``block`` tokens (default: the model's context)."""
    tokens = _as_tokens(tokens)[:limit]
    block = min(block or getattr(model, "context", 64), len(tokens))
    starts = torch.arange(0, len(tokens) - block + 1, block)
    windows = tokens[starts[:, None] + torch.arange(block)]                     # (B, T)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        hidden = torch.cat([model.hidden(windows[i:i + batch].to(device)).to("cpu", torch.float64)
                            for i in range(0, len(windows), batch)])           # (B, T, d)
    model.train(was_training)
    position = (starts[:, None] + torch.arange(block)).reshape(-1)
    offset = torch.arange(block).repeat(len(starts))
    return Readout(tokens.numpy(), hidden.reshape(len(position), -1).numpy(), position.numpy(),
                   offset.numpy())


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (N, V) logits (several times faster than scipy's on wide rows)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _readout(model, tokens, block, limit) -> Readout:
    """``tokens`` itself when it is already a Readout (read once, estimate many times)."""
    return tokens if isinstance(tokens, Readout) else read(model, tokens, block, limit)


def _log_probs(W, b, hidden: np.ndarray):
    """Yield (rows, log p_h (rows, V)) over chunks of the hidden states."""
    for start in range(0, len(hidden), CHUNK):
        logits = hidden[start:start + CHUNK] @ W.T
        yield slice(start, start + len(logits)), log_softmax(logits if b is None else logits + b)


# --- categorical entropy of the head ---------------------------------------------------------------

def head_entropies(model, readout: Readout, divergence: str = "kl", alpha: float | None = None
                   ) -> np.ndarray:
    """Ψ_D(k_head(h)) at every hidden state of ``readout`` (N,), for every divergence of
    ``catlm.analysis.entropy.CLOSED_FORMS`` (JS and Rényi of any order in [0, ∞] included)."""
    lookup(divergence, alpha)   # validates the name and the order
    W, b = head_weights(model)
    values = np.empty(len(readout.hidden))
    for rows, logp in _log_probs(W, b, readout.hidden):
        values[rows] = CLOSED_FORMS[divergence](np.exp(logp), alpha)
    return values


def predictive_entropy(model, tokens, block: int | None = None, *, divergence: str = "kl",
                       alpha: float | None = None, limit: int | None = None) -> float:
    """H̄_D(k_head) over the empirical law of the contexts of ``tokens`` (KL: mean entropy, nats)."""
    return float(head_entropies(model, _readout(model, tokens, block, limit), divergence, alpha).mean())


# --- the NLL identity against a teacher -----------------------------------------------------------

def teacher_rows(teacher, tokens: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Row of the teacher's context (the last r tokens up to ``position``) or −1 if unobserved."""
    r, V = teacher.order, teacher.vocab_size
    if r == 0:
        return np.zeros(len(position), dtype=np.int64)
    valid = position >= r - 1
    codes = np.zeros(len(position), dtype=np.int64)
    for j in range(r):   # the oldest of the r tokens first: base-V code as NgramSource stores it
        codes = codes * V + tokens[np.clip(position - (r - 1) + j, 0, None)]
    found = np.searchsorted(teacher.codes, codes).clip(max=len(teacher.codes) - 1)
    return np.where(valid & (teacher.codes[found] == codes), found, -1)


@dataclass(frozen=True)
class TeacherNLL:
    """Thm 5.1 against a teacher P: means over positions of CE = E_P[−log q], KL(P ‖ q), H(P);
    ``identity_gap`` = max over positions of |CE − KL − H|; ``observed_nll`` = mean −log q(w_next)."""

    cross_entropy: float
    kl: float
    entropy: float
    observed_nll: float
    identity_gap: float
    positions: int
    coverage: float

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _usable(readout: Readout, teacher) -> tuple[np.ndarray, np.ndarray]:
    """Indices into the readout whose window holds the teacher's context and a next token, and rows."""
    has_next = readout.position < len(readout.tokens) - 1
    rows = teacher_rows(teacher, readout.tokens, readout.position)
    inside = readout.offset >= teacher.order - 1
    keep = np.flatnonzero(has_next & inside & (rows >= 0))
    return keep, rows[keep]


def nll_decomposition_vs_teacher(model, tokens, teacher, block: int | None = None,
                                 limit: int | None = None) -> TeacherNLL:
    """(L_CE, L_KL, H(W | C)) of the model against the teacher's kernel, per position then averaged."""
    _check_vocab(model, teacher)
    readout = _readout(model, tokens, block, limit)
    keep, rows = _usable(readout, teacher)
    if not len(keep):
        raise SpecError("no position of the sequence has a context the teacher has seen",
                        hint="build the teacher from the same text, or lower its order")
    P = teacher.kernel_sparse()
    W, b = head_weights(model)
    terms = np.zeros((len(keep), 4))                           # CE, KL, H, observed NLL
    for part, logq in _log_probs(W, b, readout.hidden[keep]):
        p = P[rows[part]].toarray()
        logp = np.log(np.where(p > 0, p, 1.0))
        nxt = readout.tokens[readout.position[keep[part]] + 1]
        terms[part] = np.column_stack([-(p * logq).sum(1), (p * (logp - logq)).sum(1),
                                       -(p * logp).sum(1), -logq[np.arange(len(p)), nxt]])
    gap = float(np.max(np.abs(terms[:, 0] - terms[:, 1] - terms[:, 2])))
    ce, kl, h, observed = terms.mean(axis=0)
    coverage = len(keep) / max(int(np.sum(readout.position < len(readout.tokens) - 1)), 1)
    return TeacherNLL(float(ce), float(kl), float(h), float(observed), gap, len(keep), coverage)


def _check_vocab(model, teacher) -> None:
    V = head_weights(model)[0].shape[0]
    if teacher.vocab_size != V:
        raise SpecError(f"the teacher has {teacher.vocab_size} tokens but the model's head {V}",
                        hint="build the teacher with NgramSource.from_sequence(tokens, r, vocab_size=V)")


# --- the conditional probe -----------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    """Held-out cross-entropies of q(W_{t+o} | W_{t+o−1}) and q(W_{t+o} | W_{t+o−1}, H_t), and
    their difference: a lower-bound *estimate* of I(H_t; W_{t+o} | W_{t+o−1}) (nats), a bound
    only insofar as the baseline reaches H(W_{t+o} | W_{t+o−1})."""

    baseline_ce: float
    probe_ce: float
    estimate: float
    train_pairs: int
    test_pairs: int
    label: str = "lower-bound estimate of I(H_t; W_{t+o} | W_{t+o-1}) (probe, nats)"

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def conditional_probe(model, tokens, offset: int = 2, *, block: int | None = None,
                      limit: int | None = None, steps: int = 200, weight_decay: float = 1e-4,
                      smoothing: float = 0.5, seed: int = 0) -> Probe:
    """Train two probes by cross-entropy on half of the (h_t, w_{t+o−1}, w_{t+o}) triples and
    compare them on the other half. The baseline is the add-``smoothing`` count table of
    W_{t+o} given W_{t+o−1}; the probe adds a linear map of h_t to the baseline's log-probabilities."""
    if offset < 2:
        raise SpecError(f"offset={offset}: the probe conditions on W_(t+offset-1), so offset >= 2")
    readout = _readout(model, tokens, block, limit)
    keep = np.flatnonzero(readout.position + offset < len(readout.tokens))
    given = readout.tokens[readout.position[keep] + offset - 1]
    target = readout.tokens[readout.position[keep] + offset]
    V = head_weights(model)[0].shape[0]
    train = np.random.default_rng(seed).permutation(len(keep)) < len(keep) // 2
    if train.sum() < 2 or (~train).sum() < 2:
        raise SpecError(f"only {len(keep)} probe triples; the probe needs more tokens")
    table = _count_table(given[train], target[train], V, smoothing)         # (V, V) log q(y | x)
    hidden = readout.hidden[keep]
    A = _fit_probe(hidden[train], table[given[train]], target[train], steps, weight_decay)
    test_base = table[given[~train]]
    base, probed = _nll(test_base, target[~train]), _nll(test_base + hidden[~train] @ A, target[~train])
    return Probe(base, probed, base - probed, int(train.sum()), int((~train).sum()),
                 f"lower-bound estimate of I(H_t; W_t+{offset} | W_t+{offset - 1}) (probe, nats)")


@dataclass(frozen=True)
class SurplusProbe:
    """The chain-rule terms of Surplus_K = Σ_{j=2..K} I(H_t; W_{t+j} | W_{t+1..t+j−1}), each a
    held-out probe estimate (``terms[j − 2]``, nats), and their sum. Lower-bound estimates in the
    sense of ``Probe``: each only insofar as its count-table baseline reaches the entropy."""

    terms: tuple[float, ...]
    total: float
    test_pairs: int

    def to_dict(self) -> dict:
        return {"terms": list(self.terms), "total": self.total, "test_pairs": self.test_pairs}


def surplus_probe(model, tokens, steps: int = 3, *, block: int | None = None, limit: int | None = None,
                  probe_steps: int = 200, weight_decay: float = 1e-4, smoothing: float = 0.5,
                  seed: int = 0) -> SurplusProbe:
    """The neural estimate of Surplus_K for K = ``steps``: term j compares, on held-out triples,
    an add-``smoothing`` count table of W_{t+j} given all of W_{t+1..t+j−1} with the same table
    plus a linear map of h_t (fitted by L-BFGS on the other half). Term 2 is ``conditional_probe``."""
    if steps < 2:
        raise SpecError(f"steps={steps}: the surplus has chain-rule terms only for K >= 2")
    readout = _readout(model, tokens, block, limit)
    keep = np.flatnonzero(readout.position + steps < len(readout.tokens))
    if len(keep) < 4:
        raise SpecError(f"only {len(keep)} positions have {steps} tokens after them; need more tokens")
    V = head_weights(model)[0].shape[0]
    train = np.random.default_rng(seed).permutation(len(keep)) < len(keep) // 2
    future = readout.tokens[readout.position[keep][:, None] + np.arange(1, steps + 1)]    # (N, K)
    hidden = readout.hidden[keep]
    terms = []
    for j in range(2, steps + 1):
        given = np.unique(future[:, :j - 1], axis=0, return_inverse=True)[1].ravel()   # W_{t+1..t+j−1}
        target = future[:, j - 1]
        table = _count_table(given[train], target[train], V, smoothing, rows=int(given.max()) + 1)
        A = _fit_probe(hidden[train], table[given[train]], target[train], probe_steps, weight_decay)
        base = table[given[~train]]
        terms.append(_nll(base, target[~train]) - _nll(base + hidden[~train] @ A, target[~train]))
    return SurplusProbe(tuple(terms), float(sum(terms)), int((~train).sum()))


def _count_table(given: np.ndarray, target: np.ndarray, V: int, smoothing: float,
                 rows: int | None = None) -> np.ndarray:
    counts = np.full((V if rows is None else rows, V), smoothing)
    np.add.at(counts, (given, target), 1.0)
    return np.log(counts / counts.sum(axis=1, keepdims=True))


def _nll(logits: np.ndarray, target: np.ndarray) -> float:
    return float(-np.mean(log_softmax(logits)[np.arange(len(target)), target]))


def _fit_probe(hidden, base_logits, target, steps: int, weight_decay: float) -> np.ndarray:
    """A (d, V) minimising CE(base_logits + h A) + λ‖A‖² by L-BFGS from A = 0 (convex in A)."""
    scale = max(float(hidden.std()), 1e-12)
    x = hidden / scale
    onehot = np.eye(base_logits.shape[1])[target]
    shape = (x.shape[1], base_logits.shape[1])

    def objective(flat):
        A = flat.reshape(shape)
        logq = log_softmax(base_logits + x @ A)
        residual = (np.exp(logq) - onehot) / len(x)                  # ∂CE/∂logits (N, V)
        value = -np.sum(onehot * logq) / len(x) + weight_decay * np.sum(A * A)
        return value, (x.T @ residual + 2 * weight_decay * A).ravel()

    found = scipy.optimize.minimize(objective, np.zeros(np.prod(shape)), jac=True, method="L-BFGS-B",
                                    options={"maxiter": steps})
    return found.x.reshape(shape) / scale


# --- a model's own K-step kernel ---------------------------------------------------------------

def rollout_kernel(model, prefix, steps: int, batch: int = 512) -> np.ndarray:
    """The model's own K-step kernel after ``prefix``: Q^(K)(w_1..w_K) = Π_j q(w_j | prefix, w_<j),
    an array (V,)*K summing to 1, by uncached forwards over every continuation (V**K of them:
    meant for small V and K; the data-side counterpart is ``k_step_kernel``)."""
    prefix = [int(t) for t in np.asarray(prefix).ravel()]
    V = head_weights(model)[0].shape[0]
    if not prefix or len(prefix) + steps - 1 > getattr(model, "context", len(prefix) + steps):
        raise SpecError(f"a rollout of {steps} tokens after {len(prefix)} needs a nonempty prefix "
                        "inside the model's context")
    if V ** steps > 2_000_000:
        raise SpecError(f"V**K = {V}**{steps} continuations is too many to enumerate",
                        hint="lower steps; the rollout kernel is exact, not sampled")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    paths, log_law = np.zeros((1, 0), dtype=np.int64), np.zeros(1)
    for _ in range(steps):
        rows = []
        for i in range(0, len(paths), batch):
            chunk = torch.as_tensor(np.column_stack([np.tile(prefix, (len(paths[i:i + batch]), 1)),
                                                     paths[i:i + batch]]), device=device)
            with torch.no_grad():
                logits = model.head(model.hidden(chunk))[:, -1].to("cpu", torch.float64)
            rows.append(torch.log_softmax(logits, -1).numpy())
        log_q = np.concatenate(rows)                                         # (paths, V)
        log_law = (log_law[:, None] + log_q).ravel()
        paths = np.column_stack([np.repeat(paths, V, axis=0), np.tile(np.arange(V), len(paths))])
    model.train(was_training)
    return np.exp(log_law).reshape((V,) * steps)


# --- the pullback metric over contexts ------------------------------------------------------------

@dataclass(frozen=True)
class MetricSpectra:
    """Eigenvalues (n, d) of g*(h) at n sampled contexts (descending), [OPS] anisotropy means,
    and the spectrum (d,) and eigenvectors (d, d) of the averaged metric Ḡ = E g*(h)."""

    eigenvalues: np.ndarray
    anisotropy: dict
    averaged_spectrum: np.ndarray
    averaged_directions: np.ndarray

    def to_dict(self) -> dict:
        return {"anisotropy": self.anisotropy, "averaged_spectrum": self.averaged_spectrum.tolist(),
                "mean_spectrum": self.eigenvalues.mean(axis=0).tolist(),
                "contexts": len(self.eigenvalues)}


def metric_spectra(model, tokens, n_contexts: int = 256, *, block: int | None = None,
                   limit: int | None = None, seed: int = 0) -> MetricSpectra:
    """g*(h) = Wᵀ(diag p − p pᵀ)W at ``n_contexts`` hidden states drawn uniformly from the sequence."""
    readout = _readout(model, tokens, block, limit)
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(readout.hidden), size=min(n_contexts, len(readout.hidden)), replace=False)
    hs = readout.hidden[np.sort(picked)]
    W, b = head_weights(model)
    metrics = np.concatenate([pullback_metric(W, hs[i:i + 64], b) for i in range(0, len(hs), 64)])
    eigenvalues = np.linalg.eigvalsh(metrics)[:, ::-1]
    values, vectors = np.linalg.eigh(metrics.mean(axis=0))
    return MetricSpectra(eigenvalues, mean_anisotropy(metrics), values[::-1], vectors[:, ::-1])


# --- spectral alignment with M_K of the teacher ---------------------------------------------------

@dataclass(frozen=True)
class ContextStates:
    """The teacher's most frequent contexts among the positions: their rows, empirical law µ and
    the mean hidden state E[h | context] (n, d)."""

    rows: np.ndarray
    law: np.ndarray
    hidden: np.ndarray


def context_states(model, tokens, teacher, n_contexts: int = 512, block: int | None = None,
                   limit: int | None = None) -> ContextStates:
    """Group the hidden states by the teacher's context (its last r tokens) and average them."""
    readout = _readout(model, tokens, block, limit)
    rows = teacher_rows(teacher, readout.tokens, readout.position)
    keep = np.flatnonzero((rows >= 0) & (readout.offset >= teacher.order - 1))
    labels, inverse, counts = np.unique(rows[keep], return_inverse=True, return_counts=True)
    top = np.sort(np.argsort(-counts, kind="stable")[:n_contexts])
    sums = np.zeros((len(labels), readout.hidden.shape[1]))
    np.add.at(sums, inverse.ravel(), readout.hidden[keep])
    law = counts[top] / counts[top].sum()
    return ContextStates(labels[top], law, sums[top] / counts[top][:, None])


def spectral_alignment(model, tokens, teacher, k: int = 8, *, kernel: str = "bhattacharyya",
                       n_contexts: int = 512, block: int | None = None, limit: int | None = None,
                       seed: int = 0, untrained=None) -> Alignment:
    """Whitened E[h | context] against the top-k eigenfunctions of M_K, K built from the teacher's
    kernel on its most frequent contexts (µ: their frequency among the positions), with the random
    and permuted baselines of ``catlm.analysis.alignment`` and, given ``untrained`` (a model of the
    same architecture at initialisation, see ``untrained_model``), its scores on the same tokens."""
    states = context_states(model, tokens, teacher, n_contexts, block, limit)
    if len(states.rows) <= k:
        raise SpecError(f"only {len(states.rows)} teacher contexts occur; k={k} needs more",
                        hint="lower k or use more tokens")
    P = teacher.kernel_sparse()[states.rows].toarray()
    K = similarity_kernel(P, kernel)
    fresh = None
    if untrained is not None:   # the same contexts: the rows depend on the tokens and teacher only
        raw = tokens.tokens if isinstance(tokens, Readout) else tokens
        fresh = context_states(untrained, raw, teacher, n_contexts, block, limit).hidden
    return alignment_with_baselines(states.hidden, states.law, K, k, seed, fresh)


# --- the held-out split of a run ----------------------------------------------------------------

def validation_tokens(tokens, state: dict) -> np.ndarray:
    """The held-out split of the checkpoint's training run: the last ``val_fraction`` of tokens."""
    fraction = float(state.get("train_config", {}).get("val_fraction", 0.1))
    tokens = np.asarray(tokens, dtype=np.int64)
    return tokens[len(tokens) - int(len(tokens) * fraction):] if fraction > 0 else tokens
