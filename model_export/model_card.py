"""The model card: a Markdown page next to the model with its data, settings and scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.text.language import language_name


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _size_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 1e6


def _direction(config: dict[str, Any]) -> str:
    """'English to Spanish', read from the artifact's own language codes."""
    source, target = config.get("source_lang", "en"), config.get("target_lang", "es")
    return f"{language_name(source)} to {language_name(target)}"


def write_model_card(
    artifact_dir: Path,
    report: dict[str, Any],
    training_log: list[dict[str, Any]],
    baseline_log: list[dict[str, Any]],
) -> Path:
    config = json.loads((artifact_dir / "model_config.json").read_text())
    data, training, model = (
        config.get("training_data", {}),
        config.get("training", {}),
        config["model"],
    )
    test = report["test"]
    score_rows = [
        [
            f"attention, {precision}",
            search,
            test[key]["bleu"],
            test[key]["chrf"],
            test[key]["seconds"],
        ]
        for precision in ("fp32", "int8")
        for key, search in ((f"{precision}_greedy", "greedy"), (f"{precision}_beam5", "beam 5"))
    ]
    if "baseline_test" in report:
        baseline = report["baseline_test"]
        score_rows.append(
            [
                "no attention (RNNenc), fp32"
                + (f" ({baseline['note']})" if "note" in baseline else ""),
                "beam 5",
                baseline["bleu"],
                baseline["chrf"],
                baseline["seconds"],
            ]
        )
    sections = [
        f"# {config.get('name')} (version {config.get('version')})",
        "An RNN encoder-decoder with additive attention (RNNsearch, Bahdanau, Cho and Bengio, "
        f"2015) translating {_direction(config)}, exported to ONNX for the service in this "
        "repository.",
        "## Data",
        "\n".join(
            [
                f"- Corpus: {data.get('name')} ({data.get('license', 'see source')}).",
                f"- Split {data.get('split')}: pairs {data.get('pairs')}."
                + (f" Direction: {data['direction']}." if "direction" in data else ""),
                f"- Test books: {', '.join(data.get('test_books', [])) or 'n/a'}.",
                f"- Dev books: {', '.join(data.get('dev_books', [])) or 'n/a'}.",
                f"- Tokenization: SentencePiece unigram, {data.get('vocab_size')} pieces per side, "
                "trained on the training split.",
            ]
        ),
        "## Model and training",
        _table(
            ["setting", "value"],
            [[k, v] for k, v in model.items()] + [[k, v] for k, v in training.items()],
        ),
        f"Hardware: {report.get('training_hardware', report['hardware'])}; training time "
        f"{training.get('seconds', 0) / 60:.0f} minutes for {training.get('epochs')} epochs."
        + _later_stages(config),
        "## Scores on the test split (sacreBLEU, detokenized)",
        _table(["model", "search", "BLEU", "chrF", "decode seconds"], score_rows),
        f"{report['test_sentences']} test sentences, decoded on {report['hardware']} with "
        "ONNX Runtime (the service's own decoder).",
        "## BLEU by source length (the paper's Figure 2)",
    ]
    buckets = report["bleu_by_length"]
    names = list(buckets)
    if names:
        labels = [row["bucket"] for row in buckets[names[0]]]
        rows = []
        for n, label in enumerate(labels):
            row: list[Any] = [label, buckets[names[0]][n]["sentences"]]
            row += [buckets[name][n]["bleu"] for name in names]
            rows.append(row)
        sections.append(_table(["source words", "sentences", *names], rows))
    sections += [
        "![BLEU by sentence length](figures/bleu_by_length.png)",
        "## Attention (the paper's Figure 3)",
        "Word-level attention of test sentences (beam 5), white = 1, black = 0.",
    ]
    figures = artifact_dir / "figures"
    for p in sorted(figures.glob("attention_*.png")):
        head = figures / p.name.replace("attention_", "alignment_head_")
        line = f"![attention {p.stem}](figures/{p.name})"
        if head.exists():
            line += f" ![alignment head {head.stem}](figures/{head.name})"
        sections.append(line)
    if "alignment" in report:
        sections += _alignment_sections(report["alignment"])
        if "agreement" in report["alignment"]:
            sections += _agreement_sections(report["alignment"]["agreement"])
    if training_log:
        sections += [
            "## Training curve",
            _table(
                ["epoch", "train loss", "dev BLEU (greedy)", "tokens/s", "minutes"],
                [
                    [
                        r["epoch"],
                        f"{r['train_loss']:.3f}",
                        f"{r['dev_bleu']:.2f}",
                        f"{r['target_tokens_per_second']:.0f}",
                        f"{r['elapsed_seconds'] / 60:.1f}",
                    ]
                    for r in training_log
                ],
            ),
        ]
    if baseline_log:
        sections += [
            "Baseline (no attention), same budget:",
            _table(
                ["epoch", "train loss", "dev BLEU (greedy)", "minutes"],
                [
                    [
                        r["epoch"],
                        f"{r['train_loss']:.3f}",
                        f"{r['dev_bleu']:.2f}",
                        f"{r['elapsed_seconds'] / 60:.1f}",
                    ]
                    for r in baseline_log
                ],
            ),
        ]
    sections += [
        "## Files",
        f"Artifact size: {_size_mb(artifact_dir):.1f} MB (int8 included). "
        "`model_config.json` holds the sizes, special-token ids and scores.",
    ]
    path = artifact_dir / "MODEL_CARD.md"
    path.write_text("\n\n".join(sections) + "\n")
    return path


