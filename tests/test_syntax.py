"""The .cat front end: parse, to_ast, format and load_files against hand-written expectations."""
from __future__ import annotations

import ast as pyast
import builtins
import hashlib
import re
import string
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catlm.errors import ParseError, SpecError
from catlm.syntax import ast, format, format_expr, format_ob, load_files, parse, parse_file
from catlm.syntax.to_ast import MAX_DEPTH

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = sorted((FIXTURES / "good").glob("*.cat"))
from shared_data import DESIGN  # noqa: E402
SYNTAX = Path(__file__).parent.parent / "catlm" / "syntax"
N = ast.Name
T, TS, C = (lambda *parts: ast.Then(parts)), (lambda *parts: ast.Tensor(parts)), (lambda *parts: ast.Compose(parts))


def expr(text: str) -> ast.Expr:
    return parse(f"kernel k = {text}").statements[0].body


def num(text: str):
    return parse(f"kernel k = [{text}]").statements[0].body.items[0]


def ob(text: str) -> ast.ObExpr:
    return parse(f"object X = {text}").statements[0].value


def n(text: str) -> ast.Number:
    return ast.Number(text)


# --- the DESIGN.md examples ---------------------------------------------------------------------

# sha256 of the DESIGN.md example blocks (DESIGN.md §3), so the check runs without the document
DESIGN_EXAMPLES = {
    "coin": "ae71e0a99fae18209554d0a9ae20d970344787958f9d737e7c06f193cc3648bd",
    "bigram": "f7e7ddd6eff1b42a53ae9befc0ede11423cd420fc9c124f074ac3c912919e3cd",
    "lm": "4a7332f405457c008e1bb5cd2ca143970d75761e732e260a82d3d237aa2fcd72",
}


@pytest.mark.parametrize("name", sorted(DESIGN_EXAMPLES))
def test_fixture_is_the_design_example_verbatim(name):
    text = (FIXTURES / "good" / f"{name}.cat").read_text(encoding="utf-8")
    assert hashlib.sha256(text.encode()).hexdigest() == DESIGN_EXAMPLES[name]
    if DESIGN.exists():  # the recorded digests are still those of the document's blocks
        blocks = re.findall(r"```\n(# \w+\.cat.*?)```", DESIGN.read_text(encoding="utf-8"), re.S)
        assert text in blocks


def test_coin_statements():
    spec = parse_file(FIXTURES / "good" / "coin.cat")
    coin = ast.ObName("Coin")
    assert spec.statements[:3] == (
        ast.ObjectDecl("Coin", ast.FinSet(("heads", "tails"))),
        ast.ObjectDecl("Die", ast.FinRange(6)),
        ast.ParamDecl(("p",)),
    )
    assert spec.statements[3] == ast.KernelDecl(
        "flip", ast.KernelType(ast.Unit(), coin), False,
        ast.ListLit((ast.ParamRef("p"), ast.BinOp("-", n("1"), ast.ParamRef("p")))))
    frac = lambda a, b: ast.BinOp("/", n(a), n(b))  # noqa: E731
    assert spec.statements[4].body == ast.ListLit((
        ast.ListLit((frac("9", "10"), frac("1", "10"))), ast.ListLit((frac("1", "5"), frac("4", "5")))))
    assert spec.statements[5] == ast.KernelDecl(
        "joint", None, False, T(N("flip"), ast.CopyExpr(), TS(ast.Identity(), N("noisy"))))
    assert spec.statements[6].body == T(N("flip"), ast.CopyExpr(coin))
    assert spec.statements[7] == ast.Law("causal", T(N("noisy"), ast.DeleteExpr()), ast.DeleteExpr())
    assert spec.statements[8] == ast.Law(
        "not_det", T(N("noisy"), ast.CopyExpr()), T(ast.CopyExpr(), TS(N("noisy"), N("noisy"))), equal=False)
    assert spec.statements[9:] == (ast.CheckDeterministic(ast.CopyExpr(coin)), ast.CheckMarkov(coin))


def test_bigram_statements():
    spec = parse_file(FIXTURES / "good" / "bigram.cat")
    tok, h = ast.ObName("Tok"), ast.ObName("H")
    assert spec.statements[2] == ast.KernelDecl("emb", ast.KernelType(tok, h), True, None)
    assert spec.statements[3] == ast.KernelDecl("head", ast.KernelType(h, tok), False, None)
    assert spec.statements[5] == ast.KernelDecl("gen2", None, False, C(N("head"), N("emb")))
    assert spec.statements[7] == ast.Law("same_gen", N("gen"), N("gen2"))


