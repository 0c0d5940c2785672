"""Parity of the exported graphs: ONNX Runtime against PyTorch, batched against alone.

On padded batches of several sizes with mixed lengths, compares log-probabilities and
attention over a teacher-forced decode, and the greedy translations token by token.

The shortlist step graph is compared on its logits (before the softmax), against PyTorch's
projection at the candidate rows: its log-probabilities are renormalized over the
candidates, so they differ from the full graph's by a constant per row (the log of the
candidates' share of the mass), and that constant's spread across a row, and the best
candidate, are compared with the full graph's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from model_export.model import Seq2Seq
from service.inference.artifact import load_artifact
from service.inference.runtime import EncodedBatch, OnnxSeq2Seq, RuntimeOptions, session_options
from service.inference.search import SearchOptions, greedy_search
from service.inference.step import FullStepFunction, top_k_step

TOLERANCE = 1e-4


@dataclass
class ParityReport:
    max_log_prob_diff: float = 0.0  # ONNX vs PyTorch, and batched vs alone
    max_attention_diff: float = 0.0
    max_annotation_diff: float = 0.0
    max_head_diff: float = 0.0  # alignment head: ONNX vs PyTorch, and batched vs alone
    greedy_identical: bool = True
    cases: int = 0
    # The shortlist step: its logits vs PyTorch's, the spread across a row of its offset
    # from the full graph's log-probabilities, and whether the best candidate is the same.
    max_shortlist_logit_diff: float = 0.0
    max_shortlist_offset_spread: float = 0.0
    shortlist_best_identical: bool = True
    shortlist_rows: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.greedy_identical
            and self.shortlist_best_identical
            and self.max_shortlist_logit_diff <= TOLERANCE
            and self.max_shortlist_offset_spread <= TOLERANCE
            and self.max_log_prob_diff <= TOLERANCE
            and self.max_attention_diff <= TOLERANCE
            and self.max_head_diff <= TOLERANCE
        )


def torch_encode(model: Seq2Seq, tokens: np.ndarray, lengths: np.ndarray) -> EncodedBatch:
    with torch.no_grad():
        annotations, keys, state, mask = model.encode(
            torch.from_numpy(tokens), torch.from_numpy(lengths)
        )
    return EncodedBatch(annotations.numpy(), keys.numpy(), state.numpy(), mask.numpy())


def torch_step_function(model: Seq2Seq, encoded: EncodedBatch) -> FullStepFunction:
    """The PyTorch decoder step with the same interface as the ONNX one."""

    def step(
        prev: np.ndarray, state: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with torch.no_grad():
            out = model.step(
                torch.from_numpy(prev),
                torch.from_numpy(state),
                torch.from_numpy(encoded.annotations[rows]),
                torch.from_numpy(encoded.keys[rows]),
                torch.from_numpy(encoded.mask[rows]),
            )
        return out[0].numpy(), out[1].numpy(), out[2].numpy()

    return step


def _teacher_forced(
    step: FullStepFunction, encoded: EncodedBatch, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities (B, U, V) and attention (B, U, T) along fixed target prefixes."""
    rows = np.arange(targets.shape[0])
    state, log_probs, attention = encoded.init_state, [], []
    for i in range(targets.shape[1]):
        lp, state, alpha = step(targets[:, i], state, rows)
        log_probs.append(lp)
        attention.append(alpha)
    return np.stack(log_probs, 1), np.stack(attention, 1)


def torch_alignment_head(
    model: Seq2Seq, encoded: EncodedBatch, targets: list[list[int]], pad: int
) -> list[np.ndarray]:
    """The PyTorch alignment head with the interface of ``OnnxSeq2Seq.align_words``."""
    assert model.alignment_head is not None
    lengths = torch.tensor([len(t) for t in targets])
    tokens = torch.full((len(targets), int(lengths.max())), pad, dtype=torch.long)
    for row, target in enumerate(targets):
        tokens[row, : len(target)] = torch.tensor(target)
    with torch.no_grad():
        probabilities = model.alignment_head(
            torch.from_numpy(encoded.annotations),
            torch.from_numpy(encoded.mask),
            tokens,
            lengths,
        ).numpy()
    source_lengths = encoded.mask.sum(axis=1)
    return [probabilities[r, : len(t), : source_lengths[r]] for r, t in enumerate(targets)]


