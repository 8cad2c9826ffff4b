"""Information surplus of a hidden state about the K-token future, exact on FinStoch.

Source: Zhang, arXiv 2507.19247, §4.1 (Eqs. 4.1–4.2 of v1 and of the August 2025 revision);
Contexts x carry a law µ; the data K-step kernel P^(K)(x, ·)
is a state on V^K; an encoder E (a function or kernel from contexts to m hidden states) gives the
joint state p(h, w_1..w_K) = Σ_x µ(x) E(x, h) P^(K)(x, w_1..w_K). Then

    "cmi"        Surplus_K = I(H; W_{2:K} | W_1)                   (KL only; chain rule)
    "difference" Surplus_D = I_D(H; W_{1:K}) − I_D(H; W_1)          (any divergence; v1)

and 0 ≤ Surplus_K ≤ H(W_{2:K} | W_1) ≤ (K − 1) log V. The K-step kernel may be a dense array
(n, V, ..., V) or (n, V**K), or a ``scipy.sparse`` (n, V**K) matrix (only KL forms then).

>>> import numpy as np
>>> P = np.array([[0.0, 1.0], [1.0, 0.0]])            # a deterministic alternation on V = 2
>>> successor = np.array([[0, 1], [0, 1]])             # the context is the last token
>>> P2 = k_step_kernel(P, successor, 2)
>>> information_surplus([0.5, 0.5], P2, np.array([0, 1])).value
0.0
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from catlm.analysis.checks import as_kernel, as_law
from catlm.analysis.entropy import mutual_information
from catlm.errors import BudgetError, KernelError, SpecError

DENSE_LIMIT = 50_000_000  # cells of a dense joint state built for a non-KL surplus


@dataclass(frozen=True, slots=True)
class Surplus:
    """A surplus with its two mutual informations and the upper bound H(W_{2:K} | W_1)."""

    value: float
    mi_block: float
    mi_first: float
    upper_bound: float


def k_step_kernel(next_token_kernel, successor, steps: int) -> np.ndarray:
    """P^(K)(x, w_1..w_K) = Π_j P(s_{j−1}, w_j) with s_0 = x, s_j = successor[s_{j−1}, w_j].

    ``successor`` (n, V) maps a context and a token to the index of the next context (negative
    where the transition has probability 0). Returns an array of shape (n, V, ..., V), K axes.
    """
    P = as_kernel(next_token_kernel, 1, name="next-token kernel").astype(float)
    successor = np.asarray(successor)
    _check_successor(P, successor)
    block = P
    for _ in range(steps - 1):
        # (n, V, V^j): P(x, w) times the j-step law from the successor state
        block = P[:, :, None] * block.reshape(len(P), -1)[successor.clip(0)]
    return block.reshape((len(P),) + (P.shape[1],) * steps)


def _check_successor(P: np.ndarray, successor: np.ndarray) -> None:
    if successor.shape != P.shape:
        raise KernelError(f"successor map has shape {successor.shape}, expected {P.shape}")
    dangling = np.argwhere((P > 0) & ((successor < 0) | (successor >= len(P))))
    if dangling.size:
        x, w = (int(i) for i in dangling[0])
        raise KernelError(f"context {x} moves to token {w} with positive probability but its "
                          f"successor {int(successor[x, w])} is not a context index",
                          hint="every transition of positive probability needs a successor context")


def _checked_labels(encoder, n: int) -> np.ndarray:
    encoder = np.asarray(encoder)
    if encoder.shape != (n,) or encoder.dtype.kind not in "iu" or (encoder < 0).any():
        raise KernelError(f"an encoder given as labels needs {n} nonnegative integers")
    return encoder


def _encoder_matrix(encoder, n: int):
    """E (n, m): a sparse 0/1 matrix for an encoder given as labels (never the dense one-hot
    n × m array, gigabytes at order 3 and beyond), else the dense kernel given."""
    if np.ndim(encoder) == 1:
        labels = _checked_labels(encoder, n)
        m = int(labels.max(initial=-1)) + 1
        return sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, m))
    encoder = np.asarray(encoder)
    if encoder.shape[0] != n:
        raise KernelError(f"encoder has {encoder.shape[0]} rows but there are {n} contexts")
    return as_kernel(encoder, 1, name="encoder").astype(float)


def _block_shape(kernel, steps: int | None) -> tuple[int, int]:
    """(V, K) of a K-step kernel given as (n, V, ..., V) or flattened with ``steps``."""
    shape = kernel.shape
    if len(shape) > 2:
        if len(set(shape[1:])) != 1:
            raise KernelError(f"K-step kernel axes {shape[1:]} are not all the same vocabulary")
        return shape[1], len(shape) - 1
    steps = 1 if steps is None else steps
    vocab = round(shape[1] ** (1 / steps))
    if vocab ** steps != shape[1]:
        raise SpecError(f"{shape[1]} columns are not V**{steps} for any V; pass steps=K")
    return vocab, steps


def joint_state(context_law, kernel, encoder, steps: int | None = None):
    """p(h, w_1..w_K) as an (m, V**K) array (sparse if the kernel is), with V and K."""
    vocab, steps = _block_shape(kernel, steps)
    if sp.issparse(kernel):
        law = as_law(context_law, kernel.shape[0], name="context law")
        _check_sparse_rows(kernel)
        E = sp.csr_matrix(_encoder_matrix(encoder, kernel.shape[0]))
        return E.T.tocsr() @ (sp.diags(law) @ sp.csr_matrix(kernel)), vocab, steps
    P = as_kernel(np.asarray(kernel).reshape(kernel.shape[0], -1), 1, name="K-step kernel")
    law = as_law(context_law, len(P), name="context law")
    E = _encoder_matrix(encoder, len(P))
    return np.asarray(E.T @ (law[:, None] * P)), vocab, steps


def _check_sparse_rows(kernel) -> None:
    sums = np.asarray(kernel.sum(axis=1)).ravel()
    bad = np.flatnonzero(abs(sums - 1) > 1e-9)
    if bad.size or (kernel.data < 0).any():
        row = int(bad[0]) if bad.size else -1
        raise KernelError(f"row {row} of the sparse K-step kernel is not a state"
                          f"{f' (sums to {sums[row]:.6g})' if bad.size else ' (negative entry)'}")


def _cells(joint) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(h, w, p) for the cells of positive mass of a joint state, dense or sparse."""
    coo = sp.coo_matrix(joint)
    keep = coo.data > 0
    return coo.row[keep], coo.col[keep], coo.data[keep]


