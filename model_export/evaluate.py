"""Evaluation of exported artifacts: BLEU and chrF, the paper's Figures 2 and 3, a model card.

Everything is decoded by the service's own translator over ONNX Runtime, so the scores
are those of what is served.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sacrebleu

from model_export.corpus import Pair, read_tsv
from model_export.word_alignment import link_scores, read_alignments
from service.inference.alignment import word_links
from service.inference.runtime import RuntimeOptions
from service.inference.search import SearchOptions
from service.inference.translation import LinkPolicy, Translation
from service.inference.translator import AlignOptions, Translator

LENGTH_BUCKETS = ((0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 1000))


@dataclass(frozen=True)
class Decoded:
    hypotheses: list[str]
    translations: list[Translation]
    seconds: float


def decode(
    translator: Translator, pairs: list[Pair], beam_size: int, batch_size: int = 32
) -> Decoded:
    """Translate the sources of ``pairs`` in length-sorted batches; results in input order."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].source))
    results: dict[int, Translation] = {}
    start = time.perf_counter()
    options = SearchOptions(beam_size=beam_size)
    for offset in range(0, len(order), batch_size):
        index = order[offset : offset + batch_size]
        for i, translation in zip(
            index, translator.translate([pairs[i].source for i in index], options), strict=True
        ):
            results[i] = translation
    seconds = time.perf_counter() - start
    translations = [results[i] for i in range(len(pairs))]
    return Decoded([t.text for t in translations], translations, seconds)


def scores(hypotheses: list[str], pairs: list[Pair]) -> dict[str, float]:
    references = [[p.target for p in pairs]]
    return {
        "bleu": round(sacrebleu.corpus_bleu(hypotheses, references).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(hypotheses, references).score, 2),
    }


def bleu_by_length(hypotheses: list[str], pairs: list[Pair]) -> list[dict[str, Any]]:
    """BLEU per source-length bucket (in words), as in Figure 2 of the paper."""
    rows = []
    for low, high in LENGTH_BUCKETS:
        index = [i for i, p in enumerate(pairs) if low <= len(p.source.split()) < high]
        if not index:
            continue
        bleu = sacrebleu.corpus_bleu(
            [hypotheses[i] for i in index], [[pairs[i].target for i in index]]
        ).score
        label = f"{low}-{high - 1}" if high < 1000 else f"{low}+"
        rows.append({"bucket": label, "sentences": len(index), "bleu": round(bleu, 2)})
    return rows


