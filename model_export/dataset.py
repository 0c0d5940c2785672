"""Prepared data: the three splits as TSV plus one SentencePiece model per side."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch

from model_export import tokenizer
from model_export.corpus import SPLITS, Pair, read_tsv, write_tsv
from model_export.word_alignment import (
    alignment_path,
    masked_path,
    piece_mask,
    piece_reference,
    read_alignments,
)

SOURCE_MODEL, TARGET_MODEL = "source.model", "target.model"


def prepare(
    splits: dict[str, list[Pair]], out_dir: Path, vocab_size: int, description: dict[str, object]
) -> None:
    """Write the splits and train the SentencePiece models on the training split."""
    for name in SPLITS:
        write_tsv(splits[name], out_dir / f"{name}.tsv")
    train = splits["train"]
    tokenizer.train_sentencepiece((p.source for p in train), out_dir / SOURCE_MODEL, vocab_size)
    tokenizer.train_sentencepiece((p.target for p in train), out_dir / TARGET_MODEL, vocab_size)
    counts = {name: len(splits[name]) for name in SPLITS}
    (out_dir / "corpus.json").write_text(
        json.dumps({**description, "pairs": counts, "vocab_size": vocab_size}, indent=2) + "\n"
    )


@dataclass
class ParallelData:
    directory: Path
    source_sp: spm.SentencePieceProcessor
    target_sp: spm.SentencePieceProcessor
    pairs: dict[str, list[Pair]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> ParallelData:
        return cls(
            directory,
            tokenizer.load(directory / SOURCE_MODEL),
            tokenizer.load(directory / TARGET_MODEL),
            {name: read_tsv(directory / f"{name}.tsv") for name in SPLITS},
        )

    @property
    def description(self) -> dict[str, object]:
        result: dict[str, object] = json.loads((self.directory / "corpus.json").read_text())
        return result

    @property
    def source_vocab_size(self) -> int:
        return int(self.source_sp.get_piece_size())

    @property
    def target_vocab_size(self) -> int:
        return int(self.target_sp.get_piece_size())

    def encode_source(self, text: str) -> list[int]:
        return [*self.source_sp.encode(text), tokenizer.EOS_ID]

    def decode_target(self, ids: list[int]) -> str:
        return str(self.target_sp.decode(ids))

    def word_alignments(self, split: str) -> list[set[tuple[int, int]]] | None:
        """The aligner's word links of a split (``word-align`` step), if it was run."""
        path = alignment_path(self.directory, split)
        return read_alignments(path) if path.exists() else None

    def examples(self, split: str, max_length: int = 0) -> list[Example]:
        """Token ids of a split's pairs, with the aligner's links mapped to pieces when the
        ``word-align`` step has been run (and the links left out of the losses, where the
        split has a ``.masked`` file); pairs longer than ``max_length`` pieces are skipped
        (0: none)."""
        alignments = self.word_alignments(split)
        masked_file = masked_path(self.directory, split)
        masked = read_alignments(masked_file) if masked_file.exists() else None
        examples = []
        for n, pair in enumerate(self.pairs[split]):
            src = self.encode_source(pair.source)
            tgt = self.target_sp.encode(pair.target)
            if max_length and (len(src) > max_length or len(tgt) >= max_length):
                continue
            reference = cells = None
            if alignments is not None:
                source_pieces = [self.source_sp.id_to_piece(i) for i in src[:-1]]
                target_pieces = [self.target_sp.id_to_piece(i) for i in tgt]
                reference = piece_reference(alignments[n], source_pieces, target_pieces)
                if masked is not None and reference is not None:
                    cells = piece_mask(masked[n], source_pieces, target_pieces)
            examples.append(Example(src, tgt, reference, cells))
        return examples

    def training_examples(self, max_length: int) -> list[Example]:
        return self.examples("train", max_length)


@dataclass(frozen=True)
class Example:
    """Source ids (ending with ``</s>``), target ids (without), and the reference alignment
    rows at piece level (see :func:`piece_reference`) when there are any, with the cells
    the alignment losses leave out (see :func:`piece_mask`) when there are such."""

    source: list[int]
    target: list[int]
    reference: np.ndarray | None = None
    masked: np.ndarray | None = None


def batches_by_tokens(
    examples: list[Example], batch_tokens: int, shuffle: bool
) -> list[list[Example]]:
    """Group examples of similar target length into batches of about ``batch_tokens``."""
    order = sorted(
        range(len(examples)), key=lambda i: (len(examples[i].target), len(examples[i].source))
    )
    batches: list[list[Example]] = []
    current: list[Example] = []
    longest = 0
    for i in order:
        longest = max(longest, len(examples[i].target) + 1)
        if current and longest * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest = [], len(examples[i].target) + 1
        current.append(examples[i])
    if current:
        batches.append(current)
    if shuffle:
        random.shuffle(batches)
    return batches


def pad_batch(
    sequences: list[list[int]], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad with PAD_ID: (B, T) tokens and (B,) lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    tokens = torch.full((len(sequences), int(lengths.max())), tokenizer.PAD_ID, dtype=torch.long)
    for row, seq in enumerate(sequences):
        tokens[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return tokens.to(device), lengths.to(device)


def pad_references(
    batch: list[Example], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """(B, U, T) reference rows of a batch, zero where unsupervised, and the (B, U, T) cells
    left out of the losses (None if no example has any); None if none has references."""
    if all(example.reference is None for example in batch):
        return None
    rows = max(len(example.target) + 1 for example in batch)
    columns = max(len(example.source) for example in batch)
    padded = torch.zeros((len(batch), rows, columns), dtype=torch.float32)
    masked = None
    if any(example.masked is not None for example in batch):
        masked = torch.zeros((len(batch), rows, columns), dtype=torch.bool)
    for n, example in enumerate(batch):
        if example.reference is not None:
            u, t = example.reference.shape
            padded[n, :u, :t] = torch.from_numpy(example.reference)
        if masked is not None and example.masked is not None:
            u, t = example.masked.shape
            masked[n, :u, :t] = torch.from_numpy(example.masked)
    return padded.to(device), None if masked is None else masked.to(device)