def _labelled_cells(law: np.ndarray, kernel, labels: np.ndarray):
    """(h, w, p) straight from a sparse K-step kernel and an encoder given as labels: one cell per
    stored path, h = label of its context and p = µ(x) P^(K)(x, w). Cells may repeat an (h, w)
    pair; every sum below is over cells, so repeats add up exactly as the joint state would."""
    kernel = sp.csr_matrix(kernel)
    rows = np.repeat(np.arange(kernel.shape[0]), np.diff(kernel.indptr))
    p = law[rows] * kernel.data
    keep = p > 0
    return labels[rows[keep]], kernel.indices[keep].astype(np.int64), p[keep]


def _group(*keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels of the distinct tuples of ``keys`` over the cells, and how many labels there are.

    The mixed-radix code of the tuple is the label itself when there are few enough codes
    (a bincount over them is then no larger than the cells); otherwise codes are relabelled densely.
    """
    labels, size = np.zeros(len(keys[0]), dtype=np.int64), 1
    for key in keys:
        width = int(key.max(initial=0)) + 1
        if size * width >= 2 ** 62:  # relabel densely before combining
            labels, size = _dense(labels)
        labels, size = labels * width + key, size * width
    return _dense(labels) if size > max(4 * len(labels), 2 ** 20) else (labels, size)


def _dense(labels: np.ndarray) -> tuple[np.ndarray, int]:
    distinct, inverse = np.unique(labels, return_inverse=True)
    return inverse.ravel(), len(distinct)


def _entropy(mass: np.ndarray) -> float:
    mass = mass[mass > 0]
    return float(-np.sum(mass * np.log(mass)))


def _kl_terms(h: np.ndarray, w: np.ndarray, p: np.ndarray, vocab: int, steps: int
              ) -> tuple[float, float, float, float]:
    """(I(H; W_{2:K} | W_1), I(H; W_1), I(H; W_{1:K}), H(W_{2:K} | W_1)) in nats, from the cells
    (h, w, p) of the joint state (w the base-V code of w_1..w_K, w_1 its leading digit)."""
    first = w // vocab ** (steps - 1)
    # I(H; R | F) = Σ p(h,f,r) log p(h,f,r) p(f) / (p(h,f) p(f,r)) over the cells (F, R) = W,
    # accumulated in place: one array of the cells' size at a time besides (h, w, p)
    log_ratio, H = np.zeros(len(p)), {}
    for key, sign in (("hw", 1.0), ("f", 1.0), ("hf", -1.0), ("w", -1.0), ("h", 0.0)):
        labels, size = _group(*{"h": (h,), "f": (first,), "w": (w,), "hf": (h, first), "hw": (h, w)}[key])
        mass = np.bincount(labels, weights=p, minlength=size)
        H[key] = _entropy(mass)
        if sign:
            log_ratio += sign * np.log(mass[labels])
        del labels, mass
    cmi = float(p @ log_ratio)
    mi_first = H["h"] + H["f"] - H["hf"]
    mi_block = H["h"] + H["w"] - H["hw"]
    return max(cmi, 0.0), max(mi_first, 0.0), max(mi_block, 0.0), H["w"] - H["f"]


def information_surplus(context_law, k_step_kernel, encoder, form: str = "cmi",
                        divergence: str = "kl", *, steps: int | None = None,
                        alpha: float | None = None, base: float | None = None) -> Surplus:
    """The information surplus of ``encoder`` about the K-token future (see the module text)."""
    if form not in ("cmi", "difference"):
        raise SpecError(f"unknown form {form!r}; choose from cmi, difference")
    if form == "cmi" and divergence != "kl":
        raise SpecError(f"form='cmi' is the chain-rule surplus and needs divergence='kl', not "
                        f"{divergence!r}", hint="use form='difference' for other divergences")
    if divergence == "kl" and sp.issparse(k_step_kernel) and np.ndim(encoder) == 1:
        cmi, mi_first, mi_block, bound = _kl_terms(*_sparse_labelled(context_law, k_step_kernel,
                                                                     encoder, steps))
    else:
        joint, vocab, steps = joint_state(context_law, k_step_kernel, encoder, steps)
        cmi, mi_first, mi_block, bound = _kl_terms(*_cells(joint), vocab, steps)
    scale = 1.0 if base is None else math.log(base)
    if divergence != "kl":
        mi_block, mi_first = _divergence_mis(joint, vocab, steps, divergence, alpha, base)
        return Surplus(mi_block - mi_first, mi_block, mi_first, bound / scale)
    value = cmi if form == "cmi" else mi_block - mi_first
    return Surplus(value / scale, mi_block / scale, mi_first / scale, bound / scale)


def _sparse_labelled(context_law, kernel, encoder, steps):
    """The cells, V and K of a sparse K-step kernel with an encoder given as labels, checked."""
    vocab, steps = _block_shape(kernel, steps)
    law = as_law(context_law, kernel.shape[0], name="context law").astype(float)
    _check_sparse_rows(kernel)
    labels = _checked_labels(encoder, kernel.shape[0])
    return (*_labelled_cells(law, kernel, labels), vocab, steps)


def _divergence_mis(joint, vocab, steps, divergence, alpha, base) -> tuple[float, float]:
    if joint.shape[0] * joint.shape[1] > DENSE_LIMIT:
        raise BudgetError(f"the joint state has {joint.shape[0] * joint.shape[1]:,} cells, over "
                          f"{DENSE_LIMIT:,}", hint="use divergence='kl' (sparse) or fewer steps")
    dense = joint.toarray() if sp.issparse(joint) else np.asarray(joint)
    first = dense.reshape(dense.shape[0], vocab, -1).sum(axis=2)
    options = dict(alpha=alpha, base=base)
    return (mutual_information(dense, divergence, **options),
            mutual_information(first, divergence, **options))