def _head_diff(
    model: Seq2Seq,
    onnx_model: OnnxSeq2Seq,
    enc_onnx: EncodedBatch,
    enc_torch: EncodedBatch,
    targets: np.ndarray,
    pad: int,
) -> float:
    """Largest difference of the head's rows: ONNX vs PyTorch, and each row alone."""
    lists = [row[1 : 2 + r % targets.shape[1]].tolist() for r, row in enumerate(targets)]
    lists = [t if t else [int(targets[0, -1])] for t in lists]
    batched = onnx_model.align_words(enc_onnx, lists, pad)
    reference = torch_alignment_head(model, enc_torch, lists, pad)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(batched, reference, strict=True))
    for row, target in enumerate(lists):
        n = int(enc_onnx.mask[row].sum())
        alone = EncodedBatch(
            enc_onnx.annotations[row : row + 1, :n],
            enc_onnx.keys[row : row + 1, :n],
            enc_onnx.init_state[row : row + 1],
            enc_onnx.mask[row : row + 1, :n],
        )
        (single,) = onnx_model.align_words(alone, [target], pad)
        worst = max(worst, float(np.abs(single - batched[row]).max()))
    return worst


def shortlist_candidates(
    artifact_dir: Path, tokens: np.ndarray, vocab: int, special: list[int], seed: int
) -> np.ndarray:
    """Candidates of a batch: the artifact's shortlist over its source tokens, else a
    random fifth of the vocabulary with the special tokens."""
    artifact = load_artifact(artifact_dir)
    if artifact.shortlist_path is not None:
        from service.inference.shortlist import Shortlist

        shortlist = Shortlist.load(artifact.shortlist_path, vocab)
        return shortlist.candidates(tokens.ravel().tolist())
    rng = np.random.default_rng(seed)
    chosen = rng.choice(vocab, size=max(8, vocab // 5), replace=False)
    return np.unique(np.r_[chosen, special]).astype(np.int64)


def shortlist_step_parity(
    model: Seq2Seq,
    onnx_model: OnnxSeq2Seq,
    shortlist_step: ort.InferenceSession,
    encoded: EncodedBatch,
    targets: np.ndarray,
    candidates: np.ndarray,
    report: ParityReport,
) -> None:
    """Teacher-forced along ``targets``: the shortlist step against PyTorch's logits and the
    full graph's log-probabilities at the candidates (see the module docstring)."""
    rows = np.arange(targets.shape[0])
    full_step = onnx_model.step_function(encoded)
    feeds = {
        "annotations": encoded.annotations,
        "keys": encoded.keys,
        "src_mask": encoded.mask,
        "candidates": candidates,
        "gather_positions": np.zeros(rows.size, dtype=np.int64),
        "top_k": np.ones(1, dtype=np.int64),
    }
    used = {i.name for i in shortlist_step.get_inputs()}
    state = encoded.init_state
    for i in range(targets.shape[1]):
        prev, current = targets[:, i], state
        feeds.update(prev_tokens=prev, state=current)
        logits, log_probs, top_ids = shortlist_step.run(
            ["logits", "log_probs", "top_ids"], {k: v for k, v in feeds.items() if k in used}
        )
        full_log_probs, state, _ = full_step(prev, state, rows)
        with torch.no_grad():
            features, _, _ = model.decoder.step_features(
                torch.from_numpy(prev),
                torch.from_numpy(current),
                torch.from_numpy(encoded.annotations),
                torch.from_numpy(encoded.keys),
                torch.from_numpy(encoded.mask),
            )
            reference = model.decoder.projection(features).numpy()[:, candidates]
        offset = full_log_probs[:, candidates] - log_probs  # a constant per row
        best = np.argmax(full_log_probs[:, candidates], axis=1)
        report.max_shortlist_logit_diff = max(
            report.max_shortlist_logit_diff, float(np.abs(logits - reference).max())
        )
        report.max_shortlist_offset_spread = max(
            report.max_shortlist_offset_spread, float((offset.max(1) - offset.min(1)).max())
        )
        report.shortlist_best_identical &= bool(np.array_equal(top_ids[:, 0], candidates[best]))
        report.shortlist_rows += rows.size


def check_parity(
    model: Seq2Seq,
    artifact_dir: Path,
    batch_sizes: tuple[int, ...] = (1, 3, 8),
    seed: int = 0,
    steps: int = 6,
) -> ParityReport:
    model.eval()
    artifact = load_artifact(artifact_dir)
    onnx_model = OnnxSeq2Seq(artifact, RuntimeOptions(device="cpu"))
    shortlist_step = (
        ort.InferenceSession(
            str(artifact.decoder_step_shortlist_path),
            session_options(0, shared=True),
            providers=["CPUExecutionProvider"],
        )
        if artifact.decoder_step_shortlist_path is not None
        else None
    )
    special = artifact.special_tokens
    rng = np.random.default_rng(seed)
    report = ParityReport()
    vocab = model.config.src_vocab_size
    for batch in batch_sizes:
        lengths = rng.integers(2, 24, size=batch).astype(np.int64)
        lengths[0] = 24
        tokens = np.full((batch, int(lengths.max())), special.pad, dtype=np.int64)
        for row, n in enumerate(lengths):
            tokens[row, : n - 1] = rng.integers(4, vocab, size=n - 1)
            tokens[row, n - 1] = special.eos
        targets = rng.integers(4, model.config.tgt_vocab_size, size=(batch, steps))
        targets[:, 0] = special.bos

        enc_onnx, enc_torch = (
            onnx_model.encode(tokens, lengths),
            torch_encode(model, tokens, lengths),
        )
        report.max_annotation_diff = max(
            report.max_annotation_diff,
            float(np.abs(enc_onnx.annotations - enc_torch.annotations).max()),
        )
        lp_onnx, at_onnx = _teacher_forced(onnx_model.step_function(enc_onnx), enc_onnx, targets)
        lp_torch, at_torch = _teacher_forced(
            torch_step_function(model, enc_torch), enc_torch, targets
        )
        diffs = [(lp_onnx, lp_torch, at_onnx, at_torch)]
        if shortlist_step is not None:
            candidates = shortlist_candidates(
                artifact_dir,
                tokens,
                model.config.tgt_vocab_size,
                [special.pad, special.unk, special.bos, special.eos],
                seed + batch,
            )
            shortlist_step_parity(
                model, onnx_model, shortlist_step, enc_onnx, targets, candidates, report
            )
        if model.alignment_head is not None:
            report.max_head_diff = max(
                report.max_head_diff,
                _head_diff(model, onnx_model, enc_onnx, enc_torch, targets, special.pad),
            )
        options = SearchOptions(beam_size=1, max_length_ratio=1.0, max_length_extra=5)
        greedy_batched = greedy_search(
            onnx_model.top_k_step_function(enc_onnx),
            enc_onnx.init_state,
            lengths.tolist(),
            special.bos,
            special.eos,
            options,
        )
        greedy_torch = greedy_search(
            top_k_step(torch_step_function(model, enc_torch)),
            enc_torch.init_state,
            lengths.tolist(),
            special.bos,
            special.eos,
            options,
        )
        for row, n in enumerate(lengths):
            alone = onnx_model.encode(tokens[row : row + 1, :n], lengths[row : row + 1])
            lp_alone, at_alone = _teacher_forced(
                onnx_model.step_function(alone), alone, targets[row : row + 1]
            )
            at_batched = at_onnx[row : row + 1, :, :n]
            diffs.append((lp_onnx[row : row + 1], lp_alone, at_batched, at_alone))
            padding_attention = at_onnx[row, :, n:]  # must be exactly zero
            if padding_attention.size:
                report.max_attention_diff = max(
                    report.max_attention_diff, float(np.abs(padding_attention).max())
                )
            greedy_alone = greedy_search(
                onnx_model.top_k_step_function(alone),
                alone.init_state,
                [int(n)],
                special.bos,
                special.eos,
                options,
            )
            report.greedy_identical &= (
                greedy_alone[0][0].tokens
                == greedy_batched[row][0].tokens
                == greedy_torch[row][0].tokens
            )
            report.cases += 1
        for lp_a, lp_b, at_a, at_b in diffs:
            report.max_log_prob_diff = max(
                report.max_log_prob_diff, float(np.abs(lp_a - lp_b).max())
            )
            report.max_attention_diff = max(
                report.max_attention_diff, float(np.abs(at_a - at_b).max())
            )
    return report
