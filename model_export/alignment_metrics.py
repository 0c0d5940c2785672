"""Agreement of a model's alignments with a word aligner's links, in PyTorch.

Used during training to follow the dev-set agreement epoch by epoch; the evaluation of an
exported artifact goes through the service's own code instead (``evaluate``).
"""

from __future__ import annotations

import torch

from model_export import tokenizer
from model_export.dataset import Example, ParallelData, pad_batch
from model_export.model import Seq2Seq
from model_export.word_alignment import Link, link_scores
from service.inference.alignment import aggregate_to_words, word_links


def _pieces(data: ParallelData, example: Example) -> tuple[list[str], list[str]]:
    source = [data.source_sp.id_to_piece(i) for i in example.source[:-1]] + ["</s>"]
    target = [data.target_sp.id_to_piece(i) for i in example.target] + ["</s>"]
    return source, target


@torch.no_grad()
def dev_alignment_f1(
    model: Seq2Seq,
    data: ParallelData,
    examples: list[Example],
    device: torch.device,
    batch_size: int = 64,
) -> dict[str, float]:
    """F1 of the argmax links of alpha (and of the alignment head) against the aligner's
    links of ``examples`` (those of the dev split, in order); empty without alignments."""
    reference = data.word_alignments("dev")
    if reference is None or not examples or not model.config.attention:
        return {}
    was_training = model.training
    model.eval()
    predicted: dict[str, list[set[Link]]] = {"attention": [], "head": []}
    sure: list[set[Link]] = []
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        src, lengths = pad_batch([ex.source for ex in batch], device)
        tgt, tgt_lengths = pad_batch(
            [[tokenizer.BOS_ID, *ex.target, tokenizer.EOS_ID] for ex in batch], device
        )
        forced = model.teacher_forced(src, lengths, tgt[:, :-1])
        matrices = {"attention": forced.attention}
        if model.alignment_head is not None:
            matrices["head"] = model.alignment_head(
                forced.annotations, forced.src_mask, tgt[:, 1:], tgt_lengths - 1
            )
        for row, example in enumerate(batch):
            if example.reference is None:
                continue
            source, target = _pieces(data, example)
            sure.append(reference[start + row])
            for name, matrix in matrices.items():
                piece_matrix = matrix[row, : len(target), : len(source)].cpu().numpy()
                words = aggregate_to_words(piece_matrix, source, target)
                predicted[name].append(set(word_links(words.attention, words.source, words.target)))
    if was_training:
        model.train()
    return {
        f"{name}_f1": round(link_scores(links, sure).f1, 4)
        for name, links in predicted.items()
        if links
    }
