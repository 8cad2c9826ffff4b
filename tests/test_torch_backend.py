"""The functor to torch: agreement with numpy on random diagrams, the three readings, the LM readings.

The oracle is the numpy backend (itself tested against closed forms): for random well-typed finite
diagrams with copy, delete and swap, the tabulated ``probs`` of the DiagramModule, its ``log_prob``
and its samples must follow the tensor ``catlm.compile(d, backend="numpy", params=P)``.
"""
from __future__ import annotations

from math import prod

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="the torch backend needs torch (pip install catlm[torch])")

import catlm  # noqa: E402
from catlm.backends.functor import Kernel  # noqa: E402
from catlm.backends.torch import DiagramModule, compile_torch  # noqa: E402
from catlm.core.check import typecheck  # noqa: E402
from catlm.core.diagram import Box, Diagram, copy, delete, identity, swap  # noqa: E402
from catlm.core.types import Finite, Ty  # noqa: E402
from catlm.decoding.chisquare import chi_square_test  # noqa: E402
from catlm.decoding.sampling import generate  # noqa: E402
from catlm.errors import BackendError, BudgetError, SpecError  # noqa: E402
from catlm.models.gpt import GPT, GPTConfig  # noqa: E402
from strategies import examples  # noqa: E402

F64 = torch.float64
SMALL_LM = """
object Tok = fin {V}
object E   = real {d}
object H   = real {d}
kernel emb  : Tok* -> E* = embedding(dim={d}, positions=learned, context={T})
kernel bb   : E* -> H    = transformer(layers={L}, heads=2, context={T})
kernel head : H -> Tok   = linear_softmax(tie=emb)
kernel gen  = emb >> bb >> head
kernel draft: H -> Tok   = linear_softmax()
"""


def floats(kernels: dict) -> dict:
    return {name: np.asarray(k, dtype=np.float64) for name, k in kernels.items()}


def both(example) -> tuple[np.ndarray, DiagramModule]:
    d = typecheck(example.diagram())
    params = floats(example.kernels)
    return catlm.compile(d, backend="numpy", params=params), compile_torch(d, params=params, dtype=F64)


# --- the agreement test -----------------------------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(examples(max_depth=3))
def test_tabulated_probs_equal_the_numpy_tensor(example):
    expected, module = both(example)
    got = module.probs().detach()
    assert got.dtype == F64 and tuple(got.shape) == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(examples(max_depth=3), st.randoms(use_true_random=False))
def test_log_prob_is_the_log_of_the_numpy_tensor(example, rnd):
    expected, module = both(example)
    n_dom, batch = len(example.dom), 7
    cells = [[rnd.randrange(n) for _ in range(batch)] for n in expected.shape]
    ins = [torch.tensor(c) for c in cells[:n_dom]]
    outs = [torch.tensor(c) for c in cells[n_dom:]]
    got = module.log_prob(ins, outs, batch=(batch,)).exp()
    want = expected[tuple(np.array(c) for c in cells)] if cells else np.full(batch, expected)
    np.testing.assert_allclose(got.detach().numpy(), np.broadcast_to(want, (batch,)), rtol=0, atol=1e-10)


def test_log_prob_sums_out_an_internal_stochastic_wire_exactly():
    """f's output is copied: one copy observed, the other through g; so f must be marginalised."""
    A, B = Ty(Finite.range("A", 2)), Ty(Finite.range("B", 3))
    f, g = Box("f", A, B), Box("g", B, A)
    d = typecheck(f >> copy(B) >> (g @ delete(B)))
    P = {"f": np.array([[0.2, 0.3, 0.5], [0.6, 0.4, 0.0]]), "g": np.array([[0.9, 0.1], [0.5, 0.5], [0.3, 0.7]])}
    module = compile_torch(d, params=P, dtype=F64)
    x, y = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1])
    want = (P["f"] @ P["g"])[x.numpy(), y.numpy()]  # Chapman–Kolmogorov by hand
    np.testing.assert_allclose(module.log_prob(x, y).exp().detach().numpy(), want, atol=1e-12)


