"""The FinStoch backend: the contraction plan, exact and float entries, verification, budget, cache."""
from __future__ import annotations

import json
import sys
import types
from fractions import Fraction as Q

import numpy as np
import pytest
import sympy

import catlm
from catlm.backends import contraction as cn
from catlm.backends import finstoch as fs
from catlm.backends.functor import compile, finstoch
from catlm.backends.params import QUANTUM, draw
from catlm.backends.symbolic import FLOAT, FRACTION
from catlm.core.check import typecheck
from catlm.core.diagram import Box, Diagram, Literal, copy, delete, identity, swap
from catlm.core.types import Finite, Real, Ty
from catlm.errors import BackendError, BudgetError, KernelError, Span

COIN = Ty(Finite("Coin", ("heads", "tails")))
DIE = Ty(Finite.range("Die", 3))
T = typecheck


def lit(name, dom, cod, *entries, deterministic=False, span=None):
    shape = dom.shape + cod.shape
    return Box(name, dom, cod, deterministic, Literal(shape, tuple(entries)), span)


FLIP = lit("flip", Ty(), COIN, Q(1, 3), Q(2, 3))
NOISY = lit("noisy", COIN, COIN, Q(9, 10), Q(1, 10), Q(1, 5), Q(4, 5))


# --- the plan ---------------------------------------------------------------------------------------

def test_copy_is_index_reuse_and_delete_is_summation():
    plan = fs.plan_of(T(copy(COIN) >> (Box("f", COIN, DIE) @ delete(COIN))).wiring)
    assert plan.equation == "ab->ab" and plan.axes == "ab"


def test_copy_straight_to_the_output_is_a_diagonal_without_a_copy_tensor():
    out = compile(T(FLIP >> copy(COIN, 3)), exact=True)
    assert out.shape == (2, 2, 2)
    assert out[0, 0, 0] == Q(1, 3) and out[1, 1, 1] == Q(2, 3)
    assert sum(out.ravel()) == 1 and sum(x != 0 for x in out.ravel()) == 2


def test_identity_and_copy_of_an_input_are_placed_by_index_arithmetic():
    ident = compile(T(identity(COIN @ DIE)))
    np.testing.assert_array_equal(ident.reshape(6, 6), np.eye(6))
    cp = compile(T(copy(DIE)))
    assert cp.shape == (3, 3, 3)
    assert all(cp[x, y, z] == (x == y == z) for x in range(3) for y in range(3) for z in range(3))


def test_swap_permutes_and_the_empty_diagram_is_one():
    out = compile(T(swap(COIN, DIE)))
    assert out.shape == (2, 3, 3, 2)
    assert out[1, 2, 2, 1] == 1 and out[1, 2, 1, 2 - 1] == 0 and out.sum() == 6
    assert compile(T(identity(Ty())), exact=True) == 1


def test_a_state_and_a_scalar_have_the_documented_shapes():
    assert compile(T(Diagram.of(FLIP)), exact=True).shape == (2,)
    assert compile(T(FLIP >> delete(COIN)), exact=True) == 1


def test_two_inputs_of_a_box_from_one_copy_take_the_diagonal():
    both = lit("both", COIN @ COIN, DIE, *([Q(1, 3)] * 3 + [1, 0, 0] + [0, 1, 0] + [0, 0, 1]))
    out = compile(T(copy(COIN) >> both), exact=True)
    assert out.tolist() == [[Q(1, 3)] * 3, [0, 0, 1]]


# --- entries: exact, float, symbolic, params, seeds ----------------------------------------------------------

def test_literals_are_exact_in_exact_mode_and_float_otherwise():
    d = T(FLIP >> NOISY)
    assert compile(d, exact=True).tolist() == [Q(3, 10) + Q(2, 15), Q(1, 30) + Q(8, 15)]
    np.testing.assert_allclose(compile(d), [3 / 10 + 2 / 15, 1 / 30 + 8 / 15], atol=1e-15)


