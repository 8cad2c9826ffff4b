"""Elaboration: .cat text to typed diagrams, checked against diagrams built from Python.

The oracle is the Python API of ``catlm.core``: the same kernel written as text and built with
``>>``/``@`` must give isomorphic port graphs. A Hypothesis strategy writes random well-typed
expressions both ways (and through ``format``), so parsing, formatting, inference and building
are tested together.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import catlm
from catlm.core.diagram import Box, Implementation, Literal, copy, delete, identity, swap
from catlm.core.types import I, Finite, Real, Seq, Ty
from catlm.errors import SpecError, WiringError
from catlm.syntax import format as format_spec
from catlm.syntax import parse as parse_syntax

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

HEADER = """object A = fin 2
object B = {x, y, z}
kernel f : A -> B
kernel g : B -> A
kernel h : A -> A
kernel s : I -> A
kernel k : A @ B -> B
"""
A, B = Ty(Finite.range("A", 2)), Ty(Finite("B", ("x", "y", "z")))
BOXES = {"f": Box("f", A, B), "g": Box("g", B, A), "h": Box("h", A, A), "s": Box("s", I, A),
         "k": Box("k", A @ B, B)}


def kernel(text: str, name: str = "t") -> catlm.TypedDiagram:
    return catlm.parse(HEADER + text).kernels[name]


# --- the design's examples ------------------------------------------------------------------------

def test_coin_example():
    spec = catlm.load(EXAMPLES / "coin.cat")
    coin = spec.objects["Coin"]
    flip, noisy = spec.generators["flip"], spec.generators["noisy"]
    p = sympy.Symbol("p", real=True)
    assert flip.body == Literal((2,), (p, 1 - p))
    assert noisy.body == Literal((2, 2), (Fraction(9, 10), Fraction(1, 10), Fraction(1, 5), Fraction(4, 5)))
    assert spec.kernels["joint"].diagram == flip >> copy(coin) >> (identity(coin) @ noisy)
    assert spec.kernels["same"].diagram == flip >> copy(coin)
    assert spec.params == ("p",) and spec.objects["Die"].shape == (6,)
    causal, not_det = spec.laws
    assert causal.lhs.diagram == noisy >> delete(coin) and causal.rhs.diagram == delete(coin)
    assert not not_det.equal and not_det.rhs.diagram == copy(coin) >> (noisy @ noisy)
    assert [type(c).__name__ for c in spec.checks] == ["DeterministicCheck", "MarkovCheck"]


def test_bigram_example():
    spec = catlm.load(EXAMPLES / "bigram.cat")
    emb, head = spec.generators["emb"], spec.generators["head"]
    assert emb.deterministic and emb.body is None and not head.deterministic
    assert spec.kernels["gen"] == spec.kernels["gen2"]
    tok = spec.objects["Tok"]
    assert spec.kernels["two"].diagram == (emb >> head) >> copy(tok) >> (identity(tok) @ (emb >> head))


def test_lm_example():
    spec = catlm.load(EXAMPLES / "lm.cat")
    emb = spec.generators["emb"]
    tok = spec.objects["Tok"][0]
    assert emb.dom == Ty(Seq("Tok*", tok)) and emb.cod == Ty(Seq("E*", Real("E", 256)))
    assert emb.body == Implementation("embedding", (("dim", 256), ("positions", "learned")))
    assert spec.generators["head"].body.kwargs == {"tie": "emb"}
    assert spec.kernels["gen"].dom == emb.dom and spec.kernels["gen"].cod == Ty(tok)
    assert spec.last_kernel == "draft"


# --- inference ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, built", [
    ("kernel t = copy >> (f @ f)", copy(A) >> (BOXES["f"] @ BOXES["f"])),
    ("kernel t = s >> copy >> (id @ h)", BOXES["s"] >> copy(A) >> (identity(A) @ BOXES["h"])),
    ("kernel t = (f @ h) >> swap", (BOXES["f"] @ BOXES["h"]) >> swap(B, A)),
    ("kernel t = copy >> (del @ f)", copy(A) >> (delete(A) @ BOXES["f"])),
    ("kernel t = copy[A, 3] >> (h @ del @ id)", copy(A, 3) >> (BOXES["h"] @ delete(A) @ identity(A))),
    ("kernel t = k ∘ (id @ f) ∘ copy", copy(A) >> (identity(A) @ BOXES["f"]) >> BOXES["k"]),
    ("kernel t : A -> A @ A = copy", copy(A)),
    ("kernel t : A @ B -> I = del", delete(A @ B)),
    ("kernel t = s >> copy[A @ A]." if False else "kernel t = (s @ s) >> copy", copy(A @ A).__rrshift__(BOXES["s"] @ BOXES["s"])),
])
def test_structural_maps_take_their_objects_from_context(text, built):
    assert kernel(text).diagram == built


def test_inference_reports_what_it_cannot_infer():
    with pytest.raises(SpecError, match="cannot infer the objects of `del`") as err:
        kernel("kernel t = del @ h")
    assert "del[A]" in err.value.hint and err.value.span.line == 8


def test_mismatch_names_both_types_and_both_spans():
    with pytest.raises(WiringError) as err:
        kernel("kernel t = f >> f")
    assert "A -> B" in err.value.message and "B is not A" in err.value.message
    assert (err.value.span.column, err.value.related.column) == (17, 12)


def test_law_sides_seed_each_other():
    spec = catlm.parse(HEADER + "law total : h >> del == del\nlaw as : h == id a.s. s\n")
    total, surely = spec.laws
    assert total.rhs.diagram == delete(A)
    assert surely.state.dom == I and surely.state.cod == A and surely.rhs.diagram == identity(A)


def test_flat_and_nested_literals_agree():
    nested = "kernel t : A @ A -> A = [[[1, 0], [0, 1]], [[1/2, 1/2], [0.25, 0.75]]]"
    flat = "kernel t : A @ A -> A = [[1, 0], [0, 1], [1/2, 1/2], [0.25, 0.75]]"
    a, b = (kernel(x).diagram.boxes[0].body for x in (nested, flat))
    assert a == b and a.entries[-1] == Fraction(3, 4) and a.shape == (2, 2, 2)


def test_literals_are_exact_and_symbolic():
    body = catlm.parse("object A = fin 3\nparam p, q\nkernel t : I -> A = "
                       "[p * q, sqrt(4)/4 - p*q, 1/2]").generators["t"].body
    p, q = sympy.symbols("p q", real=True)
    assert body.entries == (p * q, Fraction(1, 2) - p * q, Fraction(1, 2))


def test_deterministic_expression_bodies_become_checks():
    spec = catlm.parse(HEADER + "kernel t : A -> A @ A deterministic = copy\n")
    assert spec.checks[-1].diagram.diagram == copy(A)


def test_imports_are_relative_and_shared(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "base.cat").write_text("object A = fin 2\nkernel h : A -> A\n")
    (tmp_path / "main.cat").write_text('import "lib/base.cat"\nkernel t = h >> h\n')
    assert catlm.load(tmp_path / "main.cat").kernels["t"].diagram == BOXES["h"] >> BOXES["h"]


def test_long_chains_elaborate_without_recursion():
    text = "kernel t = " + " >> ".join(["h"] * 150)
    assert len(kernel(text).diagram.boxes) == 150


# --- random well-typed expressions: text and Python agree, through format and parse ------------

SIGNATURES = [("f", (A,), (B,)), ("g", (B,), (A,)), ("h", (A,), (A,)), ("s", (), (A,)),
              ("k", (A, B), (B,))]


def _ty(parts) -> Ty:
    out = I
    for p in parts:
        out = out @ p
    return out


def _name(ty: Ty) -> str:
    return str(ty)


@st.composite
def terms(draw, dom: tuple, depth: int = 3):
    """(text, diagram, codomain) of a random well-typed expression from ``dom``."""
    dom_ty = _ty(dom)
    options = ["id", "del"]
    options += [n for n, d, _ in SIGNATURES if d == dom]
    if len(dom) == 1:
        options.append("copy")
    if len(dom) == 2:
        options.append("swap")
    if depth > 0:
        options += ["then", "then", "tensor"] if dom else ["then", "tensor"]
    choice = draw(st.sampled_from(options))
    if choice == "id":
        return f"id[{_name(dom_ty)}]", identity(dom_ty), dom
    if choice == "del":
        return f"del[{_name(dom_ty)}]", delete(dom_ty), ()
    if choice == "copy":
        return f"copy[{_name(dom_ty)}]", copy(dom_ty), dom * 2
    if choice == "swap":
        return f"swap[{dom[0]}, {dom[1]}]", swap(dom[0], dom[1]), (dom[1], dom[0])
    if choice == "then":
        t1, d1, mid = draw(terms(dom, depth - 1))
        t2, d2, cod = draw(terms(mid, depth - 1))
        return f"({t1} >> {t2})", d1 >> d2, cod
    if choice == "tensor":
        cut = draw(st.integers(0, len(dom)))
        t1, d1, c1 = draw(terms(dom[:cut], depth - 1))
        t2, d2, c2 = draw(terms(dom[cut:], depth - 1))
        return f"({t1} @ {t2})", d1 @ d2, c1 + c2
    sig = next(s for s in SIGNATURES if s[0] == choice)
    return choice, BOXES[choice], sig[2]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([(A,), (B,), (A, B), ()]).flatmap(lambda dom: terms(dom)))
def test_random_expressions_round_trip(term):
    text, built, _ = term
    source = HEADER + f"kernel t = {text}\n"
    assert kernel(f"kernel t = {text}\n").diagram == built
    reformatted = format_spec(parse_syntax(source))
    assert parse_syntax(reformatted) == parse_syntax(source)
    assert catlm.parse(reformatted).kernels["t"].diagram == built


# --- size: chains and named composites ------------------------------------------------------------

def test_a_chain_of_ten_thousand_kernels_elaborates_flat():
    d = kernel("kernel t = s >> " + " >> ".join(["h"] * 10_000)).diagram
    assert (d.dom, d.cod) == (I, A) and len(d.boxes) == 10_001


def test_named_composites_are_shared_not_checked_again(monkeypatch):
    """Each definition extends the last: checking is linear in the text, not in the expansions."""
    import catlm.core.check as check
    walked = []
    monkeypatch.setattr(check, "_check_ports", lambda diagram, node: walked.append(node))
    text = HEADER + "kernel k0 = h\n" + "".join(f"kernel k{i} = k{i - 1} >> h\n" for i in range(1, 300))
    spec = catlm.parse(text)
    assert len(spec.kernels["k299"].diagram.boxes) == 300
    assert len(walked) <= 4 * 300  # the expansions hold 300 * 301 / 2 boxes in all


# --- kernel powers --------------------------------------------------------------------------------

def test_a_power_is_the_chain_it_abbreviates():
    assert kernel("kernel t = s >> h^3").diagram == kernel("kernel t = s >> h >> h >> h").diagram
    assert kernel("kernel t = (g >> f)^2").diagram == kernel("kernel t = g >> f >> g >> f").diagram
    assert kernel("kernel t = h^0").diagram == identity(A)
    assert kernel("kernel t = copy >> h^2 @ id").dom == A  # the power's type flows both ways


def test_a_long_power_is_a_small_term():
    """h^1000 shares its halves (repeated squaring), so checking it is instant; it expands on evaluation."""
    t = kernel("kernel t = s >> h^1000")
    assert len(t.diagram.boxes) == 1001


def test_a_power_of_a_kernel_between_different_objects_is_refused():
    with pytest.raises(WiringError, match="a power repeats a kernel from an object to itself") as err:
        kernel("kernel t = f^2")
    assert err.value.span.column == 12


@pytest.mark.parametrize("body", ["h^999999999999999999", "(h^60000)^1", "(h >> h)^25001"])
def test_an_expansion_past_the_limit_is_refused_where_it_is_declared(body):
    from catlm.core.check import MAX_GENERATORS
    from catlm.errors import BudgetError
    with pytest.raises(BudgetError, match=f"more than the {MAX_GENERATORS:,}") as err:
        kernel(f"kernel t = {body}")
    assert err.value.span.line == HEADER.count("\n") + 1
    assert len(kernel("kernel t = h^50000").diagram.generators) == MAX_GENERATORS
