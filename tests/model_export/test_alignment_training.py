"""Guided alignment and the alignment head: their losses fall, a frozen model stays frozen."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import torch

from model_export.__main__ import main
from model_export.dataset import ParallelData, batches_by_tokens
from model_export.model import ModelConfig, Seq2Seq
from model_export.train import (
    TrainConfig,
    alignment_cross_entropy,
    batch_losses,
    load_model,
    train,
)
from model_export.training_records import TRAINING_STAGES, training_stages


def _small_model(data: ParallelData) -> Seq2Seq:
    """A model 16 wide everywhere, with an alignment head, for the data's vocabularies."""
    config = ModelConfig(
        data.source_vocab_size,
        data.target_vocab_size,
        embedding_size=16,
        encoder_hidden_size=16,
        decoder_hidden_size=16,
        attention_size=16,
        output_size=16,
        dropout=0.0,
        alignment_head=True,
    )
    return Seq2Seq(config)


def read_log(run_dir: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_guided_and_head_losses_fall_over_training(tiny_run: Path) -> None:
    records = read_log(tiny_run)
    guided = [r["guided_alignment_loss"] for r in records]
    head = [r["head_alignment_loss"] for r in records]
    assert guided[-1] < guided[0]
    assert head[-1] < head[0]
    assert all(0 <= r["dev_attention_f1"] <= 1 and 0 <= r["dev_head_f1"] <= 1 for r in records)


def test_alignment_cross_entropy_skips_unsupervised_rows() -> None:
    probabilities = torch.tensor([[[0.5, 0.5], [0.9, 0.1]]])
    references = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])  # second row unsupervised
    loss = alignment_cross_entropy(probabilities, references)
    assert torch.isclose(loss, -torch.log(torch.tensor(0.5)))
    assert alignment_cross_entropy(probabilities, torch.zeros_like(references)) == 0


def test_masked_cells_are_neither_targets_nor_negatives() -> None:
    """With a cell masked, the loss is the cross-entropy of the row renormalized over the
    other cells: the masked logit gets no gradient, the others as if it were absent."""
    logits = torch.tensor([[[1.0, 2.0, 0.5]]], requires_grad=True)
    references = torch.tensor([[[1.0, 0.0, 0.0]]])
    masked = torch.tensor([[[False, True, False]]])
    loss = alignment_cross_entropy(torch.softmax(logits, dim=-1), references, masked)
    loss.backward()
    assert logits.grad is not None
    assert abs(float(logits.grad[0, 0, 1])) < 1e-6  # zero up to rounding
    without = logits.detach()[..., [0, 2]].requires_grad_(True)
    expected = -torch.log_softmax(without, dim=-1)[0, 0, 0]
    assert torch.isclose(loss, expected)
    expected.backward()
    assert without.grad is not None
    torch.testing.assert_close(logits.grad[0, 0, [0, 2]], without.grad[0, 0])
    # Unmasked, the same row pushes the middle cell down.
    unmasked = torch.tensor([[[1.0, 2.0, 0.5]]], requires_grad=True)
    alignment_cross_entropy(torch.softmax(unmasked, dim=-1), references).backward()
    assert unmasked.grad is not None and unmasked.grad[0, 0, 1] > 0