def test_symbolic_params_stay_symbolic_in_sympy_and_need_subs_in_numpy():
    p = sympy.Symbol("p")
    flip = Box("flip", Ty(), COIN, body=Literal((2,), (p, 1 - p)), span=Span("c.cat", 3, 1, 3, 20))
    out = compile(T(flip >> NOISY), backend="sympy")
    assert sympy.simplify(out[0] - (p * Q(9, 10) + (1 - p) * Q(1, 5))) == 0
    assert compile(T(flip >> NOISY), subs={"p": "1/2"}, exact=True).tolist() == [Q(11, 20), Q(9, 20)]
    with pytest.raises(BackendError, match=r"param p") as err:
        compile(T(Diagram.of(flip)))
    assert "subs" in err.value.hint and err.value.span.line == 3


def test_integer_params_are_not_truncated_and_matrix_shapes_are_accepted():
    f = Box("f", COIN, COIN)
    out = compile(T(Diagram.of(f)), params={"f": np.array([[1, 0], [0, 1]])})
    assert out.dtype == np.float64
    g = Box("g", COIN @ COIN, COIN)
    flat = np.full((4, 2), 0.5)
    assert compile(T(Diagram.of(g)), params={"g": flat}).shape == (2, 2, 2)


def test_floats_given_to_exact_mode_are_read_as_their_decimals():
    f = Box("f", COIN, COIN)
    out = compile(T(Diagram.of(f)), params={"f": np.array([[0.1, 0.9], [0.7, 0.3]])}, exact=True)
    assert out.tolist() == [[Q(1, 10), Q(9, 10)], [Q(7, 10), Q(3, 10)]]


def test_drawn_kernels_are_reproducible_markov_and_one_hot_when_deterministic():
    f, e = Box("f", COIN @ DIE, DIE), Box("e", DIE, COIN, deterministic=True)
    a, b = draw(f, 7, FLOAT), draw(f, 7, FLOAT)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, draw(f, 8, FLOAT)) and not np.array_equal(a, draw(Box("g", f.dom, f.cod), 7, FLOAT))
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, atol=1e-12)
    exact = draw(f, 7, FRACTION)
    assert all(sum(row) == 1 for row in exact.reshape(6, 3))
    assert np.abs(exact.astype(float) - a).max() <= 1 / QUANTUM
    assert sorted(draw(e, 3, FLOAT).sum(axis=0).tolist()) and set(draw(e, 3, FLOAT).ravel()) <= {0.0, 1.0}


def test_a_parameter_kernel_without_params_or_seed_says_how_to_give_it():
    with pytest.raises(BackendError, match="has no entries") as err:
        compile(T(Diagram.of(Box("f", COIN, COIN))))
    assert "--params" in err.value.hint and "seed" in err.value.hint


# --- verification -----------------------------------------------------------------------------------------

SPAN = Span("k.cat", 4, 1, 4, 30)


@pytest.mark.parametrize("entries, message", [
    ((Q(1, 2), Q(1, 2), Q(7, 10), Q(1, 5)), r"row \(tails\) sums to 9/10, not 1"),
    ((Q(3, 2), Q(-1, 2), 1, 0), r"row \(heads\) has the negative entry -1/2"),
])
def test_exact_kernel_errors_name_the_row_by_its_elements(entries, message):
    f = lit("f", COIN, COIN, *entries, span=SPAN)
    with pytest.raises(KernelError, match=message) as err:
        compile(T(Diagram.of(f)), exact=True)
    assert "kernel 'f'" in str(err.value) and err.value.span == SPAN


@pytest.mark.parametrize("bad, message", [
    (np.array([[0.5, 0.5], [0.6, 0.3]]), r"row \(tails\) sums to 0.9, not 1"),
    (np.array([[np.nan, 1.0], [0.5, 0.5]]), r"row \(heads\) has the entry nan"),
    (np.array([[1.2, -0.2], [0.5, 0.5]]), r"row \(heads\) has the negative entry -0.2"),
    (np.ones((3, 2)) / 2, r"has shape \(3, 2\) but f : Coin -> Coin needs \(2, 2\)"),
    (np.array([[1j, 0], [0, 1]]), r"dtype complex128"),
])
def test_float_kernel_errors(bad, message):
    with pytest.raises(KernelError, match=message):
        compile(T(Diagram.of(Box("f", COIN, COIN))), params={"f": bad})


