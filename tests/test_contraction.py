"""The one einsum planner: orders from the diagram's structure, bounded search, cost, budget, execution."""
from __future__ import annotations

from fractions import Fraction as Q

import numpy as np
import opt_einsum as oe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catlm.backends import contraction as cn
from catlm.backends import finstoch as fs
from catlm.backends.functor import compile
from catlm.core.check import typecheck
from catlm.errors import BudgetError

from large_shapes import A, B, EMIT, H, O, S, TRANS, hmm, naive_bayes  # noqa: E402,F401

HMM = {"s": np.array([Q(1, 2), Q(1, 3), Q(1, 6)], dtype=object),
       "t": np.array([[Q(1, 2), Q(1, 4), Q(1, 4)], [0, Q(1, 3), Q(2, 3)], [Q(3, 5), Q(1, 5), Q(1, 5)]], dtype=object),
       "e": np.array([[Q(9, 10), Q(1, 10)], [Q(1, 2), Q(1, 2)], [Q(1, 5), Q(4, 5)]], dtype=object)}


def forward(steps: int, kept: list[int]) -> np.ndarray:
    """The independent oracle: the forward algorithm, one observation axis per kept step."""
    state = HMM["s"]  # (kept observations so far..., h)
    for k in range(steps):
        if k in kept:
            state = np.einsum("...h,ho->...oh", state, HMM["e"])
        state = np.tensordot(state, HMM["t"], axes=1)
    return state.sum(axis=-1)


@pytest.fixture
def no_unbounded_search(monkeypatch):
    """opt_einsum's exhaustive searches fail loudly when asked about more than a few operands."""
    def bounded(name, search):
        def guarded(inputs, *args, **kw):
            if len(inputs) > cn.OPTIMAL_MAX:
                raise AssertionError(f"unbounded '{name}' search over {len(inputs)} operands")
            return search(inputs, *args, **kw)
        return guarded
    for name in ("dp", "optimal", "branch-all", "branch-2"):
        monkeypatch.setitem(oe.paths._PATH_OPTIONS, name, bounded(name, oe.paths._PATH_OPTIONS[name]))
    monkeypatch.setitem(cn.STRATEGIES, "optimal", cn._opt_einsum(bounded("optimal", oe.paths.optimal)))


# --- the shapes of issue 12: HMMs and naive Bayes ------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kept", [{15}, {0, 15}, set(range(16)), {3, 8}])
def test_every_hmm_marginal_over_16_steps_is_exact_without_an_exhaustive_search(kept, no_unbounded_search):
    fs.clear_caches()
    out = compile(typecheck(hmm(16, kept)), params=HMM, exact=True)
    expected = forward(16, sorted(kept))
    assert out.shape == expected.shape and (out == expected).all()


def test_naive_bayes_over_16_features_without_an_exhaustive_search(no_unbounded_search):
    f = np.array([[Q(1, 4), Q(3, 4)], [Q(1, 2), Q(1, 2)], [1, 0]], dtype=object)
    s = np.array([Q(1, 6), Q(1, 3), Q(1, 2)], dtype=object)
    out = compile(typecheck(naive_bayes(16)), params={"s": s, "f": f}, exact=True)
    assert out.shape == (2,) * 16
    for index in [(0,) * 16, (1,) * 16, (0, 1) * 8]:
        ones = sum(index)
        assert out[index] == sum(s[a] * f[a, 1] ** ones * f[a, 0] ** (16 - ones) for a in range(3))


def test_naive_bayes_over_64_features_is_refused_by_the_budget_not_searched(no_unbounded_search):
    with pytest.raises(BudgetError, match="would need"):
        compile(typecheck(naive_bayes(64)), seed=0)


def test_a_long_hmm_contracts_along_its_frontier():
    c = fs.plan_of(typecheck(hmm(60, {0, 59})).wiring).contraction
    assert len(c.inputs) == 121
    frontier = cn.cost(c, cn.sequential(c), "sequential")  # the schedule's topological order
    assert frontier.largest <= 2 * 2 * 3  # the two kept observations and the hidden state, never more
    assert cn.plan(c).largest <= frontier.largest


def test_naive_bayes_plan_is_no_larger_than_the_joint_with_its_latent_axis():
    path = cn.plan(fs.plan_of(typecheck(naive_bayes(12)).wiring).contraction)
    assert path.largest <= 3 * 2 ** 12


# --- the planner on its own ----------------------------------------------------------------------

def test_cost_counts_kept_indices_and_flops_by_hand():
    c = cn.Contraction(((0,), (0, 1), (1, 2)), (2,), (2, 3, 5))
    path = cn.cost(c, [(1, 2), (0, 3)], "by hand")  # matrix-matrix first: (0, 2), then the vector
    assert [s.keep for s in path.steps] == [(0, 2), (2,)]
    assert path.flops == 2 * 3 * 5 + 2 * 5 and path.largest == 10


