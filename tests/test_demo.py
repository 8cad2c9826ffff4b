"""``catlm demo``: the quick report is complete, its figures are real PNGs, its numbers agree.

The oracles are independent of the demo's code: conditional entropies recounted with
``collections.Counter``, the Thm 5.1 identity, the surplus bounds of the paper's information surplus, the shape of
a PNG file, and the laws the bundled specs state.
"""
from __future__ import annotations

import json
import math
import re
import struct
from collections import Counter

import pytest

from catlm.cli import main
from catlm.data.corpus import read_text
from catlm.demo import QUICK, TITLES, run_demo
from catlm.demo.plan import DemoConfig

from shared_data import SHAKESPEARE  # noqa: E402
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _corpus() -> str:
    return SHAKESPEARE


@pytest.mark.slow
def test_quick_demo_report(tmp_path):
    """One quick run (about a minute), then every check below on its report."""
    corpus = _corpus()
    assert main(["demo", "--quick", "--out", str(tmp_path), "--corpus", corpus]) == 0
    report = (tmp_path, (tmp_path / "report.md").read_text(encoding="utf-8"),
              json.loads((tmp_path / "report.json").read_text(encoding="utf-8")),
              read_text(corpus)[:QUICK.chars])
    for check in CHECKS:
        check(report)


def _conditional_entropy_bits(text: str, r: int) -> float:
    """H(X_r | X_<r) of the plug-in order-r source, recounted from the (r+1)-grams."""
    grams = Counter(text[i:i + r + 1] for i in range(len(text) - r))
    contexts = Counter()
    for gram, n in grams.items():
        contexts[gram[:r]] += n
    total = sum(grams.values())
    return sum(n / total * math.log2(contexts[g[:r]] / n) for g, n in grams.items())


def check_every_section_is_in_the_report_in_order(report):
    _, markdown, data, _ = report
    positions = [markdown.find(f"## {i}. {title}") for i, title in enumerate(TITLES.values(), 1)]
    assert -1 not in positions and positions == sorted(positions)
    assert set(data["sections"]) == set(TITLES)
    assert not any("unavailable" in s for s in data["sections"].values())


def check_referenced_figures_exist_and_are_png(report):
    out, markdown, data, _ = report
    files = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(files) >= 11 and set(files) == set(data["figures"])
    for name in files:
        head = (out / name).read_bytes()[:24]
        width, height = struct.unpack(">II", head[16:24])
        assert head[:8] == PNG_MAGIC and head[12:16] == b"IHDR" and width > 50 and height > 50, name


def check_conditional_entropies_match_a_recount_and_fall_with_the_order(report):
    _, _, data, text = report
    source = data["sections"]["source"]
    for r, bits in zip(source["orders"], source["entropy_bits"]):
        if r <= 2:
            assert bits == pytest.approx(_conditional_entropy_bits(text, r), abs=1e-9)
    assert all(a > b for a, b in zip(source["entropy_bits"], source["entropy_bits"][1:]))
    assert source["entropy_nats"][0] == pytest.approx(source["entropy_bits"][0] * math.log(2))


def check_nll_decomposition_identity_holds(report):
    nll = report[2]["sections"]["nll"]
    assert nll["cross_entropy"] - nll["kl"] - nll["entropy"] == pytest.approx(0, abs=1e-9)
    assert nll["identity_gap"] < 1e-9 and nll["kl"] >= 0 and nll["coverage"] > 0.9
    # the teacher was built from the same held-out text: its entropy is that text's plug-in value
    assert 0 < nll["entropy"] < math.log(report[2]["sections"]["source"]["vocab"])


def check_surplus_lies_within_its_bounds(report):
    surplus = report[2]["sections"]["surplus"]
    vocab = report[2]["sections"]["source"]["vocab"]
    for row in surplus["rows"]:
        assert -1e-9 <= row["surplus"] <= row["upper_bound"] + 1e-9
        assert row["upper_bound"] <= (row["K"] - 1) * math.log2(vocab) + 1e-9
        assert row["surplus"] == pytest.approx(row["mi_block"] - row["mi_first"], abs=1e-9)
        if row["K"] == 1 or row["keep"] == 0:
            assert row["surplus"] == pytest.approx(0, abs=1e-9)


