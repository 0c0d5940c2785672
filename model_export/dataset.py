"""Prepared data: the three splits as TSV plus one SentencePiece model per side."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import sentencepiece as spm
import torch

from model_export import tokenizer
from model_export.corpus import SPLITS, Pair, read_tsv, write_tsv

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

    def training_examples(self, max_length: int) -> list[tuple[list[int], list[int]]]:
        examples = []
        for pair in self.pairs["train"]:
            src = self.encode_source(pair.source)
            tgt = self.target_sp.encode(pair.target)
            if len(src) <= max_length and len(tgt) < max_length:
                examples.append((src, tgt))
        return examples


def batches_by_tokens(
    examples: list[tuple[list[int], list[int]]], batch_tokens: int, shuffle: bool
) -> list[list[tuple[list[int], list[int]]]]:
    """Group examples of similar target length into batches of about ``batch_tokens``."""
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i][1]), len(examples[i][0])))
    batches: list[list[tuple[list[int], list[int]]]] = []
    current: list[tuple[list[int], list[int]]] = []
    longest = 0
    for i in order:
        longest = max(longest, len(examples[i][1]) + 1)
        if current and longest * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest = [], len(examples[i][1]) + 1
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
