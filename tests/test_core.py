"""The string-diagram IR: the equations of a free symmetric monoidal category hold as graph
isomorphisms, the ones that should not hold do not, and typecheck rejects malformed graphs."""
from __future__ import annotations

import time

import networkx as nx
import pytest

from catlm.core.check import TypedDiagram, typecheck
from catlm.core.diagram import Box, Copy, Delete, Diagram, Kind, Swap, copy, delete, identity, swap
from catlm.core.markov import axioms_at, determinism
from catlm.core.types import I, Finite, Real, Seq, Ty
from catlm.errors import WiringError

A, B, C = (Ty(Finite.range(n, k)) for n, k in (("A", 2), ("B", 3), ("C", 4)))
f, g, h = Box("f", A, B), Box("g", B, C), Box("h", A, A)


def test_types_form_a_free_monoid():
    assert (A @ B) @ C == A @ (B @ C) and A @ I == A == I @ A
    assert A ** 3 == A @ A @ A and len(A ** 0) == 0
    assert (A @ B).shape == (2, 3) and str(I) == "I" and str(A @ B) == "A @ B"
    assert Ty(Seq("A*", A[0])) != A and not Ty(Real("R", 3)).is_finite


def test_category_laws_hold_up_to_isomorphism():
    assert (f >> g) >> identity(C) == f >> (g >> identity(C)) == identity(A) >> f >> g
    assert (f @ h) @ g == f @ (h @ g)
    assert identity(I) @ f == f == f @ identity(I)


def test_interchange_law():
    assert (f >> g) @ (h >> h) == (f @ h) >> (g @ h)
    assert f @ h == (f @ identity(A)) >> (identity(B) @ h) == (identity(A) @ h) >> (f @ identity(A))


def test_the_symmetry_is_wiring_so_the_symmetric_monoidal_axioms_hold():
    assert swap(A, B) >> swap(B, A) == identity(A @ B)
    assert (f @ g) >> swap(B, C) == swap(A, B) >> (g @ f)  # naturality of the symmetry
    assert swap(A, B @ C) == (swap(A, B) @ identity(C)) >> (identity(B) @ swap(A, C))  # hexagon
    assert copy(A) >> swap(A, A) >> swap(A, A) == copy(A)
    assert not any(isinstance(gen, Swap) for gen in ((f @ g) >> swap(B, C)).generators)
    w = swap(A, B).wiring
    assert w.steps == () and w.outputs == tuple(reversed(w.inputs))


def test_a_swap_is_still_drawn_as_a_node():
    drawn = ((f @ h) >> swap(B, A)).drawn
    assert [type(gen).__name__ for gen in drawn.generators].count("Swap") == 1
    assert (drawn.dom, drawn.cod) == (A @ A, A @ B)


def test_a_chain_of_ten_thousand_kernels_builds_and_typechecks_in_seconds():
    start = time.perf_counter()
    chain = h
    for i in range(9_999):
        chain = chain >> Box(f"k{i}", A, A)
    built = time.perf_counter() - start
    typed = typecheck(chain)
    assert len(typed.wiring.steps) == 10_000 and typed.dom == typed.cod == A
    assert chain.expr.startswith("h >> k0 >> k1 >> ") and chain.expr.endswith(" >> k9998")
    # a hang guard, not a speed goal (benchmarks/scale.py measures): the quadratic composition
    # this replaced took 11 s for 800 kernels, so half an hour for these 10,000
    assert built < 30.0, f"building took {built:.1f} s"
    assert time.perf_counter() - start < 120.0


def test_long_chains_compare_in_linear_time():
    def chain(last):
        out = h
        for i in range(4_998):
            out = out >> Box(f"k{i}", A, A)
        return out >> Box(last, A, A)
    start = time.perf_counter()
    assert chain("end") == chain("end") and chain("end") != chain("other")
    assert time.perf_counter() - start < 120.0  # a hang guard: networkx's VF2 alone took minutes


def test_isomorphism_with_repeated_generators():
    s, e = Box("s", I, A), Box("e", A, I)
    floating = s >> copy(A) >> (e @ e)
    assert (s >> e) @ floating == floating @ (s >> e)  # closed diagrams float: their order is free
    assert (h @ h) >> swap(A, A) == swap(A, A) >> (h @ h)
    assert copy(A) >> (h @ identity(A)) != copy(A) >> (identity(A) @ h)


def test_a_diagram_nested_thousands_deep_is_read_without_recursion():
    x = Box("s", I, A)
    for i in range(3_000):  # (x @ e) >> g: every step nests the last one a level deeper
        x = (x @ Box(f"e{i}", I, A)) >> Box(f"g{i}", A @ A, A)
    typed = typecheck(x)
    assert len(typed.wiring.steps) == 6_001 and typed.dom == I and typed.cod == A
    assert x.expr.startswith("(" * 2_999 + "s @ e0 >> g0) @ e1 >> g1) @ e2 >> g2)")  # @ binds tighter
    assert x.expr.endswith(") @ e2999 >> g2999")