def test_lm_statements():
    spec = parse_file(FIXTURES / "good" / "lm.cat")
    assert spec.statements[1] == ast.ObjectDecl("E", ast.RealSpace(256))
    emb = spec.statements[3]
    assert emb.type == ast.KernelType(ast.Star(ast.ObName("Tok")), ast.Star(ast.ObName("E")))
    assert emb.body == ast.Implementation("embedding", (
        ast.Arg("dim", n("256")), ast.Arg("positions", ast.Ident("learned"))))
    assert spec.statements[5].body == ast.Implementation("linear_softmax", (ast.Arg("tie", ast.Ident("emb")),))
    assert spec.statements[6].body == T(N("emb"), N("bb"), N("head"))
    assert spec.statements[7] == ast.KernelDecl(
        "draft", ast.KernelType(ast.ObName("H"), ast.ObName("Tok")), False, ast.Implementation("linear_softmax", ()))


def test_spans_point_at_the_source():
    spec = parse_file(FIXTURES / "good" / "coin.cat")
    noisy = spec.statements[4]
    assert (noisy.span.line, noisy.span.column, noisy.span.end_line) == (7, 1, 8)
    assert noisy.span.file.endswith("coin.cat")
    flip = spec.statements[5].body.parts[0]  # `flip` in `kernel joint = flip >> ...`
    assert (flip.span.line, flip.span.column, flip.span.end_column) == (9, 16, 19)
    row = noisy.body.items[1]
    assert (row.span.line, row.span.column) == (8, 32)
    lines = (FIXTURES / "good" / "coin.cat").read_text(encoding="utf-8").splitlines()
    assert lines[7][noisy.span.end_column - 1:noisy.span.end_column + 1] == "] "  # the final ']' of `]]`
    assert lines[7][noisy.span.end_column - 2] == "]"


# --- precedence and associativity -----------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("f >> g >> h", T(N("f"), N("g"), N("h"))),
    ("(f >> g) >> h", T(N("f"), N("g"), N("h"))),  # associativity: chains are flat
    ("h ∘ g ∘ f", C(N("h"), N("g"), N("f"))),
    ("f >> g @ h", T(N("f"), TS(N("g"), N("h")))),
    ("f @ g >> h", T(TS(N("f"), N("g")), N("h"))),
    ("f @ g @ h", TS(N("f"), N("g"), N("h"))),
    ("g ∘ f @ h", C(N("g"), TS(N("f"), N("h")))),
    ("(f >> g) ∘ h", C(T(N("f"), N("g")), N("h"))),
    ("f >> (g ∘ h)", T(N("f"), C(N("g"), N("h")))),
    ("f @ (g @ h)", TS(N("f"), N("g"), N("h"))),
    ("f^3 >> g", T(ast.KernelPower(N("f"), 3), N("g"))),
    ("f @ g^2", TS(N("f"), ast.KernelPower(N("g"), 2))),
    ("(f >> g)^0", ast.KernelPower(T(N("f"), N("g")), 0)),
    ("(f^2)^3", ast.KernelPower(ast.KernelPower(N("f"), 2), 3)),
    ("((f))", N("f")),
])
def test_diagram_precedence(text, expected):
    assert expr(text) == expected


def test_applicative_chain_means_the_reversed_diagrammatic_chain():
    """h ∘ g ∘ f lists the same kernels as f >> g >> h, in reverse."""
    def order(e):
        if isinstance(e, ast.Then):
            return [x for p in e.parts for x in order(p)]
        if isinstance(e, ast.Compose):
            return [x for p in reversed(e.parts) for x in order(p)]
        return [e.name]
    assert order(expr("h ∘ g ∘ f")) == order(expr("f >> g >> h")) == ["f", "g", "h"]


@pytest.mark.parametrize("text", ["f >> g ∘ h", "f ∘ g >> h", "f . g >> h", "a >> b >> c . d"])
def test_mixing_compositions_without_parentheses_is_an_error(text):
    with pytest.raises(ParseError, match="cannot mix '>>' and '∘'"):
        expr(text)