def check_training_learned_and_the_laws_came_out_as_stated(report):
    sections = report[2]["sections"]
    history = sections["training"]["history"]
    assert history[-1]["val"] < history[0]["val"] - 0.5
    assert sections["language"]["all_as_expected"]
    verdicts = {(row["spec"], row["name"]): row["verdict"] for row in sections["language"]["laws"]}
    assert verdicts[("coin.cat", "causal")] == "holds"
    assert verdicts[("bigram.cat", "same_gen")] == "holds"


def check_speculative_counts_are_consistent(report):
    spec = report[2]["sections"]["speculative"]
    for name, found in spec["drafters"].items():
        assert found["emitted"] == spec["runs"] * spec["max_new"], name
        assert 0 <= found["acceptance_rate"] <= 1 and found["tokens_per_call"] >= 1
        assert found["accepted"] <= found["tested"] <= found["drafted"]
        # the aggregate speedup is a weighted mean of the per-prompt ones (equal tokens per prompt)
        spread = found["speedup_per_prompt"]
        assert len(spread) == spec["runs"] and min(spread) - 1e-9 <= found["speedup"] <= max(spread) + 1e-9
        if found["temperature"]:
            assert found["chi_square"]["n"] == found["emitted"]
            p = found["chi_square"]["pvalue"]
            assert (p is not None and p < 0.05) == ("retest_pvalue" in found)   # flagged ⇔ re-tested
        else:  # greedy verification is greedy decoding, token for token
            assert found["greedy_matches"] == "same tokens as plain greedy", name


def check_alignment_has_the_untrained_baseline(report):
    _, markdown, data, _ = report
    alignment = data["sections"]["alignment"]
    assert {"model", "untrained", "random", "permuted"} <= set(alignment)
    for who in ("model", "untrained", "random", "permuted"):
        assert 0 <= alignment[who]["mean_angle_deg"] <= 90 and 0 <= alignment[who]["ky_fan"] <= 1 + 1e-9
    # the report states the trained-minus-untrained gap it measured, with its sign
    gap = alignment["untrained"]["mean_angle_deg"] - alignment["model"]["mean_angle_deg"]
    assert f"{gap:+.1f}°" in markdown and "What training adds" in markdown


def check_speculative_text_agrees_with_its_table(report):
    _, markdown, data, _ = report
    drafters = data["sections"]["speculative"]["drafters"]
    best = max(drafters, key=lambda name: drafters[name]["speedup"])
    assert f"In this run `{best}` gains most ({drafters[best]['speedup']:.2f}×)" in markdown


CHECKS = (check_every_section_is_in_the_report_in_order, check_alignment_has_the_untrained_baseline,
          check_speculative_text_agrees_with_its_table, check_referenced_figures_exist_and_are_png,
          check_conditional_entropies_match_a_recount_and_fall_with_the_order,
          check_nll_decomposition_identity_holds, check_surplus_lies_within_its_bounds,
          check_training_learned_and_the_laws_came_out_as_stated, check_speculative_counts_are_consistent)


def test_a_missing_component_is_reported_not_faked(tmp_path, monkeypatch):
    import catlm.demo as demo
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("to be or not to be, that is the question\n" * 20, encoding="utf-8")

    def needs_torch(ws):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")
    monkeypatch.setattr(demo, "SECTIONS", {"source": demo.exact.source, "training": needs_torch})
    path = run_demo(DemoConfig(corpus=str(corpus), orders=(0, 1)), tmp_path / "out")
    text = path.read_text(encoding="utf-8")
    assert "the component `torch` is not installed" in text
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(data["sections"]["training"]) == {"unavailable"}
    assert data["sections"]["source"]["entropy_bits"][1] == pytest.approx(
        _conditional_entropy_bits(corpus.read_text(), 1), abs=1e-12)


def test_a_missing_corpus_is_a_catlm_error(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path), "--corpus", str(tmp_path / "none.txt")]) == 1
    err = capsys.readouterr().err
    assert "no corpus file" in err and "Traceback" not in err
