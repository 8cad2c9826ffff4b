"""Laws on FinStoch: the Markov axioms, determinism, almost-sure equality, inference, the CLI."""
from __future__ import annotations

import json
from fractions import Fraction as Q

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catlm.backends.functor import finstoch
from catlm.cli import main
from catlm.core.check import typecheck
from catlm.core.diagram import Box, Literal, copy, identity
from catlm.core.markov import axioms_at, causality, determinism, kernel_axioms, swap_naturality
from catlm.core.types import Finite, Ty
from catlm.inference import bayesian_inverse, condition, marginal
from catlm.laws import Scope, almost_surely, decide, decide_equation
from strategies import object_pools, rational_kernels

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def two_kernels(draw, deterministic: bool = False):
    X, Y = draw(object_pools(2, 2))
    f = draw(rational_kernels((X.size,), (Y.size,), deterministic))
    g = draw(rational_kernels((Y.size,), (X.size,), deterministic))
    return Ty(X), Ty(Y), f, g


@SETTINGS
@given(two_kernels())
def test_every_markov_axiom_holds_exactly_on_random_kernels(case):
    X, Y, f, g = case
    F = finstoch({"f": f, "g": g}, exact=True)
    boxes = (Box("f", X, Y), Box("g", Y, X))
    eqs = axioms_at(X, (Y,)) + kernel_axioms(boxes)
    assert [e.name for e in eqs if not decide_equation(e, F).holds] == []


@SETTINGS
@given(two_kernels(deterministic=True))
def test_copy_is_natural_on_random_one_hot_kernels(case):
    X, Y, f, g = case
    F = finstoch({"f": f}, exact=True)
    assert decide_equation(determinism(Box("f", X, Y)), F).holds


@SETTINGS
@given(two_kernels())
def test_copy_is_natural_exactly_when_the_rows_are_one_hot(case):
    X, Y, f, _ = case
    one_hot = all(sum(x != 0 for x in row) == 1 for row in f)
    result = decide_equation(determinism(Box("f", X, Y)), finstoch({"f": f}, exact=True))
    assert result.holds == one_hot
    if not one_hot:
        assert result.detail.startswith("at (")


def test_a_failing_equation_names_the_first_differing_entry():
    C = Ty(Finite("Coin", ("heads", "tails")))
    f = Box("f", C, C, body=Literal((2, 2), (1, 0, Q(1, 4), Q(3, 4))))
    result = decide_equation(determinism(f), finstoch(exact=True))
    assert result.detail == "at (tails) -> (heads, heads): 1/4 vs 1/16"
    broken = causality(f)
    wrong = Box("f", C, C)  # a kernel whose rows do not sum to one is refused before any law
    assert decide_equation(broken, finstoch(exact=True)).holds
    with pytest.raises(Exception, match="sums to"):
        decide_equation(causality(wrong), finstoch({"f": np.array([[1, 1], [0, 1]])}))


def test_swap_naturality_is_a_real_check():
    X, Y = Ty(Finite.range("X", 2)), Ty(Finite.range("Y", 3))
    f = np.array([[0.2, 0.3, 0.5], [1, 0, 0]])
    eq = swap_naturality(Box("f", X, Y), Box("g", Y, X))
    F = finstoch({"f": f, "g": np.array([[1, 0], [0, 1], [0.5, 0.5]])})
    assert decide_equation(eq, F).holds
    flipped = type(eq)("flipped", eq.lhs, eq.rhs >> (identity(X) @ identity(Y)))
    assert decide_equation(flipped, F).holds


# --- almost-sure equality --------------------------------------------------------------------------------

X3, Y2 = Ty(Finite.range("X", 3)), Ty(Finite.range("Y", 2))


def _as(p, f, g):
    state, F = Box("p", Ty(), X3), finstoch({"p": p, "f": f, "g": g}, exact=True)
    return decide_equation(almost_surely(Box("f", X3, Y2) >> identity(Y2), Box("g", X3, Y2) >> identity(Y2),
                                         state >> identity(X3)), F)


