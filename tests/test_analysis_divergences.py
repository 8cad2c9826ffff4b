"""Divergences on finite states: closed values, infinities, exactness and the DPI (Thm 2.4)."""
from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as scipy_entropy

from catlm.analysis.divergences import DIVERGENCES, divergence
from catlm.errors import SpecError


def random_kernel(rng, n, m, sparsity=0.3):
    K = rng.dirichlet(np.full(m, 0.7), size=n)
    K[rng.random((n, m)) < sparsity] = 0.0
    K[np.arange(n), rng.integers(0, m, n)] += 0.1
    return K / K.sum(axis=1, keepdims=True)


def test_kl_matches_scipy_and_is_infinite_off_support():
    p, q = np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.6, 0.3])
    assert divergence(p, q, "kl") == pytest.approx(scipy_entropy(p, q), rel=1e-14)
    assert divergence(p, q, "kl", base=2) == pytest.approx(scipy_entropy(p, q, base=2), rel=1e-14)
    assert divergence([0.5, 0.5], [1.0, 0.0], "kl") == math.inf
    assert divergence([1.0, 0.0], [0.5, 0.5], "kl") == pytest.approx(math.log(2))


def test_tv_and_chi2_are_exact_on_fractions():
    p = np.array([F(1, 3), F(2, 3), F(0)], dtype=object)
    q = np.array([F(1, 2), F(1, 4), F(1, 4)], dtype=object)
    assert divergence(p, q, "tv") == F(5, 12)          # ½(1/6 + 5/12 + 1/4)
    assert divergence(p, q, "chi2") == F(2, 9) + F(16, 9) - 1        # Σ p²/q − 1 = 1
    assert divergence(q, p, "chi2") == math.inf


def test_renyi_limits_and_order_two():
    p, q = np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.6, 0.3])
    assert divergence(p, q, "renyi", alpha=1 + 1e-7) == pytest.approx(divergence(p, q, "kl"), rel=1e-5)
    assert divergence(p, q, "renyi", alpha=2) == pytest.approx(math.log(np.sum(p ** 2 / q)))
    assert divergence(p, q, "renyi", alpha=0.5) == pytest.approx(-2 * math.log(np.sum(np.sqrt(p * q))))


def test_hellinger_normalisation_and_js_against_scipy():
    p, q = np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.6, 0.3])
    assert divergence(p, q, "hellinger") == pytest.approx(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2))
    assert divergence(p, q, "js") == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-12)
    assert divergence([1, 0], [0, 1], "js") == pytest.approx(math.log(2))
    assert divergence([1, 0], [0, 1], "hellinger") == pytest.approx(1.0)


def test_unknown_name_and_bad_options_are_catlm_errors():
    with pytest.raises(SpecError, match="choose from chi2, hellinger, js, kl, renyi, tv"):
        divergence([1.0], [1.0], "bregman")
    with pytest.raises(SpecError, match="not logarithmic"):
        divergence([1.0], [1.0], "tv", base=2)
    with pytest.raises(SpecError, match="needs an order alpha"):
        divergence([1.0], [1.0], "renyi")
    with pytest.raises(ValueError):        # SpecError is also a ValueError
        divergence([1.0, 0.0], [1.0], "kl")


def test_option_messages_and_the_base():
    """Each refusal names the divergence and says what to do; a base in (0, 1) is a valid base."""
    with pytest.raises(SpecError, match="divergence 'tv' takes no alpha") as err:
        divergence([0.5, 0.5], [0.5, 0.5], "tv", alpha=2.0)
    with pytest.raises(SpecError, match="divergence 'chi2' is not logarithmic, so base=2") as err:
        divergence([0.5, 0.5], [0.5, 0.5], "chi2", base=2)
    assert err.value.hint == "base applies to kl, renyi and js"
    for bad in (0, -1.0, 1):
        with pytest.raises(SpecError, match=f"base must be positive and not 1, got {bad}"):
            divergence([0.5, 0.5], [0.25, 0.75], "kl", base=bad)
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    nats = divergence(p, q, "renyi", alpha=2.0)
    assert nats == pytest.approx(math.log(0.5 ** 2 / 0.25 + 0.5 ** 2 / 0.75))       # order 2 by hand
    assert divergence(p, q, "renyi", alpha=2.0, base=2) == pytest.approx(nats / math.log(2))
    assert divergence(p, q, "kl", base=0.5) == pytest.approx(divergence(p, q, "kl") / math.log(0.5))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), name=st.sampled_from(sorted(DIVERGENCES)),
       alpha=st.sampled_from([0.5, 2.0, 3.0]))
def test_data_processing_inequality(seed, name, alpha):
    rng = np.random.default_rng(seed)
    p, q = random_kernel(rng, 2, 5, sparsity=0.0)
    K = random_kernel(rng, 5, 4)
    options = {"alpha": alpha} if name == "renyi" else {}
    assert divergence(p @ K, q @ K, name, **options) <= divergence(p, q, name, **options) + 1e-12