def test_rows_of_a_product_domain_are_named_by_both_elements():
    bad = np.full((2, 3, 2), 0.5)
    bad[1, 2] = [0.5, 0.25]
    with pytest.raises(KernelError, match=r"row \(tails, 2\) sums to 0.75"):
        compile(T(Diagram.of(Box("f", COIN @ DIE, COIN))), params={"f": bad})


def test_a_deterministic_promise_is_verified():
    with pytest.raises(KernelError, match=r"declared deterministic but row \(tails\) is not one-hot"):
        compile(T(Diagram.of(lit("e", COIN, COIN, 1, 0, Q(1, 2), Q(1, 2), deterministic=True))))


def test_non_finite_objects_and_modules_are_sent_to_torch():
    H = Ty(Real("H", 4))
    with pytest.raises(BackendError, match='backend="torch"'):
        compile(T(Diagram.of(Box("f", COIN, H))), seed=0)


def test_only_typed_diagrams_and_known_backends_are_accepted():
    with pytest.raises(BackendError, match="catlm.typecheck"):
        compile(Diagram.of(FLIP))
    with pytest.raises(BackendError, match="unknown backend 'jax'; choose from numpy, sympy, torch"):
        compile(T(Diagram.of(FLIP)), backend="jax")
    assert catlm.compile is compile


def test_torch_goes_through_the_same_table_lazily(monkeypatch):
    fake = types.ModuleType("catlm.backends.torch")
    fake.compile_torch = lambda diagram, **kw: ("torch", diagram, kw)
    monkeypatch.setitem(sys.modules, "catlm.backends.torch", fake)
    d = T(Diagram.of(FLIP))
    name, diagram, kw = compile(d, backend="torch", seed=3, subs={"p": 0.5}, budget=1024, device="cpu")
    assert (name, diagram) == ("torch", d)
    assert kw == {"params": None, "seed": 3, "subs": {"p": 0.5}, "budget": 1024, "atol": 1e-9,
                  "device": "cpu"}  # every FinStoch option but exact carries over to torch


# --- budget and cache -------------------------------------------------------------------------------------

def test_the_budget_refuses_before_contracting_and_says_how_to_raise_it():
    big = Ty(Finite.range("N", 64))
    d = T(copy(big) >> (Box("f", big, big) @ Box("g", big, big)))
    with pytest.raises(BudgetError, match=r"would need 2\.0 MiB") as err:
        compile(d, seed=0, budget=1024)
    assert "budget=" in err.value.hint and "--budget" in err.value.hint
    assert compile(d, seed=0, budget=2 * 2 ** 20).shape == (64, 64, 64)


def test_a_second_compile_reuses_the_plan_and_the_contraction_order():
    fs.clear_caches()
    d = T(FLIP >> copy(COIN) >> (NOISY @ NOISY))
    compile(d)
    assert (fs.CACHE.plan_misses, cn.CACHE.misses) == (1, 1)
    compile(d, exact=True)
    compile(d)
    assert (fs.CACHE.plan_hits, cn.CACHE.hits, fs.CACHE.plan_misses, cn.CACHE.misses) == (2, 2, 1, 1)
    other = T(FLIP >> copy(COIN) >> (NOISY @ NOISY))  # a new diagram, the same structure
    compile(other)
    assert (fs.CACHE.plan_misses, cn.CACHE.misses, cn.CACHE.hits) == (2, 1, 3)


def test_long_chains_pick_a_cheap_path():
    n = Ty(Finite.range("N", 64))
    chain = Diagram.of(Box("s", Ty(), n))
    for i in range(80):
        chain = chain >> Box(f"k{i}", n, n)
    fs.clear_caches()
    path = cn.plan(fs.plan_of(T(chain).wiring).contraction)
    assert path.flops <= 2 * 80 * 64 * 64  # vector-matrix products, never matrix-matrix
    assert path.largest == 64
    out = compile(T(chain), seed=1)
    assert out.shape == (64,) and abs(out.sum() - 1) < 1e-9