def test_samples_follow_the_numpy_law_chi_square():
    coin, die = Ty(Finite.range("C", 2)), Ty(Finite.range("D", 3))
    flip, roll = Box("flip", Ty(), coin), Box("roll", coin, die)
    d = typecheck(flip >> copy(coin) >> (identity(coin) @ roll) >> swap(coin, die))
    P = {"flip": np.array([0.3, 0.7]), "roll": np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])}
    law = catlm.compile(d, backend="numpy", params=P)  # (D, C)
    module = compile_torch(d, params=P, dtype=F64)
    die_s, coin_s = module.sample(generator=torch.Generator().manual_seed(0), batch=(20000,))
    result = chi_square_test((die_s * 2 + coin_s).numpy(), law.ravel())
    assert result.pvalue > 1e-3 and result.dof == 5
    skewed = chi_square_test((die_s * 2 + coin_s).numpy(), np.roll(law.ravel(), 1))
    assert skewed.pvalue < 1e-6  # the test can fail: a shifted law is rejected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(examples(max_depth=2), examples(max_depth=2))
def test_the_torch_functor_preserves_tensor_and_composition(a, b):
    params = {**floats(a.kernels), **{f"b{k}": v for k, v in floats(b.kernels).items()}}
    da, db = typecheck(a.diagram()), typecheck(_renamed(b))
    tab = lambda d: compile_torch(d, params=params, dtype=F64).probs().detach().numpy()  # noqa: E731
    kernel = lambda d, arr: Kernel(arr, d.dom.shape, d.cod.shape, atol=1e-10)  # noqa: E731
    both_sides = typecheck(da.diagram @ db.diagram)
    assert kernel(both_sides, tab(both_sides)) == kernel(da, tab(da)) @ kernel(db, tab(db))
    then = typecheck(da.diagram >> Box("k", da.cod, db.dom))
    params["k"] = np.full(da.cod.shape + db.dom.shape, 1.0 / max(1, prod(db.dom.shape)))
    k = typecheck(Diagram.of(Box("k", da.cod, db.dom)))
    assert kernel(then, tab(then)) == kernel(da, tab(da)) >> kernel(k, tab(k))


def _renamed(example):
    from strategies import build
    signature = {f"b{k}": v for k, v in example.signature.items()}
    return build(_rename_term(example.term), signature)


def _rename_term(term):
    if term[0] == "box":
        return ("box", f"b{term[1]}")
    if term[0] in ("then", "tensor"):
        return (term[0], _rename_term(term[1]), _rename_term(term[2]))
    return term


def test_deterministic_boxes_are_function_tables_and_seeded_draws_match_numpy():
    spec = catlm.load("examples/bigram.cat")
    gen = spec.kernels["two"]
    expected = catlm.compile(gen, backend="numpy", seed=5)
    module = catlm.compile(gen, backend="torch", seed=5)
    assert type(module.kernels["emb"]).__name__ == "Function"
    np.testing.assert_allclose(module.to(F64).probs().detach().numpy(), expected, atol=1e-6)


# --- errors -------------------------------------------------------------------------------------------

def test_a_stochastic_implementation_declared_deterministic_is_refused():
    text = SMALL_LM.format(V=7, d=8, T=8, L=1).replace(
        "kernel head : H -> Tok   =", "kernel head : H -> Tok deterministic =")
    with pytest.raises(SpecError, match="kernel 'head' is declared deterministic but linear_softmax"):
        catlm.parse(text)  # decided by the signature table, before any module is built


def test_a_free_kernel_on_a_real_object_needs_an_implementation():
    spec = catlm.parse("object H = real 4\nobject Tok = fin 3\nkernel head : H -> Tok\n")
    with pytest.raises(BackendError, match="has no body") as err:
        catlm.compile(spec.kernels["head"], backend="torch")
    assert "linear_softmax" in err.value.hint


def test_unresolved_params_in_a_literal_are_named():
    spec = catlm.load("examples/coin.cat")
    with pytest.raises(BackendError, match="kernel 'flip': the entry p depends on the param p"):
        catlm.compile(spec.kernels["flip"], backend="torch")
    module = compile_torch(spec.kernels["flip"], subs={"p": "1/4"}, dtype=F64)
    assert module.probs().tolist() == pytest.approx([0.25, 0.75], abs=1e-15)


