"""What ``model_config.json`` says of how a model was trained: each run's settings and
outcome, from the base run through fine-tuning to the alignment head on frozen weights."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

# The records of model_config.json, in the order the runs happen.
TRAINING_STAGES = ("training", "fine_tuning", "alignment_head_training")


def training_record(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """A run's settings and outcome, as ``model_config.json`` records each training stage;
    a run of the head on frozen weights keeps its best dev F1 (its selection score)."""
    record = {
        **dict(checkpoint["train_config"]),
        "epochs": checkpoint["epoch"],  # trained, not the configured maximum
        "best_dev_bleu": checkpoint["best_bleu"],
        "seconds": checkpoint["elapsed"],
    }
    if record.get("freeze_model"):
        record["best_dev_f1"] = record.pop("best_dev_bleu") / 100
    return record


def training_stages(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """How the checkpoint was made: the base run, then each run started from another
    (``--init``): fine-tuning, and the alignment head trained on frozen weights (a head
    trained again keeps the record of the one before it). A chain that starts from an
    exported artifact starts with the artifact's own record."""
    stages = [checkpoint]
    while init := stages[-1].get("init"):
        path = Path(init["checkpoint"])
        # An artifact directory (or a checkpoint no longer kept) ends the chain.
        stages.append(torch.load(path, weights_only=False) if path.is_file() else init)
    base = stages[-1]
    result: dict[str, Any] = copy.deepcopy(base.get("stages", {}))
    result.setdefault("training", training_record(base))
    for stage in reversed(stages[:-1]):
        record = training_record(stage)
        if stage["train_config"].get("freeze_model"):
            if "alignment_head_training" in result:
                record["previous"] = result["alignment_head_training"]
            result["alignment_head_training"] = record
        else:
            result.setdefault("fine_tuning", []).append(record)
    return result