@pytest.mark.parametrize("text, expected", [
    ("1 - 2 - 3", ast.BinOp("-", ast.BinOp("-", n("1"), n("2")), n("3"))),
    ("1 + 2 * 3", ast.BinOp("+", n("1"), ast.BinOp("*", n("2"), n("3")))),
    ("8 / 4 / 2", ast.BinOp("/", ast.BinOp("/", n("8"), n("4")), n("2"))),
    ("2 ^ 3 ^ 2", ast.BinOp("^", n("2"), ast.BinOp("^", n("3"), n("2")))),
    ("-x ^ 2", ast.Neg(ast.BinOp("^", ast.ParamRef("x"), n("2")))),
    ("2 ^ -1", ast.BinOp("^", n("2"), ast.Neg(n("1")))),
    ("-a * b", ast.BinOp("*", ast.Neg(ast.ParamRef("a")), ast.ParamRef("b"))),
    ("(1 - p) / 2", ast.BinOp("/", ast.BinOp("-", n("1"), ast.ParamRef("p")), n("2"))),
    ("sqrt(p) * exp(-1)", ast.BinOp("*", ast.Call("sqrt", (ast.ParamRef("p"),)), ast.Call("exp", (ast.Neg(n("1")),)))),
    ("0.25", n("0.25")),
    ("1e-3", n("1e-3")),
    ("9/10", ast.BinOp("/", n("9"), n("10"))),
])
def test_arithmetic_precedence(text, expected):
    assert num(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("A @ B @ C", ast.Product((ast.ObName("A"), ast.ObName("B"), ast.ObName("C")))),
    ("A @ (B @ C)", ast.Product((ast.ObName("A"), ast.Product((ast.ObName("B"), ast.ObName("C")))))),
    ("A^2*", ast.Star(ast.Power(ast.ObName("A"), 2))),
    ("A @ B^3", ast.Product((ast.ObName("A"), ast.Power(ast.ObName("B"), 3)))),
    ("(A @ B)*", ast.Star(ast.Product((ast.ObName("A"), ast.ObName("B"))))),
    ("fin 6 @ real 3 @ I", ast.Product((ast.FinRange(6), ast.RealSpace(3), ast.Unit()))),
])
def test_object_precedence(text, expected):
    assert ob(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("id", ast.Identity()),
    ("id[Coin^2]", ast.Identity(ast.Power(ast.ObName("Coin"), 2))),
    ("copy[A @ B]", ast.CopyExpr(ast.Product((ast.ObName("A"), ast.ObName("B"))))),
    ("copy[A, 3]", ast.CopyExpr(ast.ObName("A"), 3)),
    ("del[I]", ast.DeleteExpr(ast.Unit())),
    ("swap", ast.SwapExpr()),
    ("swap[A, fin 2]", ast.SwapExpr(ast.ObName("A"), ast.FinRange(2))),
])
def test_structural_boxes(text, expected):
    assert expr(text) == expected


def test_law_forms_and_checks():
    spec = parse("law a : f == g a.s. s >> t\nlaw b : f != g\ncheck deterministic f @ g\ncheck markov A*")
    assert spec.statements == (
        ast.Law("a", N("f"), N("g"), True, T(N("s"), N("t"))),
        ast.Law("b", N("f"), N("g"), False),
        ast.CheckDeterministic(TS(N("f"), N("g"))),
        ast.CheckMarkov(ast.Star(ast.ObName("A"))),
    )


def test_kernel_forms():
    spec = parse('param p, q\nkernel f : A -> B deterministic = [[1, 0], [0, 1]]\n'
                 'kernel g deterministic = f\nkernel h : A -> B = net(k=-2, s="x\\"y\\\\", m=big)\nimport "a b.cat"')
    assert spec.statements[0] == ast.ParamDecl(("p", "q"))
    assert spec.statements[1].deterministic and spec.statements[1].body == ast.ListLit(
        (ast.ListLit((n("1"), n("0"))), ast.ListLit((n("0"), n("1")))))
    assert spec.statements[2] == ast.KernelDecl("g", None, True, N("f"))
    assert spec.statements[3].body == ast.Implementation("net", (
        ast.Arg("k", ast.Neg(n("2"))), ast.Arg("s", ast.String('x"y\\')), ast.Arg("m", ast.Ident("big"))))
    assert spec.statements[4] == ast.Import("a b.cat")


