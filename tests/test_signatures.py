"""The signature table of the implementations: torch-free data that the torch registry reads.

``catlm check`` binds implementation bodies with ``catlm.core.signatures.bind`` and never
imports torch; ``catlm.models.registry.build`` binds with the same function, so a spec that checks
is a spec whose modules build, and an argument the registry refuses is refused by the checker.
"""
from __future__ import annotations

import pytest

from catlm.core.types import Finite, Real, Seq, Ty
from catlm.errors import SpecError, WiringError
from catlm.core.signatures import SIGNATURES, Call, bind

from no_torch import run_without_torch  # noqa: E402

TOK, E, H = Finite.range("Tok", 50), Real("E", 16), Real("H", 16)


def call(name: str, dom, cod, **args) -> Call:
    return Call("k", name, tuple(args.items()), dom, cod)


def test_signatures_import_and_bind_without_torch():
    result = run_without_torch(
        "from catlm.core.types import Finite, Real, Seq\n"
        "from catlm.core.signatures import Call, bind\n"
        "tok, e = Finite.range('Tok', 5), Real('E', 4)\n"
        "print(bind(Call('emb', 'embedding', (('dim', 4),), Seq('Tok*', tok), Seq('E*', e))))\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "{'dim': 4, 'positions': 'learned', 'context': 1024, 'dropout': 0.0}"


def test_the_registry_builds_exactly_the_signed_implementations():
    pytest.importorskip("torch", reason="the registry builds torch modules (pip install catlm[torch])")
    from catlm.models.registry import IMPLEMENTATIONS
    assert set(IMPLEMENTATIONS) == set(SIGNATURES)
    assert all(impl.signature is SIGNATURES[name] for name, impl in IMPLEMENTATIONS.items())


@pytest.mark.parametrize("bad, error, words", [
    (call("embedding", Seq("Tok*", TOK), Seq("E*", E), dim=8), SpecError, ["dim=8", "E = real 16"]),
    (call("embedding", Seq("Tok*", TOK), Seq("E*", E), dim=16, width=2), SpecError,
     ["no argument 'width'", "dim, positions, context, dropout"]),
    (call("embedding", Seq("Tok*", TOK), Seq("E*", E), dim=2.5), SpecError, ["an integer", "2.5"]),
    (call("embedding", Seq("Tok*", TOK), Seq("E*", E), dim=16, dropout=1), SpecError, ["[0, 1)"]),
    (call("embedding", E, E, dim=16), WiringError, ["domain E", "finite"]),
    (call("transformer", Seq("E*", E), Real("H", 8), layers=1, heads=2, context=4), WiringError,
     ["E = real 16 differs from H = real 8", "keeps the width"]),
    (call("transformer", Seq("E*", E), H, layers=1, heads=3, context=4), SpecError,
     ["heads=3", "does not divide"]),
    (call("transformer", E, H, layers=1, heads=2, context=4), WiringError, ["reads sequences"]),
    (call("table", Ty(TOK, Seq("Tok*", TOK)), Ty(TOK)), WiringError, ["is not finite"]),
    (call("lstm", E, H), SpecError, ["unknown implementation 'lstm'", "embedding, transformer"]),
])
def test_bind_refuses_calls_that_disagree_with_the_signature(bad, error, words):
    with pytest.raises(error) as err:
        bind(bad)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_tie_must_name_an_earlier_embedding_of_the_head_shape():
    emb = call("embedding", Seq("Tok*", Finite.range("V", 7)), Seq("E*", E), dim=16)
    head = call("linear_softmax", H, TOK, tie="emb")
    with pytest.raises(SpecError, match="V of size 7 differs from Tok of size 50"):
        bind(head, {"emb": emb})
    with pytest.raises(SpecError, match="no embedding is declared as 'emb'"):
        bind(head, {})
    table = call("table", Ty(TOK), Ty(TOK))
    with pytest.raises(SpecError, match="'emb' is not an embedding"):
        bind(head, {"emb": table})
    good = call("embedding", Seq("Tok*", TOK), Seq("E*", E), dim=16)
    assert bind(head, {"emb": good}) == {"tie": "emb", "bias": False}


def test_an_argument_left_at_none_takes_part_in_no_relation(monkeypatch):
    from catlm.core.signatures import Param, Relation, Side, Signature
    real = Side("real", "a real object")
    derived = Signature("derived", "deterministic", "real n -> real n",
                        (Param("width", "int", None, low=1),), real, real,
                        (Relation("width", "==", "cod.dim", "make them equal"),))
    monkeypatch.setitem(SIGNATURES, "derived", derived)
    assert bind(call("derived", E, H)) == {"width": None}
    with pytest.raises(SpecError, match=r"derived\(width=3\) differs from H = real 16"):
        bind(call("derived", E, H, width=3))