def test_masked_data_trains_on_both_directions_links_and_masks_the_rest(
    tiny_data: Path, tmp_path: Path
) -> None:
    from model_export.word_alignment import directional_alignments, masked_path, read_alignments

    out = tmp_path / "intersection"
    main(["masked-data", "--data", str(tiny_data), "--out", str(out)])
    report = json.loads((out / "training_links.json").read_text())
    for name in ("dev.align", "test.align", "train.tsv", "target.model"):
        assert (out / name).read_bytes() == (tiny_data / name).read_bytes()
    assert not masked_path(tiny_data, "train").exists() and not masked_path(out, "dev").exists()
    both, rest = read_alignments(out / "train.align"), read_alignments(masked_path(out, "train"))
    forward, reverse = directional_alignments(tiny_data, "train")
    assert len(both) == len(rest) == len(forward) == report["pairs"]
    for b, r, f, v in zip(both, rest, forward, reverse, strict=True):
        assert b == f & v and r == (f | v) - b
    assert report["masked"] == sum(map(len, rest)) > 0

    data = ParallelData.load(out)
    examples = [ex for ex in data.training_examples(60) if ex.masked is not None]
    assert examples and all(ex.reference is not None for ex in examples)
    for example in examples:
        assert example.reference is not None and example.masked is not None
        assert example.masked.shape == example.reference.shape
        assert not (example.masked & (example.reference > 0)).any()
    assert any(ex.masked.any() for ex in examples if ex.masked is not None)
    assert all(ex.masked is None for ex in ParallelData.load(tiny_data).training_examples(60))

    # A batch where a supervised row has masked cells scores lower than without the mask.
    batch = [
        ex
        for ex in examples
        if ex.masked is not None
        and ex.reference is not None
        and (ex.masked[ex.reference.sum(axis=1) > 0]).any()
    ][:8]
    assert batch
    torch.manual_seed(0)
    model = _small_model(data)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=0, reduction="sum")
    masked_loss = batch_losses(model, batch, loss_fn, TrainConfig(), torch.device("cpu")).head
    plain = [replace(example, masked=None) for example in batch]
    plain_loss = batch_losses(model, plain, loss_fn, TrainConfig(), torch.device("cpu")).head
    assert masked_loss is not None and plain_loss is not None
    assert masked_loss < plain_loss  # renormalized over fewer cells


def test_a_few_steps_on_one_batch_lower_both_alignment_losses(tiny_data: Path) -> None:
    torch.manual_seed(0)
    data = ParallelData.load(tiny_data)
    examples = [ex for ex in data.training_examples(60) if ex.reference is not None]
    batch = batches_by_tokens(examples, 400, shuffle=False)[3]
    model = _small_model(data)
    train_config = TrainConfig(guided_alignment=1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=0, reduction="sum")
    first = None
    for _ in range(80):
        losses = batch_losses(model, batch, loss_fn, train_config, torch.device("cpu"))
        assert losses.guided is not None and losses.head is not None
        first = first or (losses.guided.item(), losses.head.item())
        total = losses.translation / losses.tokens + losses.guided + losses.head
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert losses.guided.item() < 0.8 * first[0]
    assert losses.head.item() < 0.8 * first[1]


def test_a_head_trained_on_frozen_weights_leaves_the_model_unchanged(
    tiny_run: Path, tiny_data: Path, tmp_path: Path
) -> None:
    base, _ = load_model(tiny_run / "best.pt")
    run = tmp_path / "head"
    train(
        tiny_data,
        run,
        ModelConfig(1, 1, alignment_head=True),
        TrainConfig(epochs=2, batch_tokens=800, threads=1, learning_rate=5e-3, freeze_model=True),
        init_checkpoint=tiny_run / "best.pt",
    )
    tuned, _ = load_model(run / "last.pt")
    for name, value in base.state_dict().items():
        if not name.startswith("alignment_head."):
            assert torch.equal(value, tuned.state_dict()[name]), name
    changed = [
        name
        for name, value in base.state_dict().items()
        if name.startswith("alignment_head.") and not torch.equal(value, tuned.state_dict()[name])
    ]
    assert changed
    records = read_log(run)
    assert records[-1]["head_alignment_loss"] < records[0]["head_alignment_loss"]


