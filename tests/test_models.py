"""The registry and the torch modules of catlm.models: shapes, dims, errors, causality, KV cache."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="catlm.models needs torch (pip install catlm[torch])")

from catlm.core.diagram import Kind  # noqa: E402
from catlm.core.types import Finite, Real, Seq, Ty  # noqa: E402
from catlm.errors import SpecError, WiringError  # noqa: E402
from catlm.models.gpt import GPT, GPTConfig  # noqa: E402
from catlm.models.registry import IMPLEMENTATIONS, build, kind  # noqa: E402

from nanogpt import from_gpt  # noqa: E402

TOK = Finite.range("Tok", 50)
E, H = Real("E", 16), Real("H", 16)


def test_registry_lists_the_six_implementations_with_their_kinds():
    assert {n: impl.kind.value for n, impl in IMPLEMENTATIONS.items()} == {
        "embedding": "deterministic", "transformer": "deterministic", "llama": "deterministic",
        "mlp": "deterministic", "linear_softmax": "stochastic", "table": "stochastic"}
    assert kind("table") is Kind.STOCHASTIC


def test_unknown_implementation_lists_valid_names():
    with pytest.raises(SpecError) as err:
        build("lstm", {}, Seq("E*", E), H, kernel="bb")
    assert "unknown implementation 'lstm'" in str(err.value)
    assert all(name in str(err.value) for name in IMPLEMENTATIONS)


def test_unknown_argument_names_it_and_the_valid_ones():
    with pytest.raises(SpecError) as err:
        build("embedding", {"dims": 16}, Seq("Tok*", TOK), Seq("E*", E), kernel="emb")
    text = str(err.value)
    assert "'emb'" in text and "'dims'" in text and "dim, positions, context, dropout" in text


@pytest.mark.parametrize("args, words", [
    ({"dim": 16, "positions": "rotary"}, ["positions=rotary", "learned, none"]),
    ({"dim": "big"}, ["dim=...", "an integer"]),
    ({"positions": "none"}, ["needs the argument 'dim'"]),
    ({"dim": 0}, ["dim=0", "at least 1"]),
])
def test_invalid_argument_values_are_named(args, words):
    with pytest.raises(SpecError) as err:
        build("embedding", args, Seq("Tok*", TOK), Seq("E*", E), kernel="emb")
    assert all(w in str(err.value) for w in words)


def test_embedding_dim_must_match_the_codomain():
    with pytest.raises(SpecError) as err:
        build("embedding", {"dim": 128}, Seq("Tok*", TOK), Seq("E*", Real("E", 256)), kernel="emb")
    assert "kernel 'emb'" in str(err.value) and "dim=128" in str(err.value) and "real 256" in str(err.value)


def test_transformer_needs_a_sequence_of_the_hidden_width():
    with pytest.raises(WiringError, match="reads sequences"):
        build("transformer", {"layers": 1, "heads": 2, "context": 8}, E, H, kernel="bb")
    with pytest.raises(WiringError, match="differ"):
        build("transformer", {"layers": 1, "heads": 2, "context": 8}, Seq("E*", E), Real("H", 8))
    with pytest.raises(SpecError, match="heads=3"):
        build("transformer", {"layers": 1, "heads": 3, "context": 8}, Seq("E*", E), H)


def test_head_codomain_must_be_finite_and_tie_must_fit():
    with pytest.raises(WiringError, match="codomain"):
        build("linear_softmax", {}, H, Real("X", 3), kernel="head")
    with pytest.raises(SpecError, match="names no embedding"):
        build("linear_softmax", {"tie": "emb"}, H, TOK, kernel="head", modules={})
    emb = build("embedding", {"dim": 16}, Seq("Tok*", Finite.range("V", 7)), Seq("E*", E))
    with pytest.raises(SpecError, match=r"\(7, 16\).*\(50, 16\)"):
        build("linear_softmax", {"tie": "emb"}, H, TOK, kernel="head", modules={"emb": emb})


def test_tied_head_shares_the_embedding_parameter():
    emb = build("embedding", {"dim": 16}, Seq("Tok*", TOK), Seq("E*", E), kernel="emb")
    head = build("linear_softmax", {"tie": "emb", "bias": "true"}, H, TOK, modules={"emb": emb})
    untied = build("linear_softmax", {"tie": "none"}, H, TOK)
    assert head.weight is emb.weight and head.bias.shape == (50,)
    assert untied.weight is not emb.weight and untied.bias is None


def test_shapes_of_every_implementation():
    idx = torch.randint(0, 50, (3, 5))
    emb = build("embedding", {"dim": 16, "context": 8}, Seq("Tok*", TOK), Seq("E*", E))
    bb = build("transformer", {"layers": 2, "heads": 4, "context": 8}, Seq("E*", E), H)
    mlp = build("mlp", {"hidden": 32, "layers": 3}, H, Real("Z", 5))
    head = build("linear_softmax", {}, H, TOK)
    x = bb(emb(idx))
    assert emb(idx).shape == (3, 5, 16) and x.shape == (3, 5, 16)
    assert mlp(x).shape == (3, 5, 5) and head(x).shape == (3, 5, 50)
    assert sum(isinstance(m, torch.nn.Linear) for m in mlp.modules()) == 3


def test_table_is_a_stochastic_matrix_over_flattened_products():
    coin, die = Finite("Coin", ("h", "t")), Finite.range("Die", 6)
    table = build("table", {}, Ty(coin) @ Ty(die), die, kernel="k")
    probs = table.probs()
    assert probs.shape == (12, 6)
    assert torch.allclose(probs.sum(1), torch.ones(12)) and bool((probs > 0).all())
    assert torch.equal(table(torch.tensor([0, 11])), table.logits[[0, 11]])
    with pytest.raises(WiringError, match="not finite"):
        build("table", {}, H, die, kernel="k")


def test_backbone_is_causal():
    """Hidden state t depends on tokens 0..t only: changing token 5 leaves rows 0..4 unchanged."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab=50, context=16, layers=2, heads=2, dim=16)).eval()
    a = torch.randint(0, 50, (1, 8))
    b = a.clone()
    b[0, 5] = (a[0, 5] + 1) % 50
    ha, hb = model.hidden(a), model.hidden(b)
    assert torch.equal(ha[:, :5], hb[:, :5]) and not torch.allclose(ha[:, 5], hb[:, 5])


