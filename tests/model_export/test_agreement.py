"""Alignment by agreement end to end: two artifacts teacher-forced over the dev pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from model_export.__main__ import main
from model_export.agreement import THRESHOLDS, agreement, link_rules
from service.inference.symmetrize import SYMMETRIZATIONS


@pytest.fixture(scope="module")
def report(tiny_artifact: Path, tiny_data: Path) -> dict[str, Any]:
    # The tiny en->es model stands in for both directions: it reads the reversed pairs'
    # Spanish with its English tokenizer, which is enough to exercise every path.
    return agreement(tiny_artifact, tiny_artifact, tiny_data, "dev", threads=1)


def test_link_rules_cover_each_direction_and_each_symmetrization() -> None:
    names = set(link_rules())
    assert {"forward argmax", "forward intersection", "backward argmax"} <= names
    assert {"intersection", "union", "grow-diag-final-and"} <= names
    assert {f"{m} {t}" for m in ("product", "mean") for t in THRESHOLDS} <= names
    assert all(any(name.startswith(m) for name in names) for m in SYMMETRIZATIONS)


def test_report_scores_every_rule_with_attention_and_with_the_heads(
    report: dict[str, Any],
) -> None:
    assert report["split"] == "dev"
    pairs, scored, skipped = report["pairs"], report["scored"], report["skipped"]
    assert pairs > 0 and scored > 0
    assert scored + skipped["too_long"] + skipped["word_count"] == pairs
    sources = report["sources"]
    assert set(sources) == {"attention", "alignment_head"}
    assert sources["attention"]["matrices"] == {"forward": "attention", "backward": "attention"}
    assert sources["alignment_head"]["matrices"] == {
        "forward": "alignment_head",
        "backward": "alignment_head",
    }
    for entry in sources.values():
        assert set(entry["links"]) == set(link_rules())
        for scores in entry["links"].values():
            assert set(scores) == {"precision", "recall", "f1", "aer"}
            assert all(0.0 <= value <= 1.0 for value in scores.values())
    json.dumps(report)  # fit for evaluation.json


def test_intersection_finds_no_more_and_union_no_fewer_than_either_direction(
    report: dict[str, Any],
) -> None:
    sources = report["sources"]
    for entry in sources.values():
        links = entry["links"]
        for direction in ("forward argmax", "backward argmax"):
            assert links["intersection"]["recall"] <= links[direction]["recall"]
            assert links[direction]["recall"] <= links["union"]["recall"]
        assert links["intersection"]["recall"] <= links["grow-diag-final-and"]["recall"]
        assert links["grow-diag-final-and"]["recall"] <= links["union"]["recall"]
        for method in ("product", "mean"):  # a higher threshold keeps a subset
            recalls = [links[f"{method} {t}"]["recall"] for t in THRESHOLDS]
            assert recalls == sorted(recalls, reverse=True)


def test_forward_rules_do_not_depend_on_the_backward_model(
    report: dict[str, Any], tiny_artifact: Path, headless_artifact: Path, tiny_data: Path
) -> None:
    other = agreement(tiny_artifact, headless_artifact, tiny_data, "dev", threads=1)
    assert other["sources"]["alignment_head"]["matrices"] == {
        "forward": "alignment_head",
        "backward": "attention",
    }
    for source in ("attention", "alignment_head"):
        assert (
            other["sources"][source]["links"]["forward argmax"]
            == report["sources"][source]["links"]["forward argmax"]
        )
    assert (
        other["sources"]["alignment_head"]["links"]["backward argmax"]
        == report["sources"]["attention"]["links"]["backward argmax"]
    )


def test_command_line_prints_the_table_and_writes_the_report(
    tiny_artifact: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "agreement.json"
    main(
        [
            "agreement",
            "--forward",
            str(tiny_artifact),
            "--backward",
            str(tiny_artifact),
            "--data",
            str(tiny_data),
            "--limit",
            "5",
            "--threads",
            "1",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert "grow-diag-final-and" in printed and "product 0.1" in printed
    written = json.loads(out.read_text())
    assert written["pairs"] == 5
    assert set(written["sources"]) == {"attention", "alignment_head"}


def test_model_card_lists_the_test_links_and_the_dev_choice(report: dict[str, Any]) -> None:
    from model_export.model_card import _agreement_sections

    heading, text, table = _agreement_sections({"dev": report, "test": report})
    assert heading.startswith("## Word alignment by agreement")
    assert f"Best on dev by F1: attention: {report['best']['attention']}" in text
    rows = table.splitlines()[2:]
    assert len(rows) == 2 * len(link_rules())
    assert any("alignment_head / alignment_head | grow-diag-final-and" in row for row in rows)


def test_the_chosen_agreement_is_the_best_combination_beside_the_best_direction() -> None:
    from model_export.agreement import chosen_agreement

    def scored(f1: float) -> dict[str, float]:
        return {"precision": f1, "recall": f1, "f1": f1, "aer": 1 - f1}

    dev = {
        "sources": {
            "alignment_head": {
                "links": {
                    "forward argmax": scored(0.70),
                    "forward intersection": scored(0.74),
                    "backward argmax": scored(0.80),
                    "intersection": scored(0.76),
                    "product 0.3": scored(0.78),
                }
            },
            "attention": {"links": {"union": scored(0.9), "forward argmax": scored(0.5)}},
        }
    }
    chosen = chosen_agreement(dev)
    assert (chosen["method"], chosen["threshold"], chosen["matrix"]) == (
        "product",
        0.3,
        "alignment_head",
    )
    assert (chosen["dev_f1"], chosen["forward_dev_f1"]) == (0.78, 0.74)


def test_agreement_data_replaces_only_the_training_links(
    tiny_artifact: Path, tiny_data: Path, tmp_path: Path
) -> None:
    from model_export.agreement import agreement_links
    from model_export.self_training import write_agreement_data
    from model_export.word_alignment import read_alignments

    out = tmp_path / "agreement-data"
    report = write_agreement_data(tiny_artifact, tiny_artifact, tiny_data, out, "intersection")
    train_pairs = len((tiny_data / "train.tsv").read_text().splitlines())
    assert report["pairs"] == train_pairs == report["agreement"] + report["aligner"]
    assert report["agreement"] > 0
    for name in ("dev.align", "test.align", "train.tsv", "source.model"):
        assert (out / name).read_bytes() == (tiny_data / name).read_bytes()
    written = read_alignments(out / "train.align")
    aligner = read_alignments(tiny_data / "train.align")
    agreed = agreement_links(tiny_artifact, tiny_artifact, tiny_data, "train", "intersection")
    for links, fallback, new in zip(agreed, aligner, written, strict=True):
        assert new == (fallback if links is None else links)
    assert written != aligner  # the heads' agreement is not the aligner's