def test_a_functor_verifies_each_generator_once():
    calls = []
    F = finstoch({"f": np.eye(2)})
    import catlm.backends.functor as functor_module
    original = functor_module.box_tensor
    functor_module.box_tensor = lambda box, source: calls.append(box.name) or original(box, source)
    try:
        d = T(Box("f", COIN, COIN) >> Box("f", COIN, COIN))
        F(d), F(d)
    finally:
        functor_module.box_tensor = original
    assert calls == ["f"]


# --- marginals and sampling -------------------------------------------------------------------------

ROLL = lit("roll", COIN, DIE, Q(1, 2), Q(1, 4), Q(1, 4), 0, 0, 1)
JOINT = FLIP >> copy(COIN) >> (identity(COIN) @ ROLL)


@pytest.mark.parametrize("mask, expected", [
    ([1, 0], [Q(1, 3), Q(2, 3)]),
    ([0, 1], [Q(1, 6), Q(1, 12), Q(1, 4) * Q(1, 3) + Q(2, 3)]),
])
def test_marginals_of_a_joint_commute_with_the_functor(mask, expected):
    F = finstoch(exact=True)
    summed = F(T(JOINT)).marginal(mask)
    assert list(summed.array) == expected
    assert F(T(catlm.marginal(JOINT, mask))) == summed == F(T(JOINT)) % mask
    assert F(T(catlm.marginal(JOINT, [1, 1]))) == F(T(JOINT))


def test_a_marginal_mask_must_cover_the_outputs():
    with pytest.raises(catlm.WiringError, match="one 0 or 1 per output"):
        catlm.marginal(JOINT, [1])
    with pytest.raises(BackendError, match="one 0 or 1 per codomain factor"):
        finstoch(exact=True)(T(JOINT)).marginal([1, 2])


def test_exact_sampling_draws_each_outcome_at_its_rate():
    joint = finstoch(exact=True)(T(JOINT))
    draws = joint.sample(6000, seed=3)
    for outcome, p in [((0, 0), Q(1, 6)), ((0, 1), Q(1, 12)), ((0, 2), Q(1, 12)), ((1, 2), Q(2, 3))]:
        sd = (6000 * p * (1 - p)) ** 0.5
        assert abs(draws.count(outcome) - 6000 * p) < 4 * sd
    assert not {(1, 0), (1, 1)} & set(draws)  # probability 0: never drawn
    assert joint.sample(50, seed=3) == joint.sample(50, seed=3)
    assert set(finstoch(exact=True)(T(Diagram.of(ROLL))).sample(20, given=(1,), seed=0)) == {(2,)}


def test_cli_samples_a_finite_kernel_of_a_spec_by_element_name(tmp_path, capsys):
    from catlm.cli import main
    path = tmp_path / "dice.cat"
    path.write_text("object Coin = {heads, tails}\nobject Die = fin 3\nparam p\n"
                    "kernel flip : I -> Coin = [p, 1 - p]\n"
                    "kernel roll : Coin -> Die = [[1/2, 1/4, 1/4], [0, 0, 1]]\n"
                    "kernel joint = flip >> copy >> (id @ roll)\n")
    assert main(["sample", str(path), "-k", "joint", "-n", "200", "--subs", "p=0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == [["tails", "2"]] * 200  # p = 0: one outcome
    assert main(["sample", str(path), "-k", "roll", "--given", "heads", "-n", "300", "--seed", "1"]) == 0
    rows = capsys.readouterr().out.split("\n")[:-1]
    assert len(rows) == 300 and {"0", "1", "2"} == set(rows) and 100 < rows.count("0") < 200
    for argv, message in [(["-k", "roll"], "takes 1 input elements"), (["-k", "roll", "--given", "edge"],
                          "'edge' is not an element of Coin"), (["-k", "joint"], "depends on the param p"),
                          (["-k", "nope"], "has no kernel 'nope'"), (["-k", "flip", "-n", "0"], "must be positive")]:
        assert main(["sample", str(path), *argv]) == 1
        assert message in capsys.readouterr().err