def _later_stages(config: dict[str, Any]) -> str:
    """The runs that started from the trained model: fine-tuning and the alignment head."""
    lines = []
    for stage in config.get("fine_tuning", []):
        guided = stage.get("guided_alignment", 0)
        lines.append(
            f" Then {stage.get('epochs')} epoch(s) of fine-tuning"
            + (f" with guided alignment (weight {guided})" if guided else "")
            + f", learning rate {stage.get('learning_rate')}, {stage.get('seconds', 0) / 60:.1f}"
            f" minutes (dev BLEU {stage.get('best_dev_bleu', 0):.2f})."
        )
    heads = []  # the head's runs, latest first: a retrained head keeps the record before it
    head = config.get("alignment_head_training")
    while head:
        heads.append(head)
        head = head.get("previous")
    for n, head in enumerate(reversed(heads)):
        links = head.get("training_links", {}).get("method", "eflomal's grow-diag-final-and")
        lines.append(
            f" The alignment head was {'then re' if n else ''}trained on the frozen weights for "
            f"{head.get('seconds', 0) / 60:.1f} minutes ({head.get('epochs')} epochs, training "
            f"links: {links}; best dev F1 against eflomal {head.get('best_dev_f1', 0):.3f} "
            "with argmax links)."
        )
    return "".join(lines)


def _alignment_sections(alignment: dict[str, Any]) -> list[str]:
    """Agreement of the links with the word aligner (eflomal, grow-diag-final-and)."""
    rows = []
    for split in ("dev", "test"):
        for matrix, rules in alignment[split].items():
            for rule, values in rules.items():
                rows.append(
                    [split, matrix, rule]
                    + [values[k] for k in ("precision", "recall", "f1", "aer")]
                )
    chosen = ", ".join(
        f"{matrix}: {entry['rule']}"
        + (f" {entry['threshold']}" if entry["rule"] == "threshold" else "")
        for matrix, entry in alignment["links"].items()
    )
    notes = alignment.get("notes", [])
    return [
        "## Word alignment: agreement with eflomal",
        "Links read off the word-level matrices of the test and dev pairs, each aligned "
        "teacher-forced on its reference translation through the service (`/v1/align`), "
        "against eflomal's grow-diag-final-and links of the same pairs (an unsupervised "
        "aligner run over every verse; a proxy, not human judgement). `attention` is the "
        "model's alpha; `alignment_head` the head trained on eflomal's training-split links. "
        f"Link rules chosen on dev (the service's defaults): {chosen}.",
        _table(["split", "matrix", "rule", "precision", "recall", "F1", "AER"], rows),
        *notes,
        "In the Figure 3 section above, each sentence's attention alpha (left) is followed by "
        "the alignment head's probabilities for the same translation (right).",
    ]


def _agreement_sections(agreement: dict[str, Any]) -> list[str]:
    """Links from both directions' models, alone and symmetrized (``model_export.agreement``)."""
    test, dev = agreement["test"], agreement["dev"]
    rows = [
        [f"{entry['matrices'].get('forward')} / {entry['matrices'].get('backward')}", rule]
        + [values[k] for k in ("precision", "recall", "f1", "aer")]
        for entry in test["sources"].values()
        for rule, values in entry["links"].items()
    ]
    best = ", ".join(f"{source}: {rule}" for source, rule in dev["best"].items())
    return [
        "## Word alignment by agreement with the reverse model",
        f"The {test['backward']['direction']} model (`{test['backward']['name']}`) run "
        "teacher-forced over the same pairs reversed gives each source word a distribution "
        "over the target words; its links alone (`backward`), and combined with this "
        "model's (intersection, union, grow-diag-final-and of the two directions' argmax "
        "links; geometric mean `product` or `mean` of the two probabilities at a threshold), "
        f"against eflomal's links of {test['scored']} test pairs. Best on dev by F1: {best}.",
        _table(["matrices (forward / backward)", "rule", "precision", "recall", "F1", "AER"], rows),
    ]


def read_log(run_dir: Path | None) -> list[dict[str, Any]]:
    if run_dir is None or not (run_dir / "log.jsonl").exists():
        return []
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
