"""Training loop: teacher forcing, label smoothing, dev BLEU per epoch, early stopping.

A run directory holds ``last.pt`` (to resume), ``best.pt`` (best dev BLEU) and
``log.jsonl`` (one line per epoch). Checkpoints carry their own model config.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import sacrebleu
import torch
from torch import nn
from tqdm import tqdm

from model_export import tokenizer
from model_export.alignment_metrics import dev_alignment_f1
from model_export.corpus import Pair
from model_export.dataset import Example, ParallelData, batches_by_tokens, pad_batch, pad_references
from model_export.model import ModelConfig, Seq2Seq
from model_export.training_records import TRAINING_STAGES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_tokens: int = 2500  # target tokens per batch
    learning_rate: float = 2e-3
    label_smoothing: float = 0.1
    clip_norm: float = 1.0
    patience: int = 4  # epochs without dev BLEU gain before stopping
    max_train_length: int = 100  # pieces; longer training pairs are skipped
    seed: int = 1234
    threads: int = 2
    max_minutes: float = 0.0  # wall-clock budget for the whole run; 0 = none
    dev_limit: int = 0  # decode only the first N dev pairs for BLEU; 0 = all
    # Guided alignment (Liu et al. 2016; Marian's --guided-alignment-weight): weight of the
    # cross-entropy between alpha and the word aligner's rows. 0 = off.
    guided_alignment: float = 0.0
    head_weight: float = 1.0  # weight of the alignment head's cross-entropy, when it has one
    # Train only the alignment head, on the frozen weights of the model it starts from.
    freeze_model: bool = False


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def greedy_translate(
    model: Seq2Seq,
    data: ParallelData,
    pairs: list[Pair],
    device: torch.device,
    batch_size: int = 64,
) -> list[str]:
    """Batched greedy decoding in PyTorch, for dev BLEU during training."""
    model.eval()
    outputs: list[str] = []
    encoded = [data.encode_source(p.source) for p in pairs]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    results: dict[int, str] = {}
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        src, lengths = pad_batch([encoded[i] for i in index], device)
        annotations, keys, state, mask = model.encode(src, lengths)
        tokens = torch.full((len(index),), tokenizer.BOS_ID, dtype=torch.long, device=device)
        finished = torch.zeros(len(index), dtype=torch.bool, device=device)
        hyps: list[list[int]] = [[] for _ in index]
        for _ in range(int(lengths.max()) * 2 + 10):
            log_probs, state, _ = model.step(tokens, state, annotations, keys, mask)
            tokens = log_probs.argmax(dim=-1)
            for row, token in enumerate(tokens.tolist()):
                if not finished[row] and token != tokenizer.EOS_ID:
                    hyps[row].append(token)
            finished |= tokens == tokenizer.EOS_ID
            if bool(finished.all()):
                break
        for row, i in enumerate(index):
            results[i] = data.decode_target(hyps[row])
    outputs = [results[i] for i in range(len(pairs))]
    return outputs


def evaluate_bleu(
    model: Seq2Seq, data: ParallelData, pairs: list[Pair], device: torch.device
) -> float:
    hypotheses = greedy_translate(model, data, pairs, device)
    return float(sacrebleu.corpus_bleu(hypotheses, [[p.target for p in pairs]]).score)


def alignment_cross_entropy(
    probabilities: torch.Tensor, references: torch.Tensor, masked: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean over supervised rows of -sum_j r_ij log p_ij; (B,U,T) each, zero rows skipped.

    ``masked`` (B,U,T) cells are taken out of each row's distribution before the loss
    (p renormalized over the rest), so that links the aligner is unsure of are neither
    rewarded nor pushed down."""
    supervised = references.sum(dim=-1) > 0  # (B, U)
    if not bool(supervised.any()):
        return probabilities.new_zeros(())
    log_p = torch.log(probabilities.clamp_min(1e-9))
    if masked is not None:
        kept = probabilities.masked_fill(masked, 0.0).sum(dim=-1, keepdim=True)
        log_p = log_p - torch.log(kept.clamp_min(1e-9))
    per_row = -(references * log_p).sum(dim=-1)  # (B, U)
    return per_row[supervised].mean()


@dataclass
class BatchLosses:
    translation: torch.Tensor  # summed token cross-entropy
    tokens: int
    guided: torch.Tensor | None = None
    head: torch.Tensor | None = None