def test_a_head_run_starts_from_an_artifact_directory(
    tiny_artifact: Path, tiny_data: Path, tmp_path: Path
) -> None:
    """A bundled model keeps no checkpoint: its head is retrained from the artifact's own
    ONNX initializers, and every other weight is the artifact's."""
    from model_export.export import rebuild_torch_model

    base = rebuild_torch_model(tiny_artifact)
    run = tmp_path / "head"
    train(
        tiny_data,
        run,
        ModelConfig(1, 1, alignment_head=True),
        TrainConfig(epochs=1, batch_tokens=800, threads=1, learning_rate=5e-3, freeze_model=True),
        init_checkpoint=tiny_artifact,
    )
    tuned, checkpoint = load_model(run / "last.pt")
    assert checkpoint["init"]["train_config"] == {"artifact": str(tiny_artifact)}
    artifact_config = json.loads((tiny_artifact / "model_config.json").read_text())
    assert checkpoint["init"]["stages"] == {
        key: artifact_config[key] for key in TRAINING_STAGES if key in artifact_config
    }
    for name, value in base.state_dict().items():
        if not name.startswith("alignment_head."):
            assert torch.equal(value, tuned.state_dict()[name]), name
    assert any(
        not torch.equal(value, tuned.state_dict()[name])
        for name, value in base.state_dict().items()
        if name.startswith("alignment_head.")
    )

    # ... and the retrained head goes back into (a copy of) the artifact.
    artifact = tmp_path / "artifact"
    shutil.copytree(tiny_artifact, artifact)
    main(["export-head", "--checkpoint", str(run / "best.pt"), "--model", str(artifact)])
    head = artifact / "alignment_head.onnx"
    assert head.read_bytes() != (tiny_artifact / "alignment_head.onnx").read_bytes()
    for graph in ("encoder.onnx", "decoder_step.onnx"):
        assert (artifact / graph).read_bytes() == (tiny_artifact / graph).read_bytes()
    config = json.loads((artifact / "model_config.json").read_text())
    record = config["alignment_head_training"]
    assert record["freeze_model"] and record["epochs"] == 1
    assert record["previous"] == json.loads((tiny_artifact / "model_config.json").read_text()).get(
        "alignment_head_training"
    )
    assert torch.equal(
        rebuild_torch_model(artifact).state_dict()["alignment_head.key_layer.0.weight"],
        torch.load(run / "best.pt", weights_only=False)["model"][
            "alignment_head.key_layer.0.weight"
        ],
    )


def test_the_record_of_a_run_from_an_artifact_keeps_the_artifact_s_runs() -> None:
    head_before = {"epochs": 5, "freeze_model": True, "best_dev_f1": 0.81}
    artifact_stages = {
        "training": {"epochs": 13, "best_dev_bleu": 19.3},
        "fine_tuning": [{"epochs": 1, "guided_alignment": 0.5}],
        "alignment_head_training": head_before,
    }
    base = {"checkpoint": "models/none", "train_config": {"artifact": "models/none"}}
    base |= {"epoch": 13, "best_bleu": 19.3, "elapsed": 5000.0, "stages": artifact_stages}
    head_run = {"train_config": {"freeze_model": True, "learning_rate": 0.002}, "init": base}
    head_run |= {"epoch": 4, "best_bleu": 80.9, "elapsed": 494.0}
    stages = training_stages(head_run)
    assert stages["training"] == artifact_stages["training"]
    assert stages["fine_tuning"] == artifact_stages["fine_tuning"]
    head = stages["alignment_head_training"]
    assert head["epochs"] == 4 and head["best_dev_f1"] == 0.809
    assert head["previous"] == head_before

    fine_tune = {"train_config": {"guided_alignment": 0.5}, "init": base}
    fine_tune |= {"epoch": 1, "best_bleu": 19.8, "elapsed": 1226.0}
    stages = training_stages(fine_tune)
    assert [stage["epochs"] for stage in stages["fine_tuning"]] == [1, 1]
    assert stages["fine_tuning"][-1]["best_dev_bleu"] == 19.8
    assert stages["alignment_head_training"] == head_before
    assert artifact_stages["fine_tuning"] == [{"epochs": 1, "guided_alignment": 0.5}]  # a copy

    without = {key: value for key, value in base.items() if key != "stages"}
    assert training_stages({**fine_tune, "init": without})["training"]["epochs"] == 13