def test_composition_does_not_build_graphs():
    d = (f @ h) >> (g @ h)
    assert "graph" not in d.__dict__ and "graph" not in Diagram.of(f).__dict__
    assert d.graph.number_of_nodes() == 6  # four boxes and the two boundaries


def test_box_kinds_are_an_enum():
    assert Box("f", A, B, deterministic=True).kind is Kind.DETERMINISTIC
    assert f.kind is Kind.STOCHASTIC and str(Kind.STOCHASTIC) == "stochastic"


def test_different_diagrams_differ():
    assert h >> h != h
    assert copy(A) >> (f @ f) != f >> copy(B)
    assert swap(A, A) != identity(A @ A)
    assert Box("f", A, B, deterministic=True) >> g != f >> g


def test_composition_checks_types_and_names_both():
    with pytest.raises(WiringError, match=r"`f` : A -> B with `h` : A -> A: B is not A"):
        f >> h


def test_copy_of_a_product_interleaves_the_copies():
    d = copy(A @ B)
    assert d.dom == A @ B and d.cod == A @ B @ A @ B
    assert sorted(type(gen).__name__ for gen in d.generators) == ["Copy", "Copy"]
    w = d.wiring
    a_in, b_in = w.inputs
    steps = {w.wires[s.ins[0]].name: s for s in w.steps}
    assert w.outputs == (steps["A"].outs[0], steps["B"].outs[0], steps["A"].outs[1], steps["B"].outs[1])


def test_wiring_of_identity_is_straight_through():
    w = identity(A @ B).wiring
    assert w.inputs == w.outputs and w.steps == ()


def test_wiring_schedule_is_topological():
    d = h >> copy(A) >> (f @ delete(A))
    w = d.wiring
    written = set(w.inputs)
    for step in w.steps:
        assert set(step.ins) <= written
        written |= set(step.outs)
    assert [type(s.gen).__name__ for s in w.steps][0] == "Box"


def test_typecheck_accepts_and_rejects():
    typed = typecheck(copy(A) >> (h @ h), name="k")
    assert isinstance(typed, TypedDiagram) and str(typed) == "k : A -> A @ A"
    with pytest.raises(WiringError, match="declared as A -> A"):
        typecheck(f, dom=A, cod=A)
    with pytest.raises(TypeError, match="typecheck"):
        TypedDiagram(Diagram.of(f))


def _graph_of(d: Diagram) -> nx.MultiDiGraph:
    return nx.MultiDiGraph(d.graph)


def test_typecheck_rejects_a_port_wired_twice():
    g = _graph_of(h >> h)
    u, v, k, data = next(e for e in g.edges(keys=True, data=True) if e[0] == "dom")
    g.add_edge(u, v, key="extra", **data)
    with pytest.raises(WiringError, match="wired"):
        typecheck(Diagram.from_graph(g, A, A, "bad"))


def test_typecheck_rejects_a_cycle():
    g = _graph_of(h >> h)
    g.remove_edges_from([(u, v, k) for u, v, k in g.edges(keys=True) if u == "dom" or v == "cod"])
    g.add_edge(1, 0, key="loop", src=0, tgt=0, ob=A[0])
    g.add_edge("dom", "cod", key="id", src=0, tgt=0, ob=A[0])
    with pytest.raises(WiringError):
        typecheck(Diagram.from_graph(g, A, A, "cyclic"))


def test_typecheck_rejects_a_wire_of_the_wrong_object():
    g = _graph_of(Diagram.of(h))
    (u, v, k, data), = [e for e in g.edges(keys=True, data=True) if e[0] == "dom"]
    g.remove_edge(u, v, k)
    g.add_edge(u, v, key=k, **{**data, "ob": B[0]})
    bad = Diagram.from_graph(g, B, A, "bad")
    with pytest.raises(WiringError, match="wire of object B"):
        typecheck(bad)


def test_markov_axioms_are_parallel_equations():
    eqs = axioms_at(A, (B,))
    names = {e.name.split("[")[0] for e in eqs}
    assert {"coassociativity", "cocommutativity", "counitality_left", "counitality_right",
            "involution", "copy_tensor", "delete_tensor", "hexagon", "copy_unit"} <= names
    for e in eqs:
        assert (e.lhs.dom, e.lhs.cod) == (e.rhs.dom, e.rhs.cod)
    # as graphs, the sides differ except where the axiom is an isomorphism of port graphs
    assert determinism(h).lhs != determinism(h).rhs


def test_generators_compose_directly():
    d = Copy(A[0]) >> (Delete(A[0]) @ Box("h", A, A))
    assert d == copy(A) >> (delete(A) @ h) and (Swap(A, B) >> swap(B, A)).cod == A @ B