def batch_losses(
    model: Seq2Seq,
    batch: list[Example],
    loss_fn: nn.Module,
    config: TrainConfig,
    device: torch.device,
) -> BatchLosses:
    """The translation loss of a batch and, where the batch has reference alignments, the
    guided-alignment and alignment-head cross-entropies."""
    src, lengths = pad_batch([ex.source for ex in batch], device)
    tgt, tgt_lengths = pad_batch(
        [[tokenizer.BOS_ID, *ex.target, tokenizer.EOS_ID] for ex in batch], device
    )
    gold = tgt[:, 1:]
    n_tokens = int((gold != model.config.pad_id).sum())
    padded = pad_references(batch, device)
    references, masked = padded if padded is not None else (None, None)
    if config.freeze_model:
        with torch.no_grad():
            annotations, mask = model.encoder(src, lengths)
        losses = BatchLosses(torch.zeros((), device=device), n_tokens)
    else:
        forced = model.teacher_forced(src, lengths, tgt[:, :-1])
        annotations, mask = forced.annotations, forced.src_mask
        translation = loss_fn(forced.logits.reshape(-1, forced.logits.shape[-1]), gold.reshape(-1))
        losses = BatchLosses(translation, n_tokens)
        if references is not None and config.guided_alignment > 0:
            losses.guided = alignment_cross_entropy(forced.attention, references, masked)
    if references is not None and model.alignment_head is not None:
        probabilities = model.alignment_head(annotations, mask, gold, tgt_lengths - 1)
        losses.head = alignment_cross_entropy(probabilities, references, masked)
    return losses


def _load_init(path: Path, device: torch.device) -> dict[str, Any]:
    """A checkpoint, or an exported artifact directory read back as one (its weights from
    the ONNX initializers, its training record from ``model_config.json``), so that a run
    can start from a model whose checkpoints are not kept, such as a bundled one."""
    if not path.is_dir():
        return dict(torch.load(path, map_location=device, weights_only=False))
    from model_export.export import rebuild_torch_model

    config = json.loads((path / "model_config.json").read_text())
    training = config.get("training", {})
    return {
        "model": rebuild_torch_model(path).to(device).state_dict(),
        "model_config": config["model"],
        "epoch": training.get("epochs"),
        "best_bleu": training.get("best_dev_bleu"),
        "elapsed": training.get("seconds"),
        "train_config": {"artifact": str(path)},
        # How the artifact was made, for the record of the runs that start from it.
        "stages": {key: config[key] for key in TRAINING_STAGES if key in config},
    }


def _init_from(model: Seq2Seq, checkpoint_path: Path, device: torch.device) -> dict[str, Any]:
    """Start from another run's weights; parameters it lacks (a new head) stay fresh.
    Returns what the new run records of where it started (the base run's training)."""
    checkpoint = _load_init(checkpoint_path, device)
    missing, unexpected = model.load_state_dict(checkpoint["model"], strict=False)
    if unexpected or any(not name.startswith("alignment_head.") for name in missing):
        raise ValueError(f"{checkpoint_path} does not fit: missing {missing}, extra {unexpected}")
    return {
        "checkpoint": str(checkpoint_path),
        **{key: checkpoint[key] for key in ("epoch", "best_bleu", "elapsed", "train_config")},
        **({"stages": checkpoint["stages"]} if "stages" in checkpoint else {}),
    }