@pytest.mark.parametrize("split", [1, 3, 7])
def test_kv_cache_gives_the_full_forward(split):
    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab=50, context=16, layers=2, heads=4, dim=16)).double().eval()
    idx = torch.randint(0, 50, (2, 10))
    cache = model.new_cache()
    parts = [model(idx[:, :split], cache=cache)]
    parts += [model(idx[:, t:t + 1], cache=cache, start_pos=t) for t in range(split, 10)]
    assert cache.length == 10
    assert torch.allclose(torch.cat(parts, dim=1), model(idx), atol=1e-12)


def test_cache_and_context_misuse_raise():
    model = GPT(GPTConfig(vocab=50, context=8, layers=1, heads=2, dim=16))
    cache = model.new_cache()
    model(torch.zeros(1, 3, dtype=torch.long), cache=cache)
    with pytest.raises(Exception, match="start_pos=0 but the KV cache holds 3"):
        model(torch.zeros(1, 1, dtype=torch.long), cache=cache)
    with pytest.raises(Exception, match="context of 8"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_gpt_and_hand_written_nanogpt_agree_on_copied_weights():
    torch.manual_seed(2)
    gpt = GPT(GPTConfig(vocab=65, context=32, layers=2, heads=4, dim=32)).double().eval()
    nano = from_gpt(gpt).eval()
    idx = torch.randint(0, 65, (3, 32))
    logits, loss = nano(idx[:, :-1], idx[:, 1:])
    assert torch.allclose(logits, gpt(idx[:, :-1]), atol=1e-12)
    assert torch.allclose(loss, gpt.loss(idx[:, :-1], idx[:, 1:]), atol=1e-12)


def test_gpt_gradients_match_nanogpt():
    torch.manual_seed(3)
    gpt = GPT(GPTConfig(vocab=65, context=16, layers=1, heads=2, dim=16, chunk=20)).double()
    nano = from_gpt(gpt)
    idx = torch.randint(0, 65, (2, 16))
    gpt.loss(idx[:, :-1], idx[:, 1:]).backward()
    nano(idx[:, :-1], idx[:, 1:])[1].backward()
    assert torch.allclose(gpt.emb.wte.weight.grad, nano.transformer.wte.weight.grad, atol=1e-12)
    assert torch.allclose(gpt.bb.h[0].attn.c_attn.weight.grad,
                          nano.transformer.h[0].attn.c_attn.weight.grad, atol=1e-12)


def test_positions_none_makes_the_model_blind_to_order_at_the_first_layer():
    """Without positions, the last hidden state is invariant to permuting the earlier tokens."""
    torch.manual_seed(4)
    model = GPT(GPTConfig(vocab=50, context=8, layers=1, heads=2, dim=16, positions="none")).double()
    a = torch.tensor([[1, 2, 3, 4]])
    b = torch.tensor([[3, 1, 2, 4]])
    assert torch.allclose(model(a)[0, -1], model(b)[0, -1], atol=1e-12)
    assert model.emb.wpe is None
