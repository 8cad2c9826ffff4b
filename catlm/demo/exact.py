"""The demo's exact sections: the bundled specs, the order-r source of the corpus, the surplus.

Everything here is exact FinStoch arithmetic or counting (no torch): the laws of the bundled
``.cat`` specs are decided with Fractions (``catlm.laws.decide``); the corpus's order-r source
(``catlm.data.ngram``) gives H(X_r | X_<r) from its counts (Eq. 5.2 of the paper); the information
surplus I(H; W_{2:K} | W_1) of encoders that keep the last j characters is computed from the
source's K-step kernel ([A18] Eq. 4.2; Zhang, arXiv 2507.19247 §4.1).

>>> LANGUAGE_SPECS
('coin.cat', 'bigram.cat', 'lm.cat', 'char.cat')
"""
from __future__ import annotations

import math

from catlm.analysis.surplus import information_surplus
from catlm.analysis.report import Table, line_plot, markdown_table
from catlm.demo.plan import Figure, Section
from catlm.demo.spec import bundled_path
from catlm.demo.workspace import Workspace

LANGUAGE_SPECS = ("coin.cat", "bigram.cat", "lm.cat", "char.cat")
LN2 = math.log(2)


# --- 1. the language ----------------------------------------------------------------------------------

def language(ws: Workspace) -> Section:
    """Check, draw and decide the laws of every bundled spec."""
    import catlm
    from catlm.drawing.render import render
    from catlm.laws import decide
    kernels, laws, figures = [], [], []
    for name in LANGUAGE_SPECS:
        spec = catlm.load(bundled_path(name))
        kernels += [(name, k, f"{d.dom} -> {d.cod}") for k, d in spec.kernels.items()]
        laws += [(name, r.name, r.kind, _verdict(r), r.detail) for r in decide(spec, exact=True)]
        file = f"spec-{name.removesuffix('.cat')}.png"
        largest = max(spec.kernels, key=lambda k: len(spec.kernels[k].diagram.generators))
        render(spec.kernels[largest], ws.out / file)
        figures.append(Figure(file, f"{name}: the string diagram of `{largest}`"))
    text = "\n".join([
        "A language model's generation step is the composite of Markov kernels "
        "k_gen = k_head ∘ k_bb ∘ k_emb in the category Stoch. catlm writes such composites as "
        f"`.cat` text. The {len(LANGUAGE_SPECS)} bundled specs were parsed, type-checked as string "
        f"diagrams ({len(kernels)} kernels) and drawn; every law and check they state was decided "
        "exactly, in Fractions (or sympy where a parameter stays symbolic).", "",
        *markdown_table(Table("Kernels and their types", ("spec", "kernel", "type"), tuple(kernels))),
        *markdown_table(Table("Laws and checks, decided exactly",
                              ("spec", "relation", "kind", "verdict", "first difference"), tuple(laws)))])
    data = {"kernels": len(kernels), "laws": [dict(zip(("spec", "name", "kind", "verdict", "detail"), row))
                                              for row in laws],
            "all_as_expected": all(row[3] in ("holds", "fails as stated") for row in laws)}
    return Section("The language: bundled specs checked, drawn, laws decided", text, tuple(figures), data)


def _verdict(result) -> str:
    if result.ok:
        return "holds" if result.holds else "fails as stated"
    return "HOLDS (stated to fail)" if result.holds else "FAILS"


# --- 2. the exact order-r source ------------------------------------------------------------------------

def source(ws: Workspace) -> Section:
    """H(X_r | X_<r) of the corpus for each order r, in bits and nats."""
    orders = ws.config.orders
    sources = [ws.source(r) for r in orders]
    nats = [s.conditional_entropy() for s in sources]
    rows = tuple((r, len(s.codes), h / LN2, h) for r, s, h in zip(orders, sources, nats))
    figure = line_plot(ws.out, "source-entropy.png", {"H(X_r | X_<r)": (list(orders), [h / LN2 for h in nats])},
                       title="Conditional entropy of the corpus by order", xlabel="order r",
                       ylabel="bits per character",
                       caption="The exact plug-in conditional entropy of the corpus falls with the order r")
    text = "\n".join([
        f"The corpus ({ws.config.corpus}, {len(ws.tokens):,} characters, an alphabet of {ws.vocab}) "
        "defines an exact order-r source for each r: its contexts are the r-character windows "
        "that occur, µ their frequency, and k_data the observed next-character law. Its "
        "conditional entropy H(X_r | X_<r) is computed exactly from the counts; it is the "
        "best loss in nats a model that reads r characters can reach on this text (Thm 5.1).", "",
        *markdown_table(Table("Conditional entropy of the order-r source",
                              ("r", "contexts", "bits/char", "nats/char"), rows))])
    data = {"orders": list(orders), "contexts": [len(s.codes) for s in sources],
            "entropy_nats": nats, "entropy_bits": [h / LN2 for h in nats], "characters": len(ws.tokens),
            "vocab": ws.vocab}
    return Section("The exact order-r source of the corpus", text, (figure,), data)


# --- 5. information surplus --------------------------------------------------------------------------

def surplus(ws: Workspace) -> Section:
    """Surplus_K of the encoders keeping the last j characters of an order-r context."""
    r, steps = ws.config.surplus_order, ws.config.surplus_steps
    src = ws.source(r, cyclic=True)   # cyclic: every path of K steps stays among observed contexts
    law, encoders = src.context_law(), [src.suffix_encoder(keep) for keep in range(r + 1)]
    found = {}
    for K in steps:   # one sparse K-step kernel per K, read by every encoder
        kernel = src.k_step_kernel(K)
        found.update({(keep, K): information_surplus(law, kernel, encoder, steps=K)
                      for keep, encoder in enumerate(encoders)})
    rows = [(keep, K, *_bits(found[keep, K])) for keep in range(r + 1) for K in steps]
    series = {f"keeps last {j}": (list(steps), [row[2] for row in rows if row[0] == j]) for j in range(r + 1)}
    figure = line_plot(ws.out, "surplus.png", series, title="Information surplus by K",
                       xlabel="K (tokens ahead)", ylabel="bits",
                       caption="Surplus_K = I(H; W_2..W_K | W_1) for encoders keeping the last j characters")
    text = "\n".join([
        f"A hidden state H_t that reads the context carries information about the whole block "
        "W_t..W_{t+K-1}, not only about W_t: the information surplus "
        "Surplus_K = I(H; W_{t+1:t+K-1} | W_t) (A18 Eq. 4.2) is what a single-token head "
        f"ignores, and what speculative decoding can use. Here the source is the order-{r} "
        "source of the corpus (read cyclically, so µ is stationary) and the encoder keeps the "
        "last j characters of the context; every number is exact, with its upper bound "
        "H(W_{2:K} | W_1).", "",
        *markdown_table(Table("Surplus by K (bits)",
                              ("keeps j", "K", "surplus", "upper bound", "I(H; W_1..K)", "I(H; W_1)"),
                              tuple(rows)))])
    data = {"order": r, "rows": [dict(zip(("keep", "K", "surplus", "upper_bound", "mi_block", "mi_first"), row))
                                 for row in rows]}
    return Section("Information surplus by K", text, (figure,), data)


def _bits(s) -> tuple[float, float, float, float]:
    """(surplus, upper bound, I(H; W_1..K), I(H; W_1)) in bits, from the source's nats."""
    return s.value / LN2, s.upper_bound / LN2, s.mi_block / LN2, s.mi_first / LN2
