"""The paper's quantities on a pretrained LLM, bounded so that they run in minutes on a CPU.

A converted checkpoint (``catlm convert``: SmolLM2-135M has V = 49,152 tokens and d = 576) is too
large for the dense estimators of ``catlm.analysis.estimators``: one pullback metric
``g*(h) = Wᵀ(diag p − p pᵀ)W`` (paper §6) formed densely costs V·d² ≈ 1.6·10¹⁰ multiply-adds, and a
chunk of 4,096 rows of (N, V) log-probabilities is 1.6 GB. Here

* g*(h) is never formed: its top eigenvalues come from Lanczos iterations (ARPACK's ``eigsh``) on
  the matrix-free product ``g* v = Wᵀ(p ⊙ (Wv − pᵀWv))`` (``geometry.metric_matvec``, 2·V·d per
  product), and its trace exactly from ``tr g* = Σ_v p_v ‖w_v‖² − ‖Wᵀp‖²``; the averaged metric
  Ḡ = E g*(h) the same way, its product averaged over the contexts;
* the estimators that form (N, V) rows run on slices of the hidden states (``SLICE`` rows);
* the model reads a few thousand held-out tokens in windows of ``block`` tokens, and the n-gram
  entropies of the corpus are counted on the model's own tokens (counting is cheap).

Beside the trained model every quantity is measured on its untrained twin (the same architecture
at random initialisation, ``catlm.runs.loading.untrained_twin``), so what training adds is read off.

>>> import numpy as np
>>> from catlm.analysis.geometry import pullback_metric
>>> rng = np.random.default_rng(0)
>>> W, h = rng.standard_normal((50, 6)), rng.standard_normal(6)
>>> top = lanczos_metric(W, h, k=3)
>>> dense = np.linalg.eigvalsh(pullback_metric(W, h))[::-1]
>>> bool(np.allclose(top.eigenvalues, dense[:3])), bool(np.isclose(top.trace, dense.sum()))
(True, True)
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from catlm.analysis.geometry import head_probs, metric_matvec

__all__ = ["Budget", "TopSpectrum", "lanczos_metric", "lanczos_averaged_metric", "metric_summary",
           "sliced", "ngram_entropies", "pretrained_report", "principal_components", "aligned_components", "SLICE", "QUICK"]

SLICE = 256  # hidden states per slice when (rows, V) probabilities are formed


@dataclass(frozen=True, slots=True)
class Budget:
    """How much of the held-out text and how many contexts the analysis reads."""

    tokens: int = 2048           # held-out tokens the model reads
    block: int = 256             # tokens per window (a fresh context each window)
    metric_contexts: int = 16    # contexts whose g*(h) spectrum is computed
    eigenvalues: int = 32        # top eigenvalues per metric (Lanczos)
    tail: float = 1e-9           # probability mass per context the Lanczos products leave out
    alignment_contexts: int = 512
    components: int = 32         # principal directions of E[h | context] kept for the alignment
    teacher_tokens: int = 200_000  # held-out tokens the n-gram teacher is counted on
    orders: tuple[int, ...] = (0, 1, 2, 3)


QUICK = Budget(tokens=512, block=128, metric_contexts=8, eigenvalues=16, alignment_contexts=128,
               components=16, teacher_tokens=50_000, orders=(0, 1, 2))


@dataclass(frozen=True)
class TopSpectrum:
    """The top eigenvalues (k,) of a PSD metric, descending, and its exact trace."""

    eigenvalues: np.ndarray
    trace: float

    @property
    def top_share(self) -> float:
        """λ_1 / tr g: the share of the metric's total sensitivity along its stiffest direction."""
        return float(self.eigenvalues[0] / self.trace)

    @property
    def captured(self) -> float:
        """(λ_1 + … + λ_k) / tr g."""
        return float(self.eigenvalues.sum() / self.trace)

    @property
    def spread(self) -> float:
        """λ_1 / λ_k."""
        return float(self.eigenvalues[0] / self.eigenvalues[-1])


def _top(matvec, d: int, k: int, seed: int) -> np.ndarray:
    """The k largest eigenvalues of a symmetric PSD operator (d, d), descending."""
    if k >= d - 1:  # ARPACK needs k < d; a tiny operator is formed and solved densely
        dense = np.column_stack([matvec(e) for e in np.eye(d)])
        return np.linalg.eigvalsh((dense + dense.T) / 2)[::-1][:k]
    v0 = np.random.default_rng(seed).standard_normal(d)
    values = eigsh(LinearOperator((d, d), matvec=matvec, dtype=float), k=k, which="LA",
                   v0=v0, return_eigenvectors=False, tol=1e-8)
    return np.sort(values)[::-1]