# --- spellings and layout -------------------------------------------------------------------------

@pytest.mark.parametrize("unicode, ascii_", [
    ("kernel f : A ⊗ B → C = g ∘ h ⊗ k", "kernel f : A @ B -> C = g . h @ k"),
    ("law l : f ∘ g == g >> f", "law l : f . g == g >> f"),
    ("object P = A ⊗ B ⊗ C", "object P = A @ B @ C"),
])
def test_unicode_and_ascii_spellings_agree(unicode, ascii_):
    assert parse(unicode) == parse(ascii_)


def test_statements_span_lines_inside_brackets_and_after_operators():
    one_line = parse("kernel k : A -> B = [[1, 0], [0, 1]]\nkernel g = f >> h @ k")
    spread = parse("\n# lead\n\nkernel k :\n  A ->\n  B =\n  [[1, 0],\n   [0, 1]]  # rows\n\n\n"
                   "kernel g = f >>\n   h @\n   k\n")
    assert spread == one_line


def test_newline_after_postfix_star_ends_the_statement():
    spec = parse("object S = A*\nobject T = S")
    assert spec.statements == (ast.ObjectDecl("S", ast.Star(ast.ObName("A"))), ast.ObjectDecl("T", ast.ObName("S")))


def test_crlf_bom_and_empty_input():
    assert parse("\ufeffobject A = fin 2\r\nobject B = A\r\n") == parse("object A = fin 2\nobject B = A\n")
    assert parse("") == parse("# only a comment\n\n   \n") == ast.Spec(())


def test_statements_need_their_own_lines():
    with pytest.raises(ParseError) as info:
        parse("object A = fin 2 object B = fin 3")
    assert (info.value.span.line, info.value.span.column) == (1, 18)


# --- format ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_format_round_trips_every_fixture(path):
    spec = parse_file(path)
    assert parse(format(spec)) == spec
    assert format(parse(format(spec))) == format(spec)  # canonical text is a fixed point


def test_format_uses_the_fewest_parentheses():
    assert format_expr(expr("(f >> g) >> h")) == "f >> g >> h"
    assert format_expr(expr("f >> (g >> h)")) == "f >> g >> h"  # associativity: one flat chain
    assert format_expr(expr("(f @ g) >> (h ∘ k)")) == "f @ g >> (h . k)"
    assert format_expr(expr("h ∘ (g ∘ f)")) == "h . g . f"
    assert format_expr(expr("((f >> g)^2 @ (h^3))^1")) == "((f >> g)^2 @ h^3)^1"
    assert format_expr(expr("(h ∘ g) ∘ f")) == "h . g . f"
    assert format_expr(expr("(f @ g) @ (h @ k)")) == "f @ g @ h @ k"
    assert format_ob(ob("(A @ B)^2 @ (C @ D)")) == "(A @ B)^2 @ (C @ D)"
    assert format_ob(ob("((A^2)*)")) == "A^2*"
    body = parse("kernel k = [(1 - p) / 2, -(2^2), (-2)^2, 2^(1 + 1), a - (b - c), 1 / (2 * 3)]").statements[0].body
    assert format(ast.Spec((ast.KernelDecl("k", None, False, body),))) == \
        "kernel k = [(1 - p)/2, -2^2, (-2)^2, 2^(1 + 1), a - (b - c), 1/(2 * 3)]\n"


# --- Hypothesis: random syntax trees survive format -> parse ------------------------------------------

KEYWORDS = {"object", "param", "kernel", "law", "check", "import", "deterministic", "markov", "fin",
            "real", "id", "copy", "del", "swap", "I"}
LOWER, UPPER, DIGITS = string.ascii_lowercase + "_", string.ascii_uppercase, string.digits
names = st.builds(str.__add__, st.sampled_from(LOWER), st.text(LOWER + DIGITS, max_size=5)).filter(
    lambda s: s not in KEYWORDS)
ob_names = st.builds(str.__add__, st.sampled_from(UPPER), st.text(UPPER + LOWER + DIGITS, max_size=4)).filter(
    lambda s: s not in KEYWORDS)
digits = st.text(DIGITS, min_size=1, max_size=4)
numbers = st.builds(lambda whole, frac, exp: whole + frac + exp, digits,  # the NUMBER token: 12, 0.25, 1e-3
                    st.sampled_from(["", ".5", ".125"]), st.sampled_from(["", "e3", "E-2", "e+10"])).map(ast.Number)