def test_kernels_differing_off_the_support_are_equal_almost_surely():
    f = np.array([[Q(1, 2), Q(1, 2)], [1, 0], [0, 1]], dtype=object)
    g = np.array([[Q(1, 2), Q(1, 2)], [1, 0], [1, 0]], dtype=object)
    assert _as(np.array([Q(1, 3), Q(2, 3), 0], dtype=object), f, g).holds
    result = _as(np.array([Q(1, 3), Q(1, 3), Q(1, 3)], dtype=object), f, g)
    assert not result.holds and result.detail == "at () -> (2, 0): 0 vs 1/3"


# --- conditionals and Bayesian inversion ---------------------------------------------------------------------

@SETTINGS
@given(st.data())
def test_condition_recovers_the_joint_by_its_defining_equation(data):
    X, Y = data.draw(object_pools(2, 2))
    joint = data.draw(rational_kernels((), (X.size, Y.size)))
    c = condition(joint, 1)
    p = marginal(joint, 1)
    F = finstoch({"p": p, "c": c}, exact=True)
    rebuilt = F(typecheck(Box("p", Ty(), Ty(X)) >> copy(Ty(X)) >> (identity(Ty(X)) @ Box("c", Ty(X), Ty(Y)))))
    assert rebuilt.array.tolist() == joint.tolist()
    assert all(sum(row) == 1 for row in c)


def test_zero_marginal_rows_are_uniform():
    joint = np.array([[Q(1, 2), Q(1, 2), 0], [0, 0, 0]], dtype=object)
    assert condition(joint, 1)[1].tolist() == [Q(1, 3)] * 3


@SETTINGS
@given(st.data())
def test_bayesian_inverse_satisfies_its_defining_equation(data):
    X, Y = data.draw(object_pools(2, 2))
    f = data.draw(rational_kernels((X.size,), (Y.size,)))
    q = data.draw(rational_kernels((), (X.size,)))
    g = bayesian_inverse(f, q)
    X_, Y_ = Ty(X), Ty(Y)
    F = finstoch({"q": q, "f": f, "g": g}, exact=True)
    forward = Box("q", Ty(), X_) >> copy(X_) >> (identity(X_) @ Box("f", X_, Y_))
    backward = Box("q", Ty(), X_) >> Box("f", X_, Y_) >> copy(Y_) >> (Box("g", Y_, X_) @ identity(Y_))
    assert F(typecheck(forward)) == F(typecheck(backward))
    assert all(sum(row) == 1 for row in g)


# --- presentations and the CLI --------------------------------------------------------------------------------

COIN_CAT = """\
object Coin = {heads, tails}
object Die  = fin 6
param p
kernel flip  : I -> Coin = [p, 1 - p]
kernel noisy : Coin -> Coin = [[9/10, 1/10], [1/5, 4/5]]
kernel joint = flip >> copy >> (id @ noisy)
law causal    : noisy >> del == del
law not_det   : noisy >> copy != copy >> (noisy @ noisy)
law wrong     : noisy == id
law as_true   : noisy == id a.s. (flip >> del >> [1, 0] )
check deterministic copy[Coin]
check markov Coin
"""


@pytest.fixture
def coin(tmp_path):
    text = COIN_CAT.replace("law as_true   : noisy == id a.s. (flip >> del >> [1, 0] )\n", "")
    path = tmp_path / "coin.cat"
    path.write_text(text)
    return path


