"""Order-r n-gram sources: plug-in "true kernels" k_data of a token sequence, in FinStoch.

The contexts of an order-r source are the r-tuples observed in the sequence (never all V^r of
them); their law µ is the empirical frequency of each context, the data kernel P (n × V) the
empirical next-token law, and the successor map sends (context, token) to the context made of its
last r − 1 tokens and the token (the plug-in source of the paper's computable quantities, "an order-r Markov source whose contexts are its last
r tokens"). Counts are ``scipy.sparse``; K-step
kernels enumerate only the paths of positive probability, as a sparse (n, V**K) matrix.

>>> src = NgramSource.from_text("abab", order=1)
>>> src.alphabet, src.kernel().tolist()
(('a', 'b'), [[0.0, 1.0], [1.0, 0.0]])
>>> round(src.conditional_entropy(), 12)
0.0
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from catlm.analysis.surplus import Surplus, information_surplus
from catlm.errors import KernelError, SpecError

MAX_CODE = 2 ** 62  # contexts are stored as base-V integers
DENSE_GRAMS = 2 ** 22  # up to this many possible (r + 1)-grams, count them in a dense table


@dataclass(frozen=True, eq=False)
class NgramSource:
    """The plug-in order-r source of a sequence: observed contexts, counts and successors."""

    order: int
    vocab_size: int
    codes: np.ndarray            # (n,) base-V code of each observed context, ascending
    counts: sp.csr_matrix        # (n, V) transition counts
    successors: np.ndarray       # aligned with counts.data: successor context index, or -1
    alphabet: tuple | None = None

    @classmethod
    def from_sequence(cls, tokens, order: int, vocab_size: int | None = None, *,
                      cyclic: bool = False, alphabet: tuple | None = None) -> NgramSource:
        """Count the (r + 1)-grams of an integer sequence; ``cyclic`` wraps the end to the start,
        which makes µ exactly stationary and gives every context a successor."""
        tokens = np.asarray(tokens)
        vocab_size = _check_tokens(tokens, order, vocab_size)
        extended = np.concatenate([tokens, tokens[:order]]) if cyclic else tokens
        codes, counts = count_ngrams(extended, order, vocab_size,
                                     len(tokens) if cyclic else len(tokens) - order)
        return cls(order, vocab_size, codes, counts,
                   _successors(codes, counts, order, vocab_size), alphabet)

    @classmethod
    def from_text(cls, text: str, order: int, *, cyclic: bool = False) -> NgramSource:
        """The character-level source of ``text``; the alphabet is its sorted set of characters."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        present = np.zeros(0x110000, dtype=bool)   # one flag per Unicode code point: no sort
        present[points] = True
        alphabet = tuple(map(chr, np.flatnonzero(present).tolist()))   # sorted characters
        tokens = (np.cumsum(present, dtype=np.int64) - 1)[points]
        return cls.from_sequence(tokens, order, len(alphabet), cyclic=cyclic, alphabet=alphabet)

    @property
    def contexts(self) -> np.ndarray:
        """(n, r) the observed contexts as token tuples."""
        powers = self.vocab_size ** np.arange(self.order - 1, -1, -1, dtype=np.int64)
        return (self.codes[:, None] // powers[None, :]) % self.vocab_size

    def context_law(self) -> np.ndarray:
        """µ (n,): the empirical frequency of each context."""
        totals = np.asarray(self.counts.sum(axis=1)).ravel()
        return totals / totals.sum()

    def kernel_sparse(self) -> sp.csr_matrix:
        """P as a sparse (n, V) row-stochastic matrix."""
        totals = np.repeat(np.asarray(self.counts.sum(axis=1)).ravel(), np.diff(self.counts.indptr))
        # same structure as the counts, so that ``successors`` stays aligned with ``data``
        return sp.csr_matrix((self.counts.data / totals, self.counts.indices, self.counts.indptr),
                             shape=self.counts.shape)

    def kernel(self) -> np.ndarray:
        """P as a dense (n, V) row-stochastic array (n observed contexts, not V^r)."""
        return self.kernel_sparse().toarray()

    def successor_map(self) -> np.ndarray:
        """(n, V) index of the next context, −1 where the transition was never observed."""
        dense = np.full(self.counts.shape, -1, dtype=np.int64)
        rows = np.repeat(np.arange(self.counts.shape[0]), np.diff(self.counts.indptr))
        dense[rows, self.counts.indices] = self.successors
        return dense

    def index(self, context) -> int:
        """The row of an observed context given as a token tuple (SpecError if unobserved)."""
        code = _code(context, self.vocab_size)
        row = int(np.searchsorted(self.codes, code))
        if row == len(self.codes) or self.codes[row] != code:
            raise SpecError(f"context {tuple(context)} never occurs in the sequence")
        return row

    def conditional_entropy(self, base: float | None = None) -> float:
        """H(X_r | X_{<r}) = −Σ_c (count/N) log(count/row total), exactly from the counts."""
        totals = np.repeat(np.asarray(self.counts.sum(axis=1)).ravel(), np.diff(self.counts.indptr))
        data = self.counts.data
        nats = float(np.sum(data * np.log(totals / data))) / float(data.sum())
        return nats / (1.0 if base is None else math.log(base))

    def k_step_kernel(self, steps: int) -> sp.csr_matrix:
        """P^(K) as a sparse (n, V**K) matrix over the paths of positive probability."""
        if steps < 1 or self.vocab_size ** steps >= MAX_CODE:
            raise SpecError(f"steps={steps} must be >= 1 with V**steps below 2**62")
        P = self.kernel_sparse()
        n = P.shape[0]
        origin, code, prob, state = np.arange(n), np.zeros(n, np.int64), np.ones(n), np.arange(n)
        for step in range(steps):
            if (state < 0).any():
                raise KernelError(f"a path of positive probability leaves context "
                                  f"{tuple(self.contexts[origin[np.argmax(state < 0)]])} into an "
                                  "unobserved context", hint="build the source with cyclic=True")
            entry, parent = _expand(P.indptr, state)
            origin, prob = origin[parent], prob[parent] * P.data[entry]
            code = code[parent] * self.vocab_size + P.indices[entry]
            state = self.successors[entry]
        return sp.csr_matrix((prob, (origin, code)), shape=(n, self.vocab_size ** steps))

    def suffix_encoder(self, keep: int) -> np.ndarray:
        """Labels (n,) of an encoder that keeps the last ``keep`` tokens of each context."""
        return self.position_encoder(range(self.order - keep, self.order))

    def position_encoder(self, positions) -> np.ndarray:
        """Labels (n,) of an encoder that keeps the context tokens at ``positions`` (0 = oldest)."""
        kept = self.contexts[:, list(positions)]
        if kept.shape[1] == 0:
            return np.zeros(len(self.codes), dtype=np.int64)
        return np.unique(kept, axis=0, return_inverse=True)[1].ravel()

    def surplus(self, steps: int, encoder, *, base: float | None = None) -> Surplus:
        """The exact KL information surplus of ``encoder`` about the next ``steps`` tokens."""
        return information_surplus(self.context_law(), self.k_step_kernel(steps), encoder,
                                   steps=steps, base=base)


def count_ngrams(tokens: np.ndarray, order: int, vocab_size: int,
                 transitions: int | None = None) -> tuple[np.ndarray, sp.csr_matrix]:
    """The (r + 1)-gram counts of a sequence: catlm's one n-gram counter.

    Returns the base-V codes (n,) of the observed r-token contexts, ascending, and the (n, V)
    sparse counts of the token after each; ``transitions`` keeps only the first so many windows.
    """
    if vocab_size ** max(order, 1) >= MAX_CODE:
        raise SpecError(f"V**order = {vocab_size}**{order} is too large to index contexts",
                        hint="lower the order")
    n_transitions = len(tokens) - order if transitions is None else transitions
    window = _window_codes(tokens, order, vocab_size)[:n_transitions]
    columns = tokens[order:order + n_transitions]
    if vocab_size ** (order + 1) <= DENSE_GRAMS:  # a bin for every (r + 1)-gram: one linear pass
        dense = np.bincount(window * vocab_size + columns, minlength=vocab_size ** (order + 1))
        dense = dense.reshape(-1, vocab_size)
        codes = np.flatnonzero(dense.any(axis=1))
        return codes, sp.csr_matrix(dense[codes].astype(np.float64))
    codes, rows = np.unique(window, return_inverse=True)
    counts = sp.csr_matrix((np.ones(n_transitions), (rows.ravel(), columns)),
                           shape=(len(codes), vocab_size))
    counts.sum_duplicates()
    counts.sort_indices()
    return codes, counts


def context_counts(tokens, order: int, vocab_size: int) -> dict[tuple[int, ...], np.ndarray]:
    """``{context: next-token counts (V,)}`` over the observed ``order``-token contexts (a
    back-off table of the n-gram drafter); empty when the sequence has no (order + 1)-gram."""
    tokens = np.asarray(tokens, dtype=np.int64)
    if len(tokens) <= order:
        return {}
    codes, counts = count_ngrams(tokens, order, vocab_size)
    powers = vocab_size ** np.arange(order - 1, -1, -1, dtype=np.int64)
    contexts = (codes[:, None] // powers[None, :]) % vocab_size
    return {tuple(int(t) for t in context): row for context, row in zip(contexts, counts.toarray())}


def _check_tokens(tokens: np.ndarray, order: int, vocab_size: int | None) -> int:
    if tokens.ndim != 1 or tokens.dtype.kind not in "iu":
        raise SpecError("an n-gram source needs a 1-D sequence of integer tokens",
                        hint="use NgramSource.from_text for a string")
    if order < 0 or len(tokens) <= order:
        raise SpecError(f"order {order} needs a sequence longer than {order} tokens, got {len(tokens)}")
    vocab_size = int(tokens.max()) + 1 if vocab_size is None else vocab_size
    if tokens.min() < 0 or tokens.max() >= vocab_size:
        raise SpecError(f"tokens must lie in 0..{vocab_size - 1}")
    return vocab_size


def _window_codes(tokens: np.ndarray, order: int, vocab_size: int) -> np.ndarray:
    """codes[i] = Σ_j tokens[i + j] V^(r−1−j) for every window start i."""
    codes = np.zeros(len(tokens) - order + 1, dtype=np.int64)
    for j in range(order):
        codes = codes * vocab_size + tokens[j:len(tokens) - order + 1 + j]
    return codes


def _code(context, vocab_size: int) -> int:
    code = 0
    for token in context:
        code = code * vocab_size + int(token)
    return code


def _successors(codes, counts, order: int, vocab_size: int) -> np.ndarray:
    """For each stored (context, token) count, the index of the context (x_2..x_r, token)."""
    if order == 0:
        return np.zeros(counts.nnz, dtype=np.int64)
    rows = np.repeat(np.arange(len(codes)), np.diff(counts.indptr))
    wanted = (codes[rows] % vocab_size ** (order - 1)) * vocab_size + counts.indices
    found = np.searchsorted(codes, wanted).clip(max=len(codes) - 1)
    return np.where(codes[found] == wanted, found, -1)


def _expand(indptr: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(entry, parent): every stored entry of the rows ``state``, and which path it extends."""
    lengths = indptr[state + 1] - indptr[state]
    parent = np.repeat(np.arange(len(state)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return indptr[state][parent] + offsets, parent