def test_opt_einsum_linear_paths_become_ssa_pairs():
    assert cn._ssa([(0, 2), (0, 1)], 3) == [(0, 2), (1, 3)]
    assert cn._ssa([(1,), (0, 1)], 2) == [(0, 1)]


def test_the_bounded_search_runs_only_where_the_cheap_orders_leave_room(monkeypatch):
    searched = []
    monkeypatch.setitem(cn.STRATEGIES, "random-greedy", lambda c: searched.append(c) or cn.sequential(c))
    chain = cn.Contraction(((0,),) + tuple((i, i + 1) for i in range(20)), (20,), (3,) * 21)
    cn.plan(chain)
    assert searched == []  # vector-matrix products: nothing is larger than a matrix
    star = cn.Contraction(tuple((0, i) for i in range(1, 9)), tuple(range(1, 9)), (2,) * 9)
    cn.plan(star)
    assert searched == []  # naive Bayes: the largest tensor is the output itself
    monkeypatch.setattr(cn, "_floor", lambda c: 1)  # pretend a smaller plan might exist
    cn.clear_cache()
    cn.plan(star)
    assert searched == [star]


def test_plans_are_cached_per_contraction():
    cn.clear_cache()
    c = cn.Contraction(((0,), (0, 1)), (1,), (2, 2))
    assert cn.plan(c) is cn.plan(cn.Contraction(((0,), (0, 1)), (1,), (2, 2)))
    assert (cn.CACHE.misses, cn.CACHE.hits) == (1, 1)


def test_a_step_past_52_letters_is_a_located_backend_error():
    c = cn.Contraction((tuple(range(53)),), (), (1,) * 53)
    with pytest.raises(Exception, match="52 letters"):
        cn.contract(c, cn.plan(c), [np.ones((1,) * 53)], np.einsum)


def test_the_budget_formula_is_the_largest_tensor_plus_the_placed_output():
    path = cn.Path((), largest=100, flops=0, strategy="none")
    assert cn.budget_bytes(path, placed=20, entry_bytes=8) == 960
    with pytest.raises(BudgetError, match="would need 960 B") as err:
        cn.check_budget(path, 20, 8, 959, "evaluating `x`", hint="raise budget={need}")
    assert err.value.hint == "raise budget=960"


@st.composite
def contractions(draw):
    """Random einsums over up to 8 operands and 6 indices of sizes 1 to 3 (diagonals included)."""
    sizes = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=6)))
    index = st.integers(0, len(sizes) - 1)
    inputs = tuple(tuple(draw(st.lists(index, max_size=3))) for _ in range(draw(st.integers(1, 8))))
    used = sorted({i for term in inputs for i in term})
    output = tuple(draw(st.lists(st.sampled_from(used), unique=True))) if used else ()
    return cn.Contraction(inputs, output, sizes)


@settings(max_examples=60, deadline=None)
@given(contractions(), st.integers(0, 2 ** 16))
def test_every_plan_computes_numpys_einsum(c, seed):
    rng = np.random.default_rng(seed)
    tensors = [rng.random(tuple(c.sizes[i] for i in term)) for term in c.inputs]
    letter = lambda term: "".join(oe.get_symbol(i) for i in term)  # noqa: E731
    expected = np.einsum(",".join(map(letter, c.inputs)) + "->" + letter(c.output), *tensors)
    for name in cn._candidates(len(c.inputs)) + (("random-greedy",) if len(c.inputs) > cn.OPTIMAL_MAX else ()):
        path = cn.cost(c, cn.STRATEGIES[name](c), name)
        np.testing.assert_allclose(cn.contract(c, path, tensors, np.einsum), expected, rtol=1e-10)


def test_numpy_and_torch_plan_with_the_one_planner_and_refuse_at_the_same_budget():
    """The exact marginal of the same diagram: the same plan, the same predicted bytes (float64)."""
    torch = pytest.importorskip("torch", reason="the torch backend needs torch (pip install catlm[torch])")
    from catlm.backends.torch import compile_torch
    d = typecheck(hmm(12, {0, 11}))
    need = cn.budget_bytes(cn.plan(fs.plan_of(d.wiring).contraction), 0, 8)
    planned = []
    original = cn.plan
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cn, "plan", lambda c: planned.append(c) or original(c))
        with pytest.raises(BudgetError, match="would need"):
            compile(d, params={k: v.astype(float) for k, v in HMM.items()}, budget=need - 1)
        module = compile_torch(d, params={k: v.astype(float) for k, v in HMM.items()}, dtype=torch.float64,
                               budget=need - 1)
        with pytest.raises(BudgetError, match="would need"):
            module.probs()
        out = module.probs(budget=need)
    assert len(planned) == 3  # numpy once, torch twice (refused, then run)
    np.testing.assert_allclose(out.detach().numpy(), forward(12, [0, 11]).astype(float), rtol=1e-12)