def plot_bleu_by_length(table: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for (name, rows), style in zip(table.items(), ("o-", "s--", "^:"), strict=False):
        axis.plot([r["bucket"] for r in rows], [r["bleu"] for r in rows], style, label=name)
    axis.set_xlabel("source sentence length (words)")
    axis.set_ylabel("BLEU (test, beam 5)")
    axis.set_title("BLEU by sentence length (cf. Bahdanau et al. 2015, Fig. 2)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_attention(translation: Translation, path: Path, head: bool = False) -> None:
    """Word-level attention in grey scale, source on x, target on y (the paper's Fig. 3);
    with ``head`` the alignment head's probabilities instead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    words = translation.head_words if head and translation.head_words else translation.words
    height = 1.5 + 0.3 * len(words.target)
    figure, axis = plt.subplots(figsize=(1.5 + 0.3 * len(words.source), height))
    axis.imshow(words.attention, cmap="gray", vmin=0.0, vmax=1.0, aspect="equal")
    axis.set_xticks(range(len(words.source)), words.source, rotation=90)
    axis.set_yticks(range(len(words.target)), words.target)
    axis.xaxis.tick_top()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def hardware() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"


def evaluate(
    artifact_dir: Path,
    test_pairs: list[Pair],
    baseline_dir: Path | None,
    heatmap_count: int = 4,
    threads: int = 0,
) -> dict[str, Any]:
    """Score an artifact (fp32 and int8, greedy and beam), and compare with the baseline."""
    runtime = RuntimeOptions(device="cpu", intra_op_threads=threads)
    figures = artifact_dir / "figures"
    figures.mkdir(exist_ok=True)
    report: dict[str, Any] = {"test_sentences": len(test_pairs), "hardware": hardware()}
    results: dict[str, Any] = {}
    beam_hypotheses: dict[str, list[str]] = {}
    for precision in ("fp32", "int8"):
        translator = Translator.from_directory(artifact_dir, precision, runtime)
        for name, beam in (("greedy", 1), ("beam5", 5)):
            decoded = decode(translator, test_pairs, beam)
            results[f"{precision}_{name}"] = {
                **scores(decoded.hypotheses, test_pairs),
                "seconds": round(decoded.seconds, 1),
            }
            if precision == "fp32" and name == "beam5":
                beam_hypotheses["attention (RNNsearch)"] = decoded.hypotheses
                _draw_heatmaps(decoded.translations, test_pairs, figures, heatmap_count)
    report["test"] = results
    if baseline_dir is not None:
        baseline = Translator.from_directory(baseline_dir, "fp32", runtime)
        decoded = decode(baseline, test_pairs, 5)
        report["baseline_test"] = {
            **scores(decoded.hypotheses, test_pairs),
            "seconds": round(decoded.seconds, 1),
        }
        beam_hypotheses["no attention (RNNenc)"] = decoded.hypotheses
    table = {name: bleu_by_length(h, test_pairs) for name, h in beam_hypotheses.items()}
    report["bleu_by_length"] = table
    plot_bleu_by_length(table, figures / "bleu_by_length.png")
    return report


def _draw_heatmaps(
    translations: list[Translation], pairs: list[Pair], figures: Path, count: int
) -> None:
    """Figure 3: the first ``count`` test sentences of 8 to 20 words."""
    chosen = [i for i, p in enumerate(pairs) if 8 <= len(p.source.split()) <= 20][:count]
    for n, i in enumerate(chosen, 1):
        plot_attention(translations[i], figures / f"attention_{n}.png")
        if translations[i].head_words is not None:
            plot_attention(translations[i], figures / f"alignment_head_{n}.png", head=True)


def update_config_scores(artifact_dir: Path, report: dict[str, Any]) -> None:
    """Record the scores in ``model_config.json``, the service's source of model facts."""
    path = artifact_dir / "model_config.json"
    config = json.loads(path.read_text())
    test = report["test"]
    config["scores"] = {
        "test_bleu_beam5": test["fp32_beam5"]["bleu"],
        "test_chrf_beam5": test["fp32_beam5"]["chrf"],
        "test_bleu_greedy": test["fp32_greedy"]["bleu"],
        "test_bleu_beam5_int8": test["int8_beam5"]["bleu"],
        "baseline_test_bleu_beam5": report.get("baseline_test", {}).get("bleu"),
    }
    path.write_text(json.dumps(config, indent=2) + "\n")


THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)


def align_pairs(
    translator: Translator, pairs: list[Pair], batch_size: int = 32
) -> list[Translation]:
    """The service's teacher-forced alignment of every pair; results in input order."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].source))
    results: dict[int, Translation] = {}
    for offset in range(0, len(order), batch_size):
        index = order[offset : offset + batch_size]
        batch = [(pairs[i].source, pairs[i].target) for i in index]
        for i, aligned in zip(index, translator.align(batch, AlignOptions()), strict=True):
            results[i] = aligned
    return [results[i] for i in range(len(pairs))]


def _rules() -> list[LinkPolicy]:
    return [
        LinkPolicy("argmax"),
        LinkPolicy("intersection"),
        *(LinkPolicy("threshold", t) for t in THRESHOLDS),
    ]


def _policy_name(policy: LinkPolicy) -> str:
    return f"threshold {policy.threshold}" if policy.rule == "threshold" else policy.rule


def alignment_agreement(
    aligned: list[Translation], reference: list[set[tuple[int, int]]]
) -> dict[str, dict[str, dict[str, float]]]:
    """Precision, recall, F1 and AER of the links read off each matrix (the model's alpha,
    and the alignment head's when there is one) with each link rule, against ``reference``
    (the word aligner's links of the same pairs)."""
    matrices = {"attention": [a.words for a in aligned]}
    if all(a.head_words is not None for a in aligned):
        matrices["alignment_head"] = [a.head_words for a in aligned if a.head_words is not None]
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name, words in matrices.items():
        table[name] = {}
        for policy in _rules():
            predicted = [
                set(word_links(w.attention, w.source, w.target, policy.rule, policy.threshold))
                for w in words
            ]
            table[name][_policy_name(policy)] = link_scores(predicted, reference).as_dict()
    return table


def choose_link_rules(dev: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, Any]]:
    """The rule with the best dev F1 for each matrix, as ``model_config.json`` records it."""
    chosen = {}
    for name, rules in dev.items():
        best = max(_rules(), key=lambda policy: rules[_policy_name(policy)]["f1"])
        chosen[name] = {"rule": best.rule, "threshold": best.threshold}
    return chosen


def evaluate_alignment(
    artifact_dir: Path, data_dir: Path, threads: int = 0
) -> dict[str, Any] | None:
    """Agreement with the word aligner on the dev and test books; the link rules chosen
    on dev. None when the data has no word alignments (``word-align`` not run)."""
    if not (data_dir / "dev.align").exists():
        return None
    runtime = RuntimeOptions(device="cpu", intra_op_threads=threads)
    translator = Translator.from_directory(artifact_dir, "fp32", runtime)
    report: dict[str, Any] = {}
    for split in ("dev", "test"):
        pairs = read_tsv(data_dir / f"{split}.tsv")
        reference = read_alignments(data_dir / f"{split}.align")
        report[split] = alignment_agreement(align_pairs(translator, pairs), reference)
    report["links"] = choose_link_rules(report["dev"])
    return report


def record_link_rules(artifact_dir: Path, links: dict[str, dict[str, Any]]) -> None:
    """Make the dev-chosen link rules the service's default (``model_config.json``)."""
    path = artifact_dir / "model_config.json"
    config = json.loads(path.read_text())
    config["links"] = links
    path.write_text(json.dumps(config, indent=2) + "\n")
