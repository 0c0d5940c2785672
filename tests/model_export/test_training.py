"""Training on the fixture corpus: the loss goes down, and a run resumes where it stopped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from model_export.train import TrainConfig, load_model, train

TINY_EPOCHS = 4  # as trained by the tiny_run fixture


def read_log(run_dir: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_training_lowers_the_loss(tiny_run: Path) -> None:
    records = read_log(tiny_run)
    assert [r["epoch"] for r in records] == list(range(1, TINY_EPOCHS + 1))
    losses = [r["train_loss"] for r in records]
    assert losses[-1] < losses[0]
    assert all(r["train_perplexity"] > 1 for r in records)
    assert all(r["dev_bleu"] >= 0 for r in records)
    assert all(r["target_tokens_per_second"] > 0 for r in records)


def test_run_directory_holds_checkpoints_with_their_config(tiny_run: Path) -> None:
    assert (tiny_run / "best.pt").is_file()
    assert (tiny_run / "last.pt").is_file()
    model, checkpoint = load_model(tiny_run / "best.pt")
    best_epoch = max(read_log(tiny_run), key=lambda r: r["dev_bleu"])["epoch"]
    assert checkpoint["epoch"] == best_epoch
    assert model.config.embedding_size == 32
    assert model.config.attention is True
    assert not model.training


def test_resume_continues_from_the_saved_epoch(
    tiny_run: Path, tiny_data: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    before = read_log(run_dir)
    saved = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)
    assert saved["epoch"] == TINY_EPOCHS

    config = TrainConfig(
        epochs=TINY_EPOCHS + 1, batch_tokens=800, threads=1, learning_rate=5e-3, patience=10
    )
    train(tiny_data, run_dir, None, config)

    after = read_log(run_dir)
    assert len(after) == len(before) + 1
    assert after[:-1] == before
    assert after[-1]["epoch"] == TINY_EPOCHS + 1
    # Trained weights were restored: a fresh model's first epoch has a far higher loss.
    assert after[-1]["train_loss"] < before[0]["train_loss"]
    resumed = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)
    assert resumed["epoch"] == TINY_EPOCHS + 1
    assert resumed["model_config"] == saved["model_config"]
    assert resumed["elapsed"] > saved["elapsed"]

    # A run already at its last epoch does nothing more.
    train(tiny_data, run_dir, None, config)
    assert len(read_log(run_dir)) == len(after)