def test_decide_a_presentation_exactly_with_symbolic_params(coin):
    from catlm.elaborate import load
    results = {r.name: r for r in decide(load(coin))}
    assert results["causal"].holds and results["causal"].scope is Scope.PROVED
    assert not results["not_det"].holds and results["not_det"].ok  # a != law: fails as stated
    assert not results["wrong"].holds and results["wrong"].detail == "at (heads) -> (heads): 9/10 vs 1"
    assert results["wrong"].scope is Scope.PARAMETERS
    assert results["deterministic copy[Coin]"].holds
    flip = results["deterministic[flip]"]
    assert flip.ok and flip.counterexample.params == (("p", Q(1, 3)),)
    assert flip.detail.endswith("p = 1/3; at () -> (heads, heads): 1/3 vs 1/9")  # p vs p**2 at 1/3
    assert all(r.ok for name, r in results.items() if name != "wrong")
    assert {r.kind for r in results.values()} >= {"law", "deterministic", "axiom", "naturality", "copy naturality"}
    assert {r.name for r in results.values() if r.scope is Scope.PROVED} >= {
        "causal", "coassociativity[Coin]", "counitality_left[Coin]", "cocommutativity[Coin]",
        "causality[noisy]", "swap_naturality[flip, noisy]"}


def test_cli_laws_prints_a_table_and_fails_on_a_failing_law(coin, capsys):
    assert main(["laws", str(coin)]) == 1
    out = capsys.readouterr().out
    assert "wrong" in out and "FAILS (fails exactly)" in out and "9/10 vs 1" in out
    assert main(["laws", str(coin), "--json", "--float", "--subs", "p=0.3"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert {"name", "kind", "holds", "scope", "detail"} <= set(rows[0])
    assert [r["name"] for r in rows if not r["holds"] and r["expected"]] == ["wrong"]


def test_cli_eval_prints_exact_json_and_a_labelled_table(coin, capsys):
    assert main(["eval", str(coin), "-k", "joint", "--exact", "--subs", "p=1/3", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == {"kernel": "joint", "dom": [], "cod": [2, 2], "dom_elements": [],
                   "cod_elements": [["heads", "tails"], ["heads", "tails"]],
                   "array": [["3/10", "1/30"], ["2/15", "8/15"]]}
    assert main(["eval", str(coin), "-k", "noisy"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["heads", "tails"] and out[2].split() == ["heads", "0.9", "0.1"]


def test_cli_errors_are_rendered_not_raised(coin, capsys, tmp_path):
    assert main(["eval", str(coin), "-k", "joint"]) == 1
    err = capsys.readouterr().err
    assert "error: kernel 'flip'" in err and "--subs p=1/3" in err
    npz = tmp_path / "p.npz"
    np.savez(npz, noisy=np.array([[0.5, 0.4], [0.5, 0.5]]))
    assert main(["eval", str(coin), "-k", "noisy", "--params", str(npz)]) == 0  # a literal body wins
    assert main(["eval", str(coin), "-k", "joint", "--subs", "p=1/2", "--budget", "1"]) == 1
    assert "budget" in capsys.readouterr().err


# --- verdicts with a scope ---------------------------------------------------------------------------

SCOPES_CAT = """\
object Coin = {heads, tails}
param p
kernel fair  : I -> Coin = [1/2, 1/2]
kernel flip  : I -> Coin = [p, 1 - p]
kernel cross : Coin -> Coin = [[p, 1 - p], [1 - p, p]]
kernel f     : Coin -> Coin
kernel d     : Coin -> Coin deterministic
law counit    : copy >> (id @ del) == id[Coin]
law uniform   : fair >> cross == fair
law fixed     : flip >> cross == flip
law natural   : d >> copy == copy >> (d @ d)
law stoch     : f >> copy == copy >> (f @ f)
law apart     : f >> copy != copy >> (f @ f)
law not_apart : d >> copy != copy >> (d @ d)
"""


@pytest.fixture
def scopes(tmp_path):
    path = tmp_path / "scopes.cat"
    path.write_text(SCOPES_CAT)
    return path


def test_each_law_is_decided_at_the_widest_scope_that_settles_it(scopes):
    from catlm.elaborate import load
    r = {x.name: x for x in decide(load(scopes))}
    assert (r["counit"].holds, r["counit"].scope) == (True, Scope.PROVED)
    assert (r["natural"].holds, r["natural"].scope) == (True, Scope.PROVED)
    assert (r["uniform"].holds, r["uniform"].scope) == (True, Scope.PARAMETERS)  # 1/2 p + 1/2 (1 - p)
    fixed = r["fixed"]  # p^2 + (1 - p)^2 == p only at p in {1/2, 1}
    assert (fixed.holds, fixed.scope) == (False, Scope.PARAMETERS)
    p = dict(fixed.counterexample.params)["p"]
    assert p not in (Q(1, 2), 1) and fixed.detail.endswith(f"{p**2 + (1 - p)**2} vs {p}")
    stoch = r["stoch"]
    assert (stoch.holds, stoch.scope, stoch.ok) == (False, Scope.COUNTER_MODEL, False)
    rows = stoch.counterexample.as_json()["kernels"]["f"]
    a, b = (Q(x) for x in rows[0])  # the first row of f separates f >> copy from copy >> (f @ f)
    assert stoch.counterexample.difference == f"at (heads) -> (heads, heads): {a} vs {a * a}"
    assert r["apart"].ok and not r["apart"].holds and r["not_apart"].holds and not r["not_apart"].ok


def test_the_cli_prints_expected_and_unexpected_failures_apart_and_counts_them(scopes, capsys):
    assert main(["laws", str(scopes)]) == 1
    lines = capsys.readouterr().out.splitlines()
    row = {line.split()[0]: line for line in lines[:-1]}
    assert "  proved  " in row["counit"] and "holds for all parameter values" in row["uniform"]
    assert "FAILS (fails exactly)" in row["fixed"] and "FAILS (fails in a counter-model)" in row["stoch"]
    assert "fails as stated (fails in a counter-model)" in row["apart"]
    assert "HOLDS, STATED TO FAIL (proved)" in row["not_apart"]
    held = sum(" proved " in x or " holds " in x for x in row.values())
    stated = sum("fails as stated" in x for x in row.values())
    wrong = sum("FAILS" in x or "HOLDS" in x for x in row.values())
    assert lines[-1] == f"7 decided: {held} hold, {stated} fail as stated, {wrong} not as stated"
    assert (held, stated, wrong) == (3, 1, 3)


def test_json_rows_carry_scope_and_counterexample(scopes, capsys):
    main(["laws", str(scopes), "--json"])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows["stoch"]) == ["name", "kind", "holds", "scope", "counterexample", "detail", "expected"]
    assert rows["counit"]["scope"] == "proved" and "counterexample" not in rows["counit"]
    assert rows["stoch"]["counterexample"]["sets"] == {"Coin": 2}
    assert set(rows["fixed"]["counterexample"]["params"]) == {"p"}
    assert rows["uniform"]["scope"] == "all parameter values"


def test_an_instance_verdict_names_the_params_file(coin, tmp_path, capsys):
    npz = tmp_path / "p.npz"
    np.savez(npz, unused=np.zeros(1))
    assert main(["laws", str(coin), "--float", "--params", str(npz), "--subs", "p=1/3", "--json"]) == 1
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["wrong"]["scope"] == "this instance"
    assert rows["wrong"]["detail"] == f"at (heads) -> (heads): 0.9 vs 1; on params {npz} with p = 1/3"
    assert rows["causal"]["scope"] == "proved"


def test_a_module_whose_signature_is_a_function_is_deterministic(tmp_path):
    from catlm.elaborate import load
    path = tmp_path / "lm.cat"
    path.write_text("object Tok = fin 50\nobject E = real 8\nobject H = real 8\n"
                    "kernel emb : Tok* -> E* = embedding(dim=8)\n"
                    "kernel head : H -> Tok = linear_softmax()\n"
                    "law emb_natural : emb >> copy == copy >> (emb @ emb)\n"
                    "law head_natural : head >> copy == copy >> (head @ head)\n")
    r = {x.name: x for x in decide(load(path))}
    assert (r["emb_natural"].holds, r["emb_natural"].scope) == (True, Scope.PROVED)
    head = r["head_natural"]
    assert (head.holds, head.scope) == (False, Scope.COUNTER_MODEL)
    assert dict(head.counterexample.sets) == {"H": 2, "Tok": 2}  # real and large sets, made small