def _trace(W: np.ndarray, p: np.ndarray) -> float:
    """tr Wᵀ(diag p − p pᵀ)W = Σ_v p_v ‖w_v‖² − ‖Wᵀp‖², exactly, in O(V·d)."""
    return float(p @ np.einsum("vd,vd->v", W, W) - np.sum((p @ W) ** 2))


def support(p: np.ndarray, tail: float) -> np.ndarray:
    """The fewest tokens whose mass is at least 1 − tail (all tokens for tail = 0)."""
    if tail <= 0:
        return np.arange(len(p))
    order = np.argsort(-p, kind="stable")
    return np.sort(order[:int(np.searchsorted(np.cumsum(p[order]), 1.0 - tail)) + 1])


def lanczos_metric(W: np.ndarray, h: np.ndarray, k: int = 32, bias=None, seed: int = 0,
                   tail: float = 0.0) -> TopSpectrum:
    """The top-k spectrum of g*(h) by Lanczos on ``metric_matvec`` (g* is never formed) and its
    exact trace. With ``tail`` > 0 the products read only the tokens carrying mass 1 − tail: the
    metric moves by at most 3·tail·max_v ‖w_v‖² in operator norm (each dropped term of
    Σ p_v w_v w_vᵀ − m mᵀ is bounded by its mass times ‖w_v‖²), and a product costs 2·|support|·d."""
    W = np.asarray(W, dtype=float)
    p = head_probs(W, np.asarray(h, dtype=float), bias)
    kept = support(p, tail)
    Ws, ps = W[kept], p[kept]
    return TopSpectrum(_top(lambda v: metric_matvec(Ws, ps, v), W.shape[1], k, seed), _trace(W, p))


def lanczos_averaged_metric(W: np.ndarray, hs: np.ndarray, k: int = 32, bias=None,
                            seed: int = 0) -> TopSpectrum:
    """The top-k spectrum of Ḡ = mean over hs (n, d) of g*(h), by Lanczos on the averaged product."""
    W = np.asarray(W, dtype=float)
    P = head_probs(W, np.atleast_2d(np.asarray(hs, dtype=float)), bias)  # (n, V)
    mean_p, M = P.mean(axis=0), P @ W  # p̄ (V,) and the rows m_i = Wᵀp_i (n, d)

    def matvec(v):  # Ḡv = Wᵀ(p̄ ⊙ Wv) − (1/n) Σ m_i m_iᵀ v: one product with W for all contexts
        return W.T @ (mean_p * (W @ v)) - M.T @ (M @ v) / len(M)

    return TopSpectrum(_top(matvec, W.shape[1], k, seed), float(np.mean([_trace(W, p) for p in P])))


def metric_summary(spectra: list[TopSpectrum]) -> dict[str, float]:
    """Means over contexts of the anisotropy summaries a top-k spectrum and the trace determine."""
    return {"top_share (λ1/tr g)": float(np.mean([s.top_share for s in spectra])),
            "top-k share of tr g": float(np.mean([s.captured for s in spectra])),
            "λ1/λk": float(np.mean([s.spread for s in spectra])),
            "tr g": float(np.mean([s.trace for s in spectra]))}


def principal_components(H: np.ndarray, law: np.ndarray, m: int) -> np.ndarray:
    """The coordinates (n, m) of the µ-centred rows of H (n, d) on their top-m principal directions."""
    centred = H - law @ H
    _, _, directions = np.linalg.svd(np.sqrt(law)[:, None] * centred, full_matrices=False)
    return centred @ directions[:m].T


def aligned_components(model, fresh, trained, untrained, teacher, k: int, budget: Budget, seed: int):
    """``alignment_with_baselines`` of E[h | context] on the teacher's most frequent contexts, each
    representation reduced to its top ``components`` principal directions first: with d = 576 and a
    few hundred contexts, span{1, h} would hold every function of the contexts and every angle
    would be 0, whatever the model."""
    from catlm.analysis.alignment import alignment_with_baselines
    from catlm.analysis.estimators import context_states
    from catlm.analysis.spectral import similarity_kernel
    states = context_states(model, trained, teacher, budget.alignment_contexts)
    twin = context_states(fresh, untrained, teacher, budget.alignment_contexts)
    m = budget.components
    K = similarity_kernel(teacher.kernel_sparse()[states.rows].toarray(), "bhattacharyya")
    return alignment_with_baselines(principal_components(states.hidden, states.law, m), states.law, K, k,
                                    seed, principal_components(twin.hidden, twin.law, m))


def sliced(readout, rows: int = SLICE) -> list:
    """The readout cut into readouts of at most ``rows`` hidden states (same tokens and windows)."""
    return [replace(readout, hidden=readout.hidden[i:i + rows], position=readout.position[i:i + rows],
                    offset=readout.offset[i:i + rows]) for i in range(0, len(readout.hidden), rows)]


def ngram_entropies(source, tokens, orders, vocab_size: int) -> dict[int, float]:
    """H(W | last r tokens) of the plug-in order-r source of ``tokens``, nats, for each r; ``source``
    builds it (``catlm.data.ngram.NgramSource``, passed in: the analysis never reads corpora)."""
    return {r: source.from_sequence(tokens, r, vocab_size).conditional_entropy() for r in orders}



# --- the report of ``catlm analyze`` on a converted run ---------------------------------------------

def pretrained_report(loaded, fresh, tokens, source, corpus: str, out, *, order: int = 2, k: int = 8,
                      seed: int = 0, budget: Budget = Budget(), progress=lambda what, step: step()):
    """The ``catlm.analysis.report.Report`` of a converted run (``loaded``: model, tokenizer, state)
    beside its untrained twin ``fresh``, on the corpus ``tokens`` (the model's own), within
    ``budget``; ``source`` builds the n-gram sources (``NgramSource``)."""
    from catlm.analysis import estimators as est
    model, V = loaded.model, loaded.model.head.vocab
    tokens = np.asarray(tokens, dtype=np.int64)
    held_out = est.validation_tokens(tokens, loaded.state)
    teacher = progress(f"order-{order} teacher of {min(len(held_out), budget.teacher_tokens)} held-out tokens",
                       lambda: source.from_sequence(held_out[:budget.teacher_tokens], order, V, cyclic=True))
    entropies = progress("n-gram entropies of the corpus", lambda: ngram_entropies(source, tokens, budget.orders, V))
    read = lambda m: est.read(m, held_out[:budget.tokens], block=budget.block)  # noqa: E731
    trained, untrained = progress("hidden states (trained and untrained)", lambda: (read(model), read(fresh)))
    r = {who: progress(f"entropy and CE = KL + H ({who})", lambda m=m, ro=ro: _entropy_and_nll(m, ro, teacher))
         for who, m, ro in (("trained", model, trained), ("untrained", fresh, untrained))}
    metric = progress("pullback metric by Lanczos", lambda: _metrics(model, trained, budget, seed))
    alignment = progress("spectral alignment (model, random, permuted, untrained)", lambda: aligned_components(
        model, fresh, trained, untrained, teacher, k, budget, seed))
    counted = (len(tokens), min(len(held_out), budget.teacher_tokens))
    return _document(loaded, corpus, order, k, budget, counted, entropies, r, metric, alignment, out)


def _entropy_and_nll(model, readout, teacher) -> dict:
    """Mean predictive entropy and the teacher decomposition over slices of the readout."""
    from catlm.analysis import estimators as est
    parts = sliced(readout)
    entropy = np.concatenate([est.head_entropies(model, part) for part in parts])
    nlls = [est.nll_decomposition_vs_teacher(model, part, teacher) for part in parts]
    weights = np.array([n.positions for n in nlls], dtype=float)
    mean = lambda name: float(np.average([getattr(n, name) for n in nlls], weights=weights))  # noqa: E731
    return {"predictive_entropy": float(entropy.mean()), "cross_entropy": mean("cross_entropy"),
            "kl": mean("kl"), "entropy": mean("entropy"), "observed_nll": mean("observed_nll"),
            "identity_gap": max(n.identity_gap for n in nlls), "positions": int(weights.sum())}


def _metrics(model, readout, budget: Budget, seed: int) -> dict:
    from catlm.analysis.estimators import head_weights
    W, b = head_weights(model)
    picked = np.sort(np.random.default_rng(seed).choice(
        len(readout.hidden), size=min(budget.metric_contexts, len(readout.hidden)), replace=False))
    hs = readout.hidden[picked]
    per_context = [lanczos_metric(W, h, budget.eigenvalues, b, seed, budget.tail) for h in hs]
    averaged = lanczos_averaged_metric(W, hs, budget.eigenvalues, b, seed)
    return {"contexts": len(hs), "per_context": per_context, "averaged": averaged,
            "summary": metric_summary(per_context),
            "error_bound": 3 * budget.tail * float(np.max(np.einsum("vd,vd->v", W, W)))}


def _document(loaded, corpus, order, k, budget, counted, entropies, r, metric, alignment, out):
    n_tokens, teacher_tokens = counted
    from catlm.analysis import report as rp
    W = loaded.model.head.weight
    t, u = r["trained"], r["untrained"]
    spectrum = np.mean([s.eigenvalues for s in metric["per_context"]], axis=0)
    summary = (
        f"Converted run `{loaded.folder}` ({loaded.meta.get('source', '?')}): head V = {W.shape[0]:,}, "
        f"d = {W.shape[1]}; corpus `{corpus}`, {n_tokens:,} tokens in the model's own tokenizer.",
        f"The model reads {t['positions'] + 0:,} held-out positions in windows of {budget.block} tokens; the "
        f"teacher is the order-{order} plug-in source of {teacher_tokens:,} held-out tokens.",
        f"Predictive entropy H̄(k_head) = {t['predictive_entropy']:.3f} nats against the corpus's n-gram "
        "entropies " + ", ".join(f"H_{o} = {h:.3f}" for o, h in entropies.items()) + " (nats).",
        f"CE = KL + H: {t['cross_entropy']:.3f} = {t['kl']:.3f} + {t['entropy']:.3f} "
        f"(max gap {t['identity_gap']:.1e}); untrained twin KL {u['kl']:.3f}.",
        f"g*(h) by Lanczos at {metric['contexts']} contexts: λ1/tr g = "
        f"{metric['summary']['top_share (λ1/tr g)']:.3f}, top-{budget.eigenvalues} share "
        f"{metric['summary']['top-k share of tr g']:.3f} (products over the tokens carrying mass "
        f"1 − {budget.tail:g}: error ≤ {metric['error_bound']:.1e} in operator norm).",
        f"Spectral alignment (K_BC, top {k}, E[h | context] on its top {budget.components} principal "
        f"directions, {len(alignment.eigenvalues)} contexts): mean angle {alignment.model.mean_angle_deg:.1f}° trained, "
        f"{alignment.untrained.mean_angle_deg:.1f}° untrained, {alignment.random.mean_angle_deg:.1f}° "
        f"Gaussian features, {alignment.permuted.mean_angle_deg:.1f}° permuted rows.")
    tables = (
        rp.Table("Entropy and the NLL identity against the teacher (nats/token)",
                 ("quantity", "trained", "untrained"),
                 tuple((name, t[key], u[key]) for name, key in (
                     ("H̄(k_head) predictive entropy", "predictive_entropy"), ("CE vs teacher", "cross_entropy"),
                     ("KL(teacher ‖ model)", "kl"), ("H(W|C) teacher", "entropy"),
                     ("observed NLL", "observed_nll"), ("max |CE − KL − H|", "identity_gap"),
                     ("positions", "positions")))),
        rp.Table("n-gram conditional entropies of the corpus, on the model's tokens (nats)",
                 ("order r", "H(W | last r tokens)"), tuple(entropies.items())),
        rp.Table(f"Pullback metric g*(h) by Lanczos (top {budget.eigenvalues}), means over "
                 f"{metric['contexts']} contexts, and the averaged metric Ḡ",
                 ("summary", "per context", "Ḡ"),
                 tuple((name, value, metric_summary([metric["averaged"]])[name])
                       for name, value in metric["summary"].items())),
        rp.Table(f"Spectral alignment with the top-{k} eigenfunctions of M_K (K_BC)",
                 ("representation", "mean angle (deg)", "Ky Fan ratio", "CKA"),
                 tuple((who, getattr(alignment, who).mean_angle_deg, getattr(alignment, who).ky_fan,
                        getattr(alignment, who).cka) for who in ("model", *alignment.baselines))))
    figures = (rp.line_plot(out, "metric_spectrum.png",
                            {"mean over contexts": (range(1, len(spectrum) + 1), spectrum),
                             "averaged metric Ḡ": (range(1, len(spectrum) + 1), metric["averaged"].eigenvalues)},
                            title="g*(h) top spectrum (Lanczos)", xlabel="i", ylabel="λ_i", log=True,
                            caption="Top eigenvalues of the pullback metric of the real head"),)
    data = {"target": str(loaded.folder), "corpus": corpus, "order": order, "vocab": int(W.shape[0]),
            "dim": int(W.shape[1]), "corpus_tokens": n_tokens, "teacher_tokens": teacher_tokens, "budget": {
                f: getattr(budget, f) for f in budget.__dataclass_fields__},
            "ngram_entropies": {str(o): h for o, h in entropies.items()}, "trained": t, "untrained": u,
            "metric": {"summary": metric["summary"], "operator_norm_error_bound": metric["error_bound"], "mean_spectrum": spectrum.tolist(),
                       "averaged_spectrum": metric["averaged"].eigenvalues.tolist(),
                       "averaged_summary": metric_summary([metric["averaged"]])},
            "alignment": alignment.to_dict()}
    return rp.Report(f"catlm analyze: {loaded.folder.name} (pretrained)", summary, tables, figures, data)
