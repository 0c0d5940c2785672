"""A round of self-training of the alignment head (the idea of Shift-AET, on this model).

Both directions' heads, symmetrized by agreement, give the training pairs new links
(:func:`write_agreement_data`); ``train --init ARTIFACT --alignment-head --freeze-model``
retrains the head on them on the artifact's own weights; :func:`install_head` puts the new
head back into the artifact once every graph still matches PyTorch.
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
from model_export.train import load_model, training_record
from model_export.word_alignment import alignment_path, format_pharaoh, read_alignments
from service.inference.alignment import DEFAULT_THRESHOLD

AGREEMENT_RECORD = "agreement_links.json"


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
    keeps the word aligner's links; dev and test keep the aligner's, so dev F1 still
    measures against the aligner."""
    out_dir.mkdir(parents=True, exist_ok=True)
    train_links = alignment_path(data_dir, "train")
    for path in data_dir.iterdir():
        target = out_dir / path.name
        if path.name != train_links.name and not target.exists():
            target.symlink_to(path.resolve())
    agreed = agreement_links(
        forward_dir, backward_dir, data_dir, "train", method, threshold, threads
    )
    aligner = read_alignments(train_links)
    lines = [
        format_pharaoh(a if a is not None else e) for a, e in zip(agreed, aligner, strict=True)
    ]
    (out_dir / train_links.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = {
        "pairs": len(lines),
        "agreement": sum(a is not None for a in agreed),
        "aligner": sum(a is None for a in agreed),
        "method": method,
        "threshold": threshold,
        "forward": str(forward_dir),
        "backward": str(backward_dir),
    }
    (out_dir / AGREEMENT_RECORD).write_text(json.dumps(report, indent=2) + "\n")
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
    record["best_dev_f1"] = record.pop("best_dev_bleu") / 100  # what a frozen run keeps
    links = Path(str(checkpoint["data_dir"])) / AGREEMENT_RECORD
    if links.exists():
        record["training_links"] = json.loads(links.read_text())
    record["previous"] = config.get("alignment_head_training")
    config["alignment_head_training"] = record
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return report.__dict__ | {"ok": report.ok}
