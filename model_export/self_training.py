"""Retraining the alignment head on other training links than the aligner's symmetrized ones.

Two sources of links: both directions' heads symmetrized by agreement, a round of
self-training (the idea of Shift-AET, on this model: :func:`write_agreement_data`), and the
aligner's own two directions, their intersection (or grow-diag-final-and) as targets with
the rest of their union masked out of the loss (:func:`write_masked_data`). ``train --init ARTIFACT
--alignment-head --freeze-model`` retrains the head on either data directory on the
artifact's own weights; :func:`install_head` puts the new head back into the artifact once
every graph still matches PyTorch. Dev and test keep the aligner's links in both, so dev F1
still measures against the aligner.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from model_export.agreement import agreement_links
from model_export.export import export_alignment_head
from model_export.parity import check_parity
from model_export.train import load_model
from model_export.training_records import training_record
from model_export.word_alignment import (
    alignment_path,
    directional_alignments,
    format_pharaoh,
    masked_path,
    read_alignments,
    targets_and_rest,
)
from service.inference.alignment import DEFAULT_THRESHOLD

LINKS_RECORD = "training_links.json"  # how a data directory's training links were made


def _linked_copy(data_dir: Path, out_dir: Path, replaced: set[str]) -> None:
    """``data_dir``'s files linked into ``out_dir``, except those named in ``replaced``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in data_dir.iterdir():
        target = out_dir / path.name
        if path.name not in replaced and not target.exists():
            target.symlink_to(path.resolve())


def _write_links(path: Path, lines: list[set[tuple[int, int]]]) -> None:
    path.write_text("".join(format_pharaoh(links) + "\n" for links in lines), encoding="utf-8")


def write_agreement_data(
    forward_dir: Path,
    backward_dir: Path,
    data_dir: Path,
    out_dir: Path,
    method: str,
    threshold: float = DEFAULT_THRESHOLD,
    threads: int = 0,
) -> dict[str, Any]:
    """A data directory for a round of self-training (Shift-AET's idea, on this model's
    heads): ``data_dir``'s files linked into ``out_dir``, except the training split's
    links, which become the two models' links by agreement. A pair that cannot be scored
    keeps the word aligner's links."""
    train_links = alignment_path(data_dir, "train")
    _linked_copy(data_dir, out_dir, {train_links.name})
    agreed = agreement_links(
        forward_dir, backward_dir, data_dir, "train", method, threshold, threads
    )
    aligner = read_alignments(train_links)
    lines = [a if a is not None else e for a, e in zip(agreed, aligner, strict=True)]
    _write_links(out_dir / train_links.name, lines)
    report = {
        "pairs": len(lines),
        "agreement": sum(a is not None for a in agreed),
        "aligner": sum(a is None for a in agreed),
        "method": method,
        "threshold": threshold,
        "forward": str(forward_dir),
        "backward": str(backward_dir),
    }
    (out_dir / LINKS_RECORD).write_text(json.dumps(report, indent=2) + "\n")
    return report


def write_masked_data(data_dir: Path, out_dir: Path, targets: str) -> dict[str, Any]:
    """A data directory whose training links are ``targets`` of the aligner's two directions
    (``eflomal.fwd`` and ``.rev``: their intersection or grow-diag-final-and), with the rest
    of their union in ``train.masked``: left out of the alignment losses instead of counted
    as negatives."""
    train_links = alignment_path(data_dir, "train")
    _linked_copy(data_dir, out_dir, {train_links.name, masked_path(data_dir, "train").name})
    forward, reverse = directional_alignments(data_dir, "train")
    split = [targets_and_rest(f, r, targets) for f, r in zip(forward, reverse, strict=True)]
    _write_links(out_dir / train_links.name, [trusted for trusted, _ in split])
    _write_links(masked_path(out_dir, "train"), [rest for _, rest in split])
    report = {
        "pairs": len(split),
        "method": f"aligner {targets}, the rest of the union masked",
        "links": sum(len(trusted) for trusted, _ in split),
        "masked": sum(len(rest) for _, rest in split),
    }
    (out_dir / LINKS_RECORD).write_text(json.dumps(report, indent=2) + "\n")
    return report


def install_head(checkpoint_path: Path, artifact_dir: Path) -> dict[str, Any]:
    """The head of a ``--freeze-model`` run into the artifact whose other weights it was
    trained on, checked on a copy first: the artifact changes only if every graph passes
    parity. The head's training record replaces the artifact's, the old one kept inside
    it. Returns the parity report."""
    model, checkpoint = load_model(checkpoint_path)
    config_path = artifact_dir / "model_config.json"
    config = json.loads(config_path.read_text())
    with tempfile.TemporaryDirectory() as scratch:
        trial = Path(scratch) / "artifact"
        shutil.copytree(artifact_dir, trial)
        head = export_alignment_head(model, trial)
        report = check_parity(model, trial)
        if not report.ok:
            raise SystemExit("parity failed: the checkpoint's other weights are not the artifact's")
        shutil.copyfile(head, artifact_dir / head.name)
    record = training_record(checkpoint)
    links = Path(str(checkpoint["data_dir"])) / LINKS_RECORD
    if links.exists():
        record["training_links"] = json.loads(links.read_text())
    record["previous"] = config.get("alignment_head_training")
    config["alignment_head_training"] = record
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return report.__dict__ | {"ok": report.ok}