sizes = st.integers(0, 10**6)
strings = st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=8)

obs = st.recursive(
    st.one_of(ob_names.map(ast.ObName), st.lists(names, min_size=1, max_size=3).map(lambda e: ast.FinSet(tuple(e))),
              sizes.map(ast.FinRange), sizes.map(ast.RealSpace), st.just(ast.Unit())),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda fs: ast.Product(tuple(fs))),
        st.builds(ast.Power, inner, st.integers(0, 99)),
        st.builds(ast.Star, inner)),
    max_leaves=5)

exprs = st.recursive(
    st.one_of(names.map(ast.Name), st.builds(ast.Identity, st.none() | obs), st.builds(ast.DeleteExpr, st.none() | obs),
              st.just(ast.CopyExpr()), st.builds(ast.CopyExpr, obs, st.none() | st.integers(0, 9)),
              st.just(ast.SwapExpr()), st.builds(ast.SwapExpr, obs, obs)),
    lambda inner: st.one_of(*(st.lists(inner, min_size=2, max_size=3).map(lambda ps, op=op: op(tuple(ps)))
                              for op in (ast.Then, ast.Compose, ast.Tensor)),
                            st.builds(ast.KernelPower, inner, st.integers(0, 99))),
    max_leaves=8)

nums = st.recursive(
    numbers | names.map(ast.ParamRef),
    lambda inner: st.one_of(
        st.builds(ast.Neg, inner),
        st.builds(ast.BinOp, st.sampled_from("+-*/^"), inner, inner),
        st.builds(ast.Call, st.sampled_from(["sqrt", "exp", "log", "sin"]),
                  st.lists(inner, min_size=1, max_size=2).map(tuple))),
    max_leaves=8)

as_list = lambda xs: ast.ListLit(tuple(xs))  # noqa: E731
lists = st.recursive(st.lists(nums, max_size=3).map(as_list),
                     lambda inner: st.lists(inner | nums, min_size=1, max_size=3).map(as_list), max_leaves=4)

arg_values = st.one_of(numbers, numbers.map(ast.Neg), names.map(ast.Ident), strings.map(ast.String))
implementations = st.builds(ast.Implementation, names,
                            st.lists(st.builds(ast.Arg, names, arg_values), max_size=3).map(tuple))
bodies = st.one_of(lists, implementations, exprs)
kernel_types = st.builds(ast.KernelType, obs, obs)


@st.composite
def kernels(draw):
    kernel_type = draw(st.none() | kernel_types)
    body = draw(bodies if kernel_type is None else st.none() | bodies)
    return ast.KernelDecl(draw(names), kernel_type, draw(st.booleans()), body)


laws = st.one_of(
    st.builds(ast.Law, names, exprs, exprs, st.just(True), st.none() | exprs),
    st.builds(ast.Law, names, exprs, exprs, st.just(False), st.none()))
statements = st.one_of(
    st.builds(ast.ObjectDecl, ob_names, obs),
    st.lists(names, min_size=1, max_size=3).map(lambda ns: ast.ParamDecl(tuple(ns))),
    kernels(), laws, st.builds(ast.CheckDeterministic, exprs), st.builds(ast.CheckMarkov, obs),
    strings.map(ast.Import))
specs = st.lists(statements, max_size=6).map(lambda ss: ast.Spec(tuple(ss)))


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_format_then_parse_is_the_identity(spec):
    assert parse(format(spec)) == spec


@settings(max_examples=100, deadline=None)
@given(exprs)
def test_format_expr_round_trips(e):
    assert expr(format_expr(e)) == e


# --- hostile specs: parsing evaluates nothing ----------------------------------------------------------

def test_syntax_package_never_evaluates_text():
    """No call of eval, exec, compile, sympify, parse_expr or literal_eval anywhere in catlm.syntax."""
    banned = {"eval", "exec", "compile", "sympify", "parse_expr", "literal_eval", "__import__"}
    for path in SYNTAX.glob("*.py"):
        for node in pyast.walk(pyast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, pyast.Call):
                called = getattr(node.func, "id", getattr(node.func, "attr", None))
                assert called not in banned, f"{path.name}:{node.lineno} calls {called}"


