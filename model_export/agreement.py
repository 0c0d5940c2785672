"""Alignment by agreement: links from a language pair's two models, scored against eflomal.

The source->target model is run teacher-forced over each pair, the target->source model
over the same pair reversed; each gives a word matrix (its alignment head's where it has
one, its attention otherwise), and the links read off each alone and off the two together
(``service.inference.symmetrize``) are compared with the word aligner's links of the data
directory, as ``evaluate_alignment`` compares one model's. Everything goes through the
service's own translator, so the links are those the service would serve.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from model_export.corpus import Pair, read_tsv
from model_export.evaluate import align_pairs
from model_export.word_alignment import Link, link_scores, read_alignments
from service.inference.alignment import DEFAULT_THRESHOLD, WordAlignment
from service.inference.runtime import RuntimeOptions
from service.inference.symmetrize import (
    backward_links,
    forward_links,
    symmetrize,
    without_eos,
)
from service.inference.translation import ALIGNMENT_HEAD, ATTENTION, Translation
from service.inference.translator import InputTooLong, Translator

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)

Matrices = tuple[np.ndarray, np.ndarray]  # forward (target x source), backward (source x target)
Rule = Callable[[np.ndarray, np.ndarray], set[Link]]


def _symmetrized(method: str, threshold: float = DEFAULT_THRESHOLD) -> Rule:
    def rule(forward: np.ndarray, backward: np.ndarray) -> set[Link]:
        return set(symmetrize(forward, backward, method, threshold))

    return rule


def link_rules(thresholds: tuple[float, ...] = THRESHOLDS) -> dict[str, Rule]:
    """Each way of reading links off the two matrices, by the name the report gives it.

    ``forward argmax``/``intersection`` and ``backward ...`` use one direction alone (the
    service's ``argmax`` and ``intersection`` rules, the backward one transposed); the
    rest combine both (:func:`symmetrize`).
    """
    rules: dict[str, Rule] = {
        "forward argmax": lambda f, b: forward_links(f),
        "forward intersection": lambda f, b: set(symmetrize(f, f.T, "intersection")),
        "backward argmax": lambda f, b: backward_links(b),
        "backward intersection": lambda f, b: set(symmetrize(b.T, b, "intersection")),
    }
    for method in ("intersection", "union", "grow-diag-final-and"):
        rules[method] = _symmetrized(method)
    for method in ("product", "mean"):
        for threshold in thresholds:
            rules[f"{method} {threshold}"] = _symmetrized(method, threshold)
    return rules


def _translators(
    forward_dir: Path, backward_dir: Path, threads: int
) -> tuple[Translator, Translator]:
    runtime = RuntimeOptions(device="cpu", intra_op_threads=threads)
    return (
        Translator.from_directory(forward_dir, "fp32", runtime),
        Translator.from_directory(backward_dir, "fp32", runtime),
    )


def _both_ways(
    forward: Translator, backward: Translator, pairs: list[Pair], batch_size: int
) -> tuple[list[int], list[Translation], list[Translation]]:
    """The pairs both models can read (their indices), each aligned teacher-forced by the
    forward model and, reversed, by the backward one."""
    kept = [
        n
        for n, p in enumerate(pairs)
        if _fits(forward, p.source, p.target) and _fits(backward, p.target, p.source)
    ]
    forward_aligned = align_pairs(forward, [pairs[n] for n in kept], batch_size)
    backward_aligned = align_pairs(
        backward, [Pair(pairs[n].target, pairs[n].source, pairs[n].ref) for n in kept], batch_size
    )
    return kept, forward_aligned, backward_aligned


def _fits(translator: Translator, source: str, target: str) -> bool:
    try:
        translator.encode_sources([source])
        translator.encode_targets([target])
    except InputTooLong:
        return False
    return True


def _matrix(aligned: Translation, head: bool) -> tuple[str, WordAlignment]:
    if head and aligned.head_words is not None:
        return ALIGNMENT_HEAD, aligned.head_words
    return ATTENTION, aligned.words


def _pair_matrices(
    pair: Pair, forward: Translation, backward: Translation, head: bool
) -> tuple[str, str, Matrices] | None:
    """Both directions' word matrices of one pair, without ``</s>``, in the orientation
    ``symmetrize`` takes; None when the model's words are not the pair's whitespace words."""
    forward_name, forward_words = _matrix(forward, head)
    backward_name, backward_words = _matrix(backward, head)
    f = without_eos(forward_words)  # (target words x source words)
    b = without_eos(backward_words)  # (source words x target words): the reversed pair
    words = (len(pair.target.split()), len(pair.source.split()))
    if f.shape != words or b.shape != words[::-1]:
        return None
    return forward_name, backward_name, (f, b)


def agreement(
    forward_dir: Path,
    backward_dir: Path,
    data_dir: Path,
    split: str = "dev",
    limit: int = 0,
    threads: int = 0,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Precision, recall, F1 and AER of every way of linking (see :func:`link_rules`)
    against the aligner's links of ``split``, once with both models' attention and once
    with their alignment heads (a model without one contributes its attention).

    ``forward_dir`` translates the data's source into its target, ``backward_dir`` the
    other way. Pairs past either model's token limit, and pairs whose SentencePiece words
    are not their whitespace words (the aligner's links count those), are skipped and
    counted.
    """
    forward, backward = _translators(forward_dir, backward_dir, threads)
    pairs = read_tsv(data_dir / f"{split}.tsv")[: limit or None]
    reference = read_alignments(data_dir / f"{split}.align")[: len(pairs)]
    kept, forward_aligned, backward_aligned = _both_ways(forward, backward, pairs, batch_size)
    has_head = forward.model.head is not None or backward.model.head is not None
    sources: dict[str, Any] = {}
    word_count_mismatch = 0
    for source_name, head in ((ATTENTION, False), (ALIGNMENT_HEAD, True)):
        if head and not has_head:
            continue
        matrices: list[Matrices] = []
        sure: list[set[Link]] = []
        used: dict[str, str] = {}
        for n, f, b in zip(kept, forward_aligned, backward_aligned, strict=True):
            found = _pair_matrices(pairs[n], f, b, head)
            if found is None:
                continue
            used["forward"], used["backward"], pair_matrices = found
            matrices.append(pair_matrices)
            sure.append(reference[n])
        word_count_mismatch = len(kept) - len(matrices)
        sources[source_name] = {
            "matrices": used,
            "links": {
                name: link_scores([rule(f, b) for f, b in matrices], sure).as_dict()
                for name, rule in link_rules().items()
            },
        }
    return {
        "split": split,
        "forward": _describe(forward),
        "backward": _describe(backward),
        "pairs": len(pairs),
        "scored": len(kept) - word_count_mismatch,
        "skipped": {"too_long": len(pairs) - len(kept), "word_count": word_count_mismatch},
        "sources": sources,
        "best": {
            name: max(entry["links"].items(), key=lambda item: item[1]["f1"])[0]
            for name, entry in sources.items()
        },
    }


def agreement_links(
    forward_dir: Path,
    backward_dir: Path,
    data_dir: Path,
    split: str,
    method: str,
    threshold: float = DEFAULT_THRESHOLD,
    threads: int = 0,
    batch_size: int = 32,
) -> list[set[Link] | None]:
    """Each pair's links by agreement of both models' alignment heads (attention where a
    model has none), symmetrized with ``method``; None where a pair cannot be scored (past
    a model's token limit, or SentencePiece words that are not its whitespace words)."""
    pairs = read_tsv(data_dir / f"{split}.tsv")
    kept, forward_aligned, backward_aligned = _both_ways(
        *_translators(forward_dir, backward_dir, threads), pairs, batch_size
    )
    rule = _symmetrized(method, threshold)
    links: list[set[Link] | None] = [None] * len(pairs)
    for n, f, b in zip(kept, forward_aligned, backward_aligned, strict=True):
        found = _pair_matrices(pairs[n], f, b, head=True)
        if found is not None:
            links[n] = rule(*found[2])
    return links


def _describe(translator: Translator) -> dict[str, Any]:
    artifact = translator.artifact
    return {
        "directory": str(artifact.directory),
        "name": artifact.name,
        "direction": f"{artifact.source_lang}->{artifact.target_lang}",
        "alignment_head": translator.model.head is not None,
    }


def format_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table, one line per matrix source and link rule."""
    lines = [
        f"{report['split']}: {report['scored']} of {report['pairs']} pairs scored "
        f"(skipped: {report['skipped']['too_long']} too long, "
        f"{report['skipped']['word_count']} with other words than the aligner's)",
        f"forward {report['forward']['direction']} ({report['forward']['directory']}), "
        f"backward {report['backward']['direction']} ({report['backward']['directory']})",
        f"{'matrices':<32} {'rule':<24} {'P':>6} {'R':>6} {'F1':>6} {'AER':>6}",
    ]
    for entry in report["sources"].values():
        matrices = f"{entry['matrices'].get('forward')} / {entry['matrices'].get('backward')}"
        for rule, s in entry["links"].items():
            lines.append(
                f"{matrices:<32} {rule:<24} {s['precision']:>6.3f} {s['recall']:>6.3f} "
                f"{s['f1']:>6.3f} {s['aer']:>6.3f}"
            )
    return "\n".join(lines)


def chosen_agreement(dev: dict[str, Any]) -> dict[str, Any]:
    """From a dev report: the best way to combine both directions (the alignment head's
    matrices where there are any), with its F1 beside the best single direction's, for
    ``model_config.json`` (``links.agreement``). The service reads links by agreement by
    default only where it beat the forward model alone on dev."""
    source = "alignment_head" if "alignment_head" in dev["sources"] else "attention"
    scores = dev["sources"][source]["links"]
    combined = {n: s for n, s in scores.items() if not n.startswith(("forward", "backward"))}
    name, best = max(combined.items(), key=lambda item: item[1]["f1"])
    forward = max(s["f1"] for n, s in scores.items() if n.startswith("forward"))
    method, _, threshold = name.partition(" ")
    return {
        "method": method,
        "threshold": float(threshold) if threshold else DEFAULT_THRESHOLD,
        "matrix": source,
        "dev_f1": best["f1"],
        "forward_dev_f1": forward,
    }