def train(
    data_dir: Path,
    run_dir: Path,
    model_config: ModelConfig | None = None,
    config: TrainConfig = TrainConfig(),
    attention: bool = True,
    init_checkpoint: Path | None = None,
) -> dict[str, float]:
    """Train (or resume) a model in ``run_dir`` on the prepared data in ``data_dir``.

    With ``init_checkpoint`` a new run starts from that run's weights (with
    ``config.freeze_model``: trains only the alignment head on them). The best epoch is
    the one with the best dev BLEU, or the best dev F1 of the head when the model is
    frozen.
    """
    torch.set_num_threads(config.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = ParallelData.load(data_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"

    if last_path.exists():
        checkpoint = torch.load(last_path, map_location=device, weights_only=False)
        model_config = ModelConfig(**dict(checkpoint["model_config"]))
        log.info("resuming %s from epoch %d", run_dir, checkpoint["epoch"])
    else:
        checkpoint = None
        if init_checkpoint is not None:
            base = ModelConfig(**_load_init(init_checkpoint, device)["model_config"])
            if model_config is not None:
                base = replace(base, alignment_head=model_config.alignment_head)
        else:
            base = model_config or ModelConfig(data.source_vocab_size, data.target_vocab_size)
        model_config = replace(
            base,
            attention=attention,
            src_vocab_size=data.source_vocab_size,
            tgt_vocab_size=data.target_vocab_size,
        )
    if config.freeze_model and not model_config.alignment_head:
        raise ValueError("freeze_model trains the alignment head: the model needs one")
    set_seed(config.seed)
    model = Seq2Seq(model_config).to(device)
    init_record: dict[str, Any] | None = checkpoint.get("init") if checkpoint else None
    if checkpoint is None and init_checkpoint is not None:
        init_record = _init_from(model, init_checkpoint, device)
    if config.freeze_model:
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.startswith("alignment_head.")
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=0.5, patience=1
    )
    start_epoch, best_bleu, stale, elapsed = 1, -1.0, 0, 0.0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        start_epoch = checkpoint["epoch"] + 1
        best_bleu, stale, elapsed = (
            checkpoint["best_bleu"],
            checkpoint["stale"],
            checkpoint["elapsed"],
        )
        random.setstate(checkpoint["python_rng"])
        torch.set_rng_state(checkpoint["torch_rng"])

    train_examples = data.training_examples(config.max_train_length)
    dev_pairs = data.pairs["dev"][: config.dev_limit or None]
    dev_examples = data.examples("dev")[: config.dev_limit or None]
    supervised = sum(ex.reference is not None for ex in train_examples)
    if (config.guided_alignment > 0 or model_config.alignment_head) and not supervised:
        raise ValueError(f"no word alignments in {data_dir}: run the word-align step first")
    loss_fn = nn.CrossEntropyLoss(
        ignore_index=model_config.pad_id, label_smoothing=config.label_smoothing, reduction="sum"
    )
    for epoch in range(start_epoch, config.epochs + 1):
        if stale >= config.patience:
            log.info("early stop: no dev BLEU gain in %d epochs", stale)
            break
        if config.max_minutes and elapsed >= config.max_minutes * 60:
            log.info("time budget of %.0f minutes spent", config.max_minutes)
            break
        model.train()
        if config.freeze_model:  # no dropout in the weights the head reads
            model.encoder.eval()
            model.decoder.eval()
        epoch_start = time.perf_counter()
        batches = batches_by_tokens(train_examples, config.batch_tokens, shuffle=True)
        total_loss, total_tokens = 0.0, 0
        alignment_totals = {"guided": [0.0, 0], "head": [0.0, 0]}
        progress = tqdm(batches, desc=f"epoch {epoch}", unit="batch", mininterval=5)
        for batch in progress:
            losses = batch_losses(model, batch, loss_fn, config, device)
            loss = losses.translation / losses.tokens
            for name, term, weight in (
                ("guided", losses.guided, config.guided_alignment),
                ("head", losses.head, config.head_weight),
            ):
                if term is not None:
                    loss = loss + weight * term
                    alignment_totals[name][0] += term.item()
                    alignment_totals[name][1] += 1
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(trainable, config.clip_norm)
            optimizer.step()
            total_loss += losses.translation.item()
            total_tokens += losses.tokens
            seconds = time.perf_counter() - epoch_start
            shown = {"loss": f"{total_loss / total_tokens:.3f}"}
            for name, (value, count) in alignment_totals.items():
                if count:
                    shown[name] = f"{value / count:.3f}"
            progress.set_postfix(**shown, tok_s=f"{total_tokens / seconds:.0f}")
            if config.max_minutes and elapsed + seconds >= config.max_minutes * 60:
                break
        train_seconds = time.perf_counter() - epoch_start
        dev_bleu = evaluate_bleu(model, data, dev_pairs, device)
        dev_f1 = dev_alignment_f1(model, data, dev_examples, device)
        elapsed += time.perf_counter() - epoch_start
        # "bleu" names the selection score; a frozen model is selected by its head's F1.
        score = dev_f1.get("head_f1", 0.0) * 100 if config.freeze_model else dev_bleu
        scheduler.step(score)
        improved = score > best_bleu
        best_bleu, stale = (score, 0) if improved else (best_bleu, stale + 1)
        record = {
            "epoch": epoch,
            "train_loss": total_loss / max(total_tokens, 1),
            "train_perplexity": math.exp(min(total_loss / max(total_tokens, 1), 50)),
            **{
                f"{name}_alignment_loss": value / count
                for name, (value, count) in alignment_totals.items()
                if count
            },
            "dev_bleu": dev_bleu,
            **{f"dev_{name}": value for name, value in dev_f1.items()},
            "target_tokens_per_second": total_tokens / train_seconds,
            "epoch_seconds": time.perf_counter() - epoch_start,
            "elapsed_seconds": elapsed,
            "learning_rate": optimizer.param_groups[0]["lr"],
            "device": str(device),
        }
        log.info("epoch %d: %s", epoch, json.dumps(record))
        with (run_dir / "log.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "best_bleu": best_bleu,
            "stale": stale,
            "elapsed": elapsed,
            "model_config": model_config.to_dict(),
            "train_config": asdict(config),
            "python_rng": random.getstate(),
            "torch_rng": torch.get_rng_state(),
            "data_dir": str(data_dir),
            "init": init_record,
        }
        if improved:
            torch.save(state, best_path)
        torch.save(state, last_path)
    return {"best_dev_bleu": best_bleu}


def load_model(checkpoint_path: Path) -> tuple[Seq2Seq, dict[str, Any]]:
    """The model of a checkpoint, in eval mode, with the checkpoint's metadata."""
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    model = Seq2Seq(ModelConfig(**checkpoint["model_config"]))
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return model, checkpoint
