"""n-gram sources from token sequences, the corpus reader, and the shakespeare corpus figures."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from catlm.analysis import k_step_kernel
from catlm.data.corpus import read_text
from catlm.data import ngram
from catlm.data.ngram import NgramSource, context_counts, count_ngrams
from catlm.errors import KernelError, SpecError

from counting import plugin_conditional_entropy  # noqa: E402
from shared_data import FIGURES, shakespeare_text  # noqa: E402


def test_small_text_counts_law_kernel_and_successors():
    src = NgramSource.from_text("abcab", order=1)
    assert src.alphabet == ("a", "b", "c")
    assert src.contexts.tolist() == [[0], [1], [2]]
    np.testing.assert_allclose(src.context_law(), [0.5, 0.25, 0.25])
    np.testing.assert_allclose(src.kernel(), [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    assert src.successor_map().tolist() == [[-1, 1, -1], [-1, -1, 2], [0, -1, -1]]
    pairs = NgramSource.from_text("abcab", order=2)
    assert pairs.contexts.tolist() == [[0, 1], [1, 2], [2, 0]]
    assert pairs.index((2, 0)) == 2
    with pytest.raises(SpecError, match="never occurs"):
        pairs.index((0, 0))


@settings(max_examples=30, deadline=None)
@given(tokens=st.lists(st.integers(0, 3), min_size=6, max_size=60), r=st.integers(0, 3))
def test_conditional_entropy_matches_a_counter_oracle(tokens, r):
    src = NgramSource.from_sequence(np.array(tokens), r, vocab_size=4)
    assert src.conditional_entropy() == pytest.approx(plugin_conditional_entropy(tokens, r), abs=1e-12)
    assert src.conditional_entropy(base=2) == pytest.approx(src.conditional_entropy() / math.log(2))


@settings(max_examples=25, deadline=None)
@given(tokens=st.lists(st.integers(0, 2), min_size=5, max_size=40), r=st.integers(1, 2),
       K=st.integers(1, 3))
def test_sparse_k_step_kernel_equals_the_dense_construction(tokens, r, K):
    src = NgramSource.from_sequence(np.array(tokens), r, vocab_size=3, cyclic=True)
    dense = k_step_kernel(src.kernel(), src.successor_map(), K).reshape(len(src.codes), -1)
    np.testing.assert_allclose(src.k_step_kernel(K).toarray(), dense, atol=1e-15)


def test_cyclic_context_law_is_stationary():
    rng = np.random.default_rng(0)
    src = NgramSource.from_sequence(rng.integers(0, 3, 500), 2, cyclic=True)
    law, P, successor = src.context_law(), src.kernel(), src.successor_map()
    pushed = np.zeros_like(law)
    np.add.at(pushed, successor[P > 0], (law[:, None] * P)[P > 0])
    np.testing.assert_allclose(pushed, law, atol=1e-15)


def test_dangling_paths_and_bad_sequences_are_catlm_errors():
    src = NgramSource.from_text("abc", order=1)          # b -> c, and c never has a successor
    with pytest.raises(KernelError, match="cyclic=True"):
        src.k_step_kernel(2)
    with pytest.raises(SpecError, match="integer tokens"):
        NgramSource.from_sequence(np.array([0.5, 1.0]), 1)
    with pytest.raises(SpecError, match="longer than"):
        NgramSource.from_sequence(np.array([0, 1]), 2)


def test_read_text_errors(tmp_path):
    with pytest.raises(SpecError, match="no corpus file"):
        read_text(tmp_path / "missing.txt")
    binary = tmp_path / "latin1.txt"
    binary.write_bytes(b"caf\xe9")
    with pytest.raises(SpecError, match="not UTF-8"):
        read_text(binary)


def test_read_text_shakespeare_package():
    text = read_text("shakespeare")
    assert len(text) == FIGURES["characters"] and len(set(text)) == FIGURES["symbols"]


@pytest.fixture(scope="module")
def works():
    return shakespeare_text()


def test_shakespeare_plugin_entropies(works):
    """The plug-in reference figures: H(X1|X0) = 3.605, H(X2|X0X1) = 2.844, I(X0;X2|X1) = 0.761 bits, 2,085
    order-2 contexts."""
    order1, order2 = NgramSource.from_text(works, 1), NgramSource.from_text(works, 2)
    h1, h2 = order1.conditional_entropy(base=2), order2.conditional_entropy(base=2)
    assert (round(h1, 3), round(h2, 3), round(h1 - h2, 3), len(order2.codes)) == (
        FIGURES["H(X1|X0) bits"], FIGURES["H(X2|X0 X1) bits"], FIGURES["I(X0;X2|X1) bits"],
        FIGURES["order 2 contexts"])
    assert order1.alphabet == tuple(sorted(set(works)))


def test_shakespeare_surplus_of_context_encoders(works):
    """Order-2 character source: keeping both context characters gives the maximal surplus,
    which the last character alone already attains; the older character gives less."""
    src = NgramSource.from_text(works, 2)
    both, last, first = src.suffix_encoder(2), src.suffix_encoder(1), src.position_encoder([0])
    s2 = {name: src.surplus(2, e, base=2) for name, e in [("both", both), ("last", last),
                                                          ("first", first)]}
    assert round(s2["both"].value, 3) == FIGURES["I(X0;X2|X1) bits"]   # ≈ I(X0; X2 | X1)
    assert s2["last"].value == pytest.approx(s2["both"].value, abs=1e-9)
    assert 0 < s2["first"].value < s2["both"].value
    assert s2["both"].upper_bound == pytest.approx(FIGURES["H(X1|X0) bits"], abs=5e-4)
    s3 = src.surplus(3, both, base=2)                        # an order-2 source saturates at K = 2
    assert s3.value == pytest.approx(s2["both"].value, abs=1e-9)
    assert s3.upper_bound <= 2 * math.log2(len(src.alphabet))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=40), st.integers(0, 3))
def test_context_counts_are_the_counts_of_every_window(tokens, order):
    """The one n-gram counter against Counters of (r + 1)-gram tuples (the oracle)."""
    grams = Counter(tuple(tokens[i:i + order + 1]) for i in range(len(tokens) - order))
    expected: dict = {}
    for gram, count in grams.items():
        expected.setdefault(gram[:-1], np.zeros(4))[gram[-1]] += count
    found = context_counts(tokens, order, 4)
    assert found.keys() == expected.keys()
    assert all(found[c].tolist() == expected[c].tolist() for c in expected)


def test_contexts_too_many_to_index_are_refused_not_wrapped():
    with pytest.raises(SpecError, match="too large to index contexts"):
        context_counts([0, 1, 2, 3, 4, 5], 4, 50_257)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=4, max_size=60), st.integers(0, 2))
def test_dense_and_sparse_counting_agree(monkeypatch_module, tokens, order):
    """The counter's two paths (a dense table for few possible grams, sorting otherwise)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    dense_codes, dense = count_ngrams(tokens, order, 6)
    with monkeypatch_module.context() as patch:
        patch.setattr(ngram, "DENSE_GRAMS", 0)
        sparse_codes, sparse = count_ngrams(tokens, order, 6)
    assert dense_codes.tolist() == sparse_codes.tolist()
    assert (dense != sparse).nnz == 0 and dense.has_sorted_indices and sparse.has_sorted_indices


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch
