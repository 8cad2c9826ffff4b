"""``catlm analyze``: the paper's quantities as a report folder (report.md, PNGs, report.json).

On a ``.cat`` spec (FinStoch, exact numpy): categorical entropies of every finite kernel (KL, TV,
Rényi-2, χ²; mean over the uniform input law and sup), the mutual information of every joint
state ``I -> X @ Y``, and for every kernel ``X -> X`` read as a first-order source (µ its
stationary law) the information surplus by K and the spectrum of M_K. On a checkpoint with
``--corpus``: the estimators of ``catlm.analysis.estimators`` on the held-out split against the
order-r n-gram teacher of that split. Source: Zhang, arXiv 2507.19247, §4–§7.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

HELP = "the paper's quantities of a .cat spec (exact) or a checkpoint on a corpus (estimated), as a report"
ENTROPIES = (("kl", None), ("tv", None), ("renyi", 2.0), ("chi2", None))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="a .cat file, or a checkpoint (training folder or step-* folder)")
    parser.add_argument("--params", metavar="P.npz", help="entries of the spec's parameter kernels")
    parser.add_argument("--subs", nargs="*", default=[], metavar="p=1/3", help="values of declared params")
    parser.add_argument("--seed", type=int, default=0, help="seed for drawn parameters and baselines")
    parser.add_argument("--corpus", metavar="PATH|shakespeare", help="text for a checkpoint's analysis")
    parser.add_argument("--order", type=int, default=2, help="order r of the n-gram teacher (default 2)")
    parser.add_argument("--eigenfunctions", dest="k", type=int, default=8, metavar="K",
                        help="eigenfunctions of M_K compared (default 8)")
    parser.add_argument("--out", metavar="DIR", help="report folder (default reports/analyze/NAME)")
    parser.add_argument("--json", action="store_true", help="also print report.json to stdout")
    parser.add_argument("--quick", action="store_true", help="fewer tokens and contexts (seconds)")


def run(args: argparse.Namespace) -> int:
    from catlm.analysis.report import plain, write_report
    from catlm.errors import UsageError
    target = Path(args.target)
    out = Path(args.out or Path("reports") / "analyze" / target.stem)
    if target.is_file() and target.suffix == ".cat":
        report = spec_report(args, out)
    elif target.is_dir():
        if not args.corpus:
            raise UsageError("analyzing a checkpoint needs --corpus PATH (or --corpus shakespeare)")
        report = checkpoint_report(args, out)
    else:
        raise UsageError(f"{str(target)!r} is neither a .cat file nor a checkpoint folder",
                        hint="pass examples/bigram.cat or the --out folder of a training run")
    write_report(report, out)
    print(json.dumps(plain(report.data), indent=1) if args.json else f"report written to {out / 'report.md'}")
    return 0


# --- a spec, exactly ------------------------------------------------------------------------------

def compile_finite(args, spec) -> tuple[dict, dict, list]:
    """(name -> (rows (|dom|, |cod|), kernel), name -> why skipped, names whose parameter entries
    were drawn at random from ``--seed`` because neither --params nor a literal gave them)."""
    from catlm.backends.functor import compile
    from catlm.backends.params import load_npz
    from catlm.elaborate.numbers import parse_subs
    from catlm.errors import BackendError
    params, subs = (load_npz(args.params) if args.params else None), parse_subs(args.subs, spec.params)
    done, skipped, drawn = {}, {}, []
    for name, kernel in spec.kernels.items():
        if not (kernel.dom.is_finite and kernel.cod.is_finite):
            skipped[name] = f"{kernel.dom} -> {kernel.cod} is not finite (a torch kernel)"
            continue
        try:
            array = compile(kernel, params=params, subs=subs)
        except BackendError as err:
            if "has no entries" not in err.message:
                skipped[name] = err.message
                continue
            try:   # a parameter kernel without entries: drawn at random, and the report says so
                array = compile(kernel, params=params, seed=args.seed, subs=subs)
                drawn.append(name)
            except BackendError as again:
                skipped[name] = again.message
                continue
        done[name] = (array.reshape(math.prod(kernel.dom.shape), -1), kernel)
    return done, skipped, drawn


def entropy_rows(compiled: dict) -> list[tuple]:
    from catlm.analysis.entropy import categorical_entropy
    rows = []
    for name, (rows_array, kernel) in compiled.items():
        values = []
        for divergence, alpha in ENTROPIES:
            options = dict(alpha=alpha) if alpha else {}
            values += [categorical_entropy(rows_array, divergence, **options),
                       categorical_entropy(rows_array, divergence, reduce="sup", **options)]
        rows.append((name, f"{kernel.dom} -> {kernel.cod}", *values))
    return rows


def mutual_information_rows(compiled: dict) -> list[tuple]:
    """I_D(X; rest) of every joint state I -> X @ Y @ ... (split after the first factor)."""
    from catlm.analysis.entropy import mutual_information
    rows = []
    for name, (array, kernel) in compiled.items():
        if len(kernel.dom) == 0 and len(kernel.cod) >= 2:
            joint = array.reshape(kernel.cod.shape[0], -1)
            rows.append((name, str(kernel.cod), *(mutual_information(joint, d) for d in ("kl", "tv", "chi2"))))
    return rows


def source_rows(compiled: dict) -> dict:
    """For each kernel X -> X: its ``catlm.analysis.sources.FirstOrderSource``."""
    from catlm.analysis.sources import first_order_source
    return {name: first_order_source(P) for name, (P, kernel) in compiled.items()
            if len(kernel.dom) == 1 and kernel.dom == kernel.cod}


def spec_report(args, out: Path):
    from catlm.analysis import report as rp
    from catlm.elaborate import load
    spec = load(args.target)
    compiled, skipped, drawn = compile_finite(args, spec)
    entropies, mis, sources = entropy_rows(compiled), mutual_information_rows(compiled), source_rows(compiled)
    header = ("kernel", "type", *(f"{d}{'-2' if a else ''} {r}" for d, a in ENTROPIES for r in ("mean", "sup")))
    tables = [rp.Table("Categorical entropy H_D(k) (KL and Rényi-2 in nats; TV and χ² are unitless; "
                       "mean over the uniform input law, and sup)",
                       header, tuple(entropies))]
    if mis:
        tables.append(rp.Table("Categorical mutual information of joint states (X ; rest); I_KL in nats, "
                               "I_TV and I_chi2 unitless",
                               ("kernel", "codomain", "I_KL", "I_TV", "I_chi2"), tuple(mis)))
    figures = [rp.bar_plot(out, "entropy.png", {r[0]: r[2] for r in entropies}, title="H̄_KL(k), uniform inputs",
                           ylabel="nats", caption="Mean KL categorical entropy (= Shannon) of each kernel")] \
        if entropies else []
    for name, source in sources.items():
        tables.append(_surplus_table(name, source))
        figures += _source_figures(out, name, source)
    summary = (f"Spec `{args.target}`: {len(compiled)} finite kernels analysed exactly (numpy).",
               *(f"- `{n}`: its parameter entries were DRAWN AT RANDOM (seed {args.seed}); pass "
                 "--params P.npz for your own values" for n in drawn),
               *(f"- `{n}` skipped: {why}" for n, why in skipped.items()),
               "", "The pullback metric g*, its spectrum and principal angles need a linear-softmax "
               "head on real hidden states: run `catlm analyze CHECKPOINT --corpus ...`.")
    data = {"target": str(args.target), "skipped": skipped, "drawn_at_random": drawn, "seed": args.seed,
            "entropy": [dict(zip(header, row)) for row in entropies],
            "mutual_information": [dict(zip(("kernel", "codomain", "kl", "tv", "chi2"), r)) for r in mis],
            "sources": {n: _source_json(s) for n, s in sources.items()}}
    return rp.Report(f"catlm analyze: {Path(args.target).name}", summary, tuple(tables), tuple(figures), data)


def _surplus_table(name: str, source: dict):
    from catlm.analysis.report import Table
    rows = tuple((K, s.mi_first, s.mi_block, s.value, s.upper_bound)
                 for K, s in zip(source.steps, source.surplus))
    return Table(f"`{name}` as a first-order source: surplus by K (identity encoder; a first-order "
                 "source has zero surplus, the future depends on the context only through W_1)",
                 ("K", "I(H;W_1)", "I(H;W_1:K)", "Surplus_K", "H(W_2:K|W_1)"), rows)


def _source_figures(out: Path, name: str, source: dict) -> list:
    from catlm.analysis.report import line_plot
    steps = source.steps
    return [line_plot(out, f"surplus_{name}.png",
                      {"I(H; W_1:K)": (steps, [s.mi_block for s in source.surplus]),
                       "Surplus_K": (steps, [s.value for s in source.surplus]),
                       "bound H(W_2:K | W_1)": (steps, [s.upper_bound for s in source.surplus])},
                      title=f"surplus by K: {name}", xlabel="K", ylabel="nats",
                      caption=f"Information surplus of `{name}` by K"),
            line_plot(out, f"mk_spectrum_{name}.png",
                      {"K_BC": (range(1, len(source.mk_spectrum) + 1), source.mk_spectrum)},
                      title=f"spectrum of M_K: {name}", xlabel="i", ylabel="λ_i",
                      caption=f"Eigenvalues of M_K (K_BC, µ stationary) for `{name}`")]


def _source_json(source: dict) -> dict:
    return {"stationary_law": source.law, "mk_spectrum": source.mk_spectrum,
            "surplus": [{"K": K, "value": s.value, "mi_first": s.mi_first, "mi_block": s.mi_block,
                         "upper_bound": s.upper_bound} for K, s in zip(source.steps, source.surplus)]}


# --- a checkpoint, estimated ----------------------------------------------------------------------

def checkpoint_report(args, out: Path):
    from catlm.analysis import estimators as est
    from catlm.data.corpus import read_text
    from catlm.data.ngram import NgramSource
    progress = Progress(9)
    from catlm.errors import BackendError
    from catlm.runs.loading import load_run, untrained_twin
    loaded = progress("loading the checkpoint", lambda: load_run(args.target))
    if loaded.tokenizer is None:
        raise BackendError(f"checkpoint {loaded.folder} stores no tokenizer",
                           hint="analyze runs written by catlm train or catlm convert")
    if "family" in loaded.meta:  # a converted LLM: the bounded estimators of catlm.analysis.pretrained
        from catlm.analysis.pretrained import QUICK, Budget, pretrained_report
        tokens = progress("tokenizing the corpus", lambda: loaded.tokenizer.encode(read_text(args.corpus)))
        return pretrained_report(loaded, untrained_twin(loaded, seed=args.seed), tokens, NgramSource,
                                 args.corpus, out, order=args.order, k=args.k, seed=args.seed,
                                 budget=QUICK if args.quick else Budget(), progress=progress)
    model, tokenizer, state = loaded.model, loaded.tokenizer, loaded.state
    fresh = untrained_twin(loaded, seed=args.seed)   # same architecture, not trained
    limit = 12_000 if args.quick else 100_000
    val = est.validation_tokens(tokenizer.encode(read_text(args.corpus)), state)[:limit]
    teacher = progress(f"order-{args.order} teacher of {len(val)} held-out tokens",
                       lambda: NgramSource.from_sequence(val, args.order, tokenizer.vocab_size, cyclic=True))
    contexts = 128 if args.quick else 512
    readout = progress("hidden states (one forward pass)", lambda: est.read(model, val))
    fresh_readout = est.read(fresh, val)
    alignment = lambda kind: est.spectral_alignment(model, readout, teacher, args.k, kernel=kind,
                                                    n_contexts=contexts, seed=args.seed, untrained=fresh)
    results = {
        "predictive_entropy": progress("predictive entropy", lambda: est.predictive_entropy(model, readout)),
        "teacher_entropy": teacher.conditional_entropy(),
        "nll": progress("CE = KL + H against the teacher (trained and untrained)",
                        lambda: est.nll_decomposition_vs_teacher(model, readout, teacher)),
        "untrained_nll": est.nll_decomposition_vs_teacher(fresh, fresh_readout, teacher),
        "probe": progress("conditional probe", lambda: est.conditional_probe(
            model, readout, steps=60 if args.quick else 200, seed=args.seed)),
        "metric": progress("pullback metric spectra", lambda: est.metric_spectra(
            model, readout, 64 if args.quick else 256, seed=args.seed)),
        "alignment": progress("spectral alignment (model, random, permuted, untrained)",
                              lambda: {kind: alignment(kind) for kind in ("bhattacharyya", "linear")}),
        "surplus": progress("exact teacher surplus by K", lambda: {
            K: [teacher.surplus(K, teacher.suffix_encoder(j)) for j in range(args.order + 1)]
            for K in range(1, 3 if args.quick else 4)}),
    }
    return _checkpoint_document(args, out, state, len(readout.tokens), results)


class Progress:
    """Prints ``analyze [i/n] what ... seconds`` to stderr around each step of a long analysis."""

    def __init__(self, total: int):
        self.total, self.done = total, 0

    def __call__(self, what: str, step):
        import sys
        import time
        self.done += 1
        print(f"analyze [{self.done}/{self.total}] {what} ...", end="", file=sys.stderr, flush=True)
        start = time.perf_counter()
        value = step()
        print(f" {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        return value


def _checkpoint_document(args, out: Path, state: dict, n_tokens: int, r: dict):
    from catlm.analysis import report as rp
    nll, probe, metric = r["nll"], r["probe"], r["metric"]
    entropy_bars = {"H̄_KL(k_head)": r["predictive_entropy"], "CE vs teacher": nll.cross_entropy,
                    "KL(teacher‖model)": nll.kl, "observed NLL": nll.observed_nll}
    summary = (f"Checkpoint `{args.target}` (step {state.get('step')}) on `{args.corpus}`: "
               f"{n_tokens} held-out tokens; teacher = order-{args.order} plug-in source of that split.",
               "", *training_adds(r))
    data = {"target": str(args.target), "corpus": str(args.corpus), "order": args.order,
            "tokens": n_tokens, "predictive_entropy": r["predictive_entropy"],
            "teacher_entropy": r["teacher_entropy"], "nll": nll.to_dict(), "untrained_nll": r["untrained_nll"].to_dict(), "probe": probe.to_dict(),
            "metric": metric.to_dict(), "alignment": {k: a.to_dict() for k, a in r["alignment"].items()},
            "surplus": {str(K): [s.value for s in ss] for K, ss in r["surplus"].items()}}
    return rp.Report(f"catlm analyze: {Path(args.target).name}", summary,
                     _checkpoint_tables(args, r, entropy_bars),
                     _checkpoint_figures(out, args, r, entropy_bars), data)


def training_adds(r: dict) -> tuple[str, ...]:
    """What training adds over the same architecture at random initialisation, in words."""
    trained, fresh = r["nll"], r["untrained_nll"]
    lines = [f"What training adds: KL(teacher ‖ model) {fresh.kl:.4f} → {trained.kl:.4f} nats/token "
             f"(untrained → trained; the teacher's H(W|C) is {trained.entropy:.4f})."]
    for kind, a in r["alignment"].items():
        lines.append(f"- spectral alignment, K_{kind}: mean principal angle {a.untrained.mean_angle_deg:.1f}° "
                     f"untrained → {a.model.mean_angle_deg:.1f}° trained (Gaussian features "
                     f"{a.random.mean_angle_deg:.1f}°, permuted rows {a.permuted.mean_angle_deg:.1f}°); "
                     f"the part of the trained alignment the untrained model already has is the "
                     f"architecture's, not training's.")
    return tuple(lines)


def _checkpoint_tables(args, r: dict, entropy_bars: dict) -> tuple:
    from catlm.analysis.report import Table
    nll, probe = r["nll"], r["probe"]
    identity = ((f"H(W|C) teacher, order {args.order}", r["teacher_entropy"]),
                ("max |CE − KL − H| per position", nll.identity_gap), ("positions", nll.positions))
    alignment = tuple((kind, who, getattr(a, who).mean_angle_deg, getattr(a, who).ky_fan, getattr(a, who).cka)
                      for kind, a in r["alignment"].items() for who in ("model", *a.baselines))
    surplus = tuple((K, j, s.value, s.mi_block) for K, ss in r["surplus"].items() for j, s in enumerate(ss))
    return (Table("Entropy and the NLL identity (nats/token, held-out split)", ("quantity", "value"),
                  tuple(entropy_bars.items()) + identity),
            Table("Conditional probe", ("quantity", "value"),
                  (("baseline CE", probe.baseline_ce), ("probe CE", probe.probe_ce), (probe.label, probe.estimate))),
            Table("Anisotropy of g*(h) ([OPS] means over contexts)", ("summary", "value"),
                  tuple(r["metric"].anisotropy.items())),
            Table(f"Spectral alignment with the top-{args.k} eigenfunctions of M_K",
                  ("kernel", "representation", "mean angle (deg)", "Ky Fan ratio", "CKA"), alignment),
            Table("Teacher surplus by K (encoder keeps the last j tokens)",
                  ("K", "j", "Surplus_K", "I(H;W_1:K)"), surplus))


def _index(values) -> range:
    return range(1, len(values) + 1)


def _checkpoint_figures(out: Path, args, r: dict, entropy_bars: dict) -> tuple:
    from catlm.analysis import report as rp
    metric, bc, steps = r["metric"], r["alignment"]["bhattacharyya"], list(r["surplus"])
    spectra = {"mean over contexts": (_index(metric.averaged_spectrum), metric.eigenvalues.mean(0)),
               "averaged metric Ḡ": (_index(metric.averaged_spectrum),
                                     np.clip(metric.averaged_spectrum, 1e-16, None))}
    surplus = {f"keep last {j}": (steps, [ss[j].value for ss in r["surplus"].values()])
               for j in range(args.order + 1)}
    return (
        rp.bar_plot(out, "entropy.png", entropy_bars, title="model entropy vs data entropy", ylabel="nats",
                    reference=(f"H(W|C) order-{args.order} teacher", r["teacher_entropy"]),
                    caption="Predictive entropy and NLL terms against the teacher's conditional entropy"),
        rp.line_plot(out, "surplus.png", surplus, title="teacher surplus by K", xlabel="K", ylabel="nats",
                     caption="Exact surplus of the teacher"),
        rp.line_plot(out, "metric_spectrum.png", spectra, title="g*(h) spectrum", xlabel="i",
                     ylabel="λ_i", log=True, caption="Spectrum of the pullback metric"),
        rp.line_plot(out, "mk_spectrum.png",
                     {k: (_index(a.eigenvalues[:50]), a.eigenvalues[:50]) for k, a in r["alignment"].items()},
                     title="spectrum of M_K", xlabel="i", ylabel="λ_i", caption="Top eigenvalues of M_K (teacher)"),
        rp.grouped_bars(out, "angles.png", {w: getattr(bc, w).angles_deg for w in ("model", *bc.baselines)},
                        title="principal angles, K_BC", ylabel="degrees",
                        caption="Principal angles between span{1, h} and the top eigenfunctions, against "
                                "Gaussian features, permuted rows and the untrained model"))