def test_probs_past_the_budget_is_refused_with_the_size_and_sample_advice():
    A = Ty(Finite.range("A", 40))
    d = typecheck(Box("f", A, A) >> copy(A, 3))
    module = compile_torch(d, seed=0, budget=1 << 16)
    with pytest.raises(BudgetError) as err:
        module.probs(torch.tensor([0]))
    assert "over the budget" in str(err.value) and "sample" in err.value.hint
    assert module.probs(torch.tensor([0]), budget=1 << 22).shape == (1, 40, 40, 40)


def test_inputs_out_of_range_and_wrong_counts_are_catlm_errors():
    A = Ty(Finite.range("A", 2))
    module = compile_torch(typecheck(Diagram.of(Box("f", A, A))), seed=0)
    with pytest.raises(BackendError, match=r"outside \[0, 2\)"):
        module.sample(torch.tensor([2]))
    with pytest.raises(BackendError, match="takes 1 inputs, got 2"):
        module.probs(torch.tensor([0]), torch.tensor([1]))


def test_log_prob_over_an_internal_real_wire_suggests_sampling():
    spec = catlm.parse(SMALL_LM.format(V=5, d=8, T=8, L=1) + "kernel back : Tok -> Tok = table()\n"
                       "kernel two = gen >> back\n")
    module = catlm.compile(spec.kernels["two"], backend="torch")
    assert module.log_prob(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long)).shape == (1, 4)
    chain_lm = catlm.parse(SMALL_LM.format(V=5, d=8, T=8, L=1) + "kernel pair = emb >> bb >> copy >> (head @ draft)\n")
    module = catlm.compile(chain_lm.kernels["pair"], backend="torch")
    with pytest.raises(BackendError, match="forward needs a language-model-shaped diagram"):
        module(torch.zeros(1, 4, dtype=torch.long))


# --- the language-model readings ------------------------------------------------------------------

def small_lm(V=11, d=16, T=12, L=2) -> DiagramModule:
    torch.manual_seed(0)
    return catlm.compile(catlm.parse(SMALL_LM.format(V=V, d=d, T=T, L=L)).kernels["gen"], backend="torch")


def test_the_compiled_lm_has_gpts_logits_with_copied_weights_and_its_loss_is_cross_entropy():
    module = small_lm()
    gpt = GPT(GPTConfig(vocab=11, context=12, layers=2, heads=2, dim=16))
    state = {k.removeprefix("kernels."): v for k, v in module.state_dict().items()}
    gpt.load_state_dict(state, strict=True)
    idx = torch.randint(0, 11, (3, 12), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(module(idx), gpt(idx), rtol=0, atol=0)
    loss = module.loss(idx[:, :-1], idx[:, 1:])
    want = torch.nn.functional.cross_entropy(gpt(idx[:, :-1]).reshape(-1, 11), idx[:, 1:].reshape(-1))
    torch.testing.assert_close(loss, want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(-module.log_prob(idx[:, :-1], idx[:, 1:]).mean(), want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(module.probs(idx), torch.softmax(gpt(idx), -1), rtol=1e-6, atol=1e-7)
    assert module.kernels["head"].weight is module.kernels["emb"].weight  # tie=emb


def test_the_lm_trains_by_autograd_and_moves_to_float64():
    module = small_lm().to(F64)
    idx = torch.randint(0, 11, (2, 9))
    loss = module.loss(idx[:, :-1], idx[:, 1:])
    loss.backward()
    assert loss.dtype == F64 and module.kernels["emb"].weight.grad.abs().sum() > 0


def test_kv_cached_generation_equals_uncached_on_the_compiled_lm():
    module = small_lm().eval()
    prompt = torch.tensor([[1, 2, 3]])
    runs = [generate(module, prompt, 15, generator=torch.Generator().manual_seed(4), use_cache=c)
            for c in (True, False)]
    assert torch.equal(runs[0].tokens, runs[1].tokens)  # 15 tokens: the window slides past T = 12
    torch.testing.assert_close(runs[0].logprobs, runs[1].logprobs, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_the_compiled_lm_works_under_torch_compile_when_available():
    module = small_lm()
    idx = torch.randint(0, 11, (2, 8))
    try:
        compiled = torch.compile(module, backend="eager")
    except Exception as err:  # torch.compile is optional: some builds lack it
        pytest.skip(f"torch.compile is unavailable here: {err}")
    torch.testing.assert_close(compiled(idx), module(idx))