@pytest.mark.parametrize("text", [
    'kernel k : I -> A = [__import__("os").system("touch PWNED")]',
    'import os; os.system("touch PWNED")',
    "kernel k = __import__('os')",
    'kernel k : I -> A = embedding(cmd=__import__("os").system("touch PWNED"))',
    'kernel k : I -> A = [(lambda: open("PWNED", "w"))()]',
])
def test_python_in_a_spec_is_a_parse_error_and_runs_nothing(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    forbid_evaluation(monkeypatch)
    with pytest.raises(ParseError):
        parse(text)
    assert list(tmp_path.iterdir()) == []


def test_python_shaped_calls_in_literals_stay_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    forbid_evaluation(monkeypatch)
    body = parse("kernel k : I -> A = [eval(1), exec(2), __import__(3)]").statements[0].body
    calls = [ast.Call(f, (n(str(i)),)) for i, f in enumerate(["eval", "exec", "__import__"], 1)]
    assert body == ast.ListLit(tuple(calls))
    assert list(tmp_path.iterdir()) == []


def forbid_evaluation(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("parsing evaluated text")
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)


def test_huge_exponents_are_kept_as_text():
    start = time.perf_counter()
    value = num("10^10^10^10^10")
    assert time.perf_counter() - start < 1.0
    tower = n("10")
    for _ in range(4):
        tower = ast.BinOp("^", n("10"), tower)
    assert value == tower
    assert num("9" * 10_000) == n("9" * 10_000)  # longer than int() accepts by default: never converted
    assert ob("fin 10^10^10") == ast.Power(ast.Power(ast.FinRange(10), 10), 10)


def test_oversized_whole_numbers_are_refused_not_converted():
    with pytest.raises(ParseError, match="too large"):
        parse("object A = fin " + "9" * 5000)
    with pytest.raises(ParseError, match="whole number"):
        parse("object A = real 2.5")


def test_any_function_name_parses_as_an_inert_call_record():
    """Which functions exist is elaboration's table; the parser only records the call."""
    assert num("system(1, p)") == ast.Call("system", (n("1"), ast.ParamRef("p")))


def test_nesting_limit():
    assert expr("(" * 10_000 + "f" + ")" * 10_000) == N("f")  # redundant parentheses cost nothing
    deep = "(f @ (f >> " * (MAX_DEPTH // 2 - 5) + "f" + "))" * (MAX_DEPTH // 2 - 5)
    assert format_expr(expr(deep)).count("(") == MAX_DEPTH // 2 - 5  # each `>>` inside an `@`
    with pytest.raises(ParseError, match=f"nesting deeper than {MAX_DEPTH}"):
        expr("(f @ (f >> " * 10_000 + "f" + "))" * 10_000)
    with pytest.raises(ParseError, match="nesting deeper"):
        parse("kernel k = [" + "[" * 10_000 + "1" + "]" * 10_001)


def test_chains_are_flat_at_any_length():
    """A chain of 10,000 `>>` (or `@`, or nested brackets of one operator) is one level deep."""
    assert expr(" >> ".join(["f"] * 10_000)) == ast.Then((N("f"),) * 10_000)
    assert expr(" @ ".join(["f"] * 10_000)) == ast.Tensor((N("f"),) * 10_000)
    assert expr("(f >> " * 1_000 + "f" + ")" * 1_000) == ast.Then((N("f"),) * 1_001)


# --- error messages -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, line, column, message", [
    ("object D = fin\n", 1, 15, "unexpected end of line: expected a number after 'fin'"),
    ("kernel f : A\n", 1, 13, "'->'"),
    ("kernel f : A -> B = [[1, 0],\n  [0, 1]\nkernel g = f\n", 1, 21, "unclosed '['"),
    ("kernel f = (g >> h\n", 1, 12, "unclosed '('"),
    ("object A = fin 2\nkernel f : A ->\nkernel g = f\n", 2, 14, "expected an object after '->'"),
    ("kernel f = copy[A,]\n", 1, 19, "unexpected ']': expected a number after ','"),
    ("kernel f = >> g\n", 1, 12, "unexpected '>>': expected a literal list, an implementation or a diagram after '='"),
    ("object Coin {heads}\n", 1, 13, "unexpected '{': expected '=' after 'Coin'"),
    ("law x : f\n", 1, 10, "expected '==' or '!=' after 'f'"),
    ("law x : f != g a.s. s\n", 1, 16, "'a.s.' follows only an equation with '=='"),
    ("kernel lonely\n", 1, 14, "unexpected end of line: expected ':' or '=' or 'deterministic'"),
    ("kernel f = g $ h\n", 1, 14, "unexpected character '$'"),
    ('import "x.cat\n', 1, 8, "unterminated string"),
    ("  deterministic\n", 1, 3, "expected a statement"),
    ('import "a\\qb"\n', 1, 8, "unknown escape"),
    ("object A = fin 2\n\n\nkernel f : A -> A = [1,", 4, 21, "unclosed '['"),
    ("kernel f : A -> A =", 1, 20, "unexpected end of file"),
])
def test_parse_errors_say_where_and_what(text, line, column, message):
    with pytest.raises(ParseError) as info:
        parse(text, "bad.cat")
    err = info.value
    assert message in err.message
    assert (err.span.file, err.span.line, err.span.column) == ("bad.cat", line, column)


