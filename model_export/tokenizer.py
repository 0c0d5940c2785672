"""SentencePiece models for each side, trained on the training split only.

The special ids are fixed so that ``model_config.json`` can state them once:
pad=0, unk=1, bos=2, eos=3.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


def train_sentencepiece(sentences: Iterable[str], model_path: Path, vocab_size: int) -> Path:
    """Train a unigram SentencePiece model and write it to ``model_path`` (``.model``)."""
    model_path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(sentences)),
        model_writer=buffer,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        input_sentence_size=2_000_000,
        shuffle_input_sentence=True,
        hard_vocab_limit=False,
        num_threads=2,
        minloglevel=2,
    )
    model_path.write_bytes(buffer.getvalue())
    return model_path


def load(model_path: Path) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=str(model_path))