def test_parse_error_renders_a_caret():
    with pytest.raises(ParseError) as info:
        parse("object A = fin 2\nkernel f = g $ h\n", "x.cat")
    assert info.value.render("object A = fin 2\nkernel f = g $ h\n").splitlines()[:3] == [
        "x.cat:2:14: error: unexpected character '$'", "  kernel f = g $ h", "               ^"]


def test_parse_errors_are_also_syntax_errors():
    with pytest.raises(SyntaxError):
        parse("kernel")


# --- files and imports ------------------------------------------------------------------------------------

def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_load_files_orders_dependencies_first_and_loads_each_once(tmp_path):
    write(tmp_path, "d.cat", "object D = fin 2\n")
    write(tmp_path, "lib/b.cat", 'import "../d.cat"\nobject B = D\n')
    write(tmp_path, "c.cat", 'import "d.cat"\nobject C = D\n')
    root = write(tmp_path, "a.cat", 'import "lib/b.cat"\nimport "c.cat"\nimport "./d.cat"\nobject A = B @ C\n')
    specs = load_files(root)
    assert [Path(s.file).name for s in specs] == ["d.cat", "b.cat", "c.cat", "a.cat"]
    assert specs[0].statements == (ast.ObjectDecl("D", ast.FinRange(2)),)


def test_import_cycle_is_named(tmp_path):
    write(tmp_path, "b.cat", '# b\nimport "a.cat"\n')
    root = write(tmp_path, "a.cat", 'import "b.cat"\n')
    with pytest.raises(SpecError, match=r"import cycle: a\.cat -> b\.cat -> a\.cat") as info:
        load_files(root)
    assert Path(info.value.span.file).name == "b.cat" and info.value.span.line == 2


def test_self_import_is_a_cycle(tmp_path):
    root = write(tmp_path, "a.cat", 'import "a.cat"\n')
    with pytest.raises(SpecError, match=r"a\.cat -> a\.cat"):
        load_files(root)


def test_missing_import_points_at_the_import(tmp_path):
    root = write(tmp_path, "a.cat", 'object A = fin 2\nimport "nowhere.cat"\n')
    with pytest.raises(SpecError, match="cannot find the imported file \"nowhere.cat\"") as info:
        load_files(root)
    assert (info.value.span.line, info.value.span.column) == (2, 1)


def test_a_missing_root_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        parse_file(tmp_path / "absent.cat")


def test_invalid_utf8_names_the_first_bad_byte(tmp_path):
    path = write(tmp_path, "x.cat", b"object A = fin 2\n# caf\xc3\xa9 ok\nobject \xff = fin 2\n")
    with pytest.raises(ParseError, match="not UTF-8 text: byte 0xff at line 3, column 8") as info:
        parse_file(path)
    assert (info.value.span.line, info.value.span.column) == (3, 8)


def test_nul_bytes_are_refused_as_binary(tmp_path):
    path = write(tmp_path, "x.cat", b"object A = fin 2\nobj\x00ect\n")
    with pytest.raises(ParseError, match="NUL byte") as info:
        parse_file(path)
    assert (info.value.span.line, info.value.span.column) == (2, 4)


def test_the_grammar_ships_as_package_data():
    from importlib import resources
    text = resources.files("catlm.grammar").joinpath("catlm.lark").read_text(encoding="utf-8")
    assert "start: (statement _NL)*" in text
