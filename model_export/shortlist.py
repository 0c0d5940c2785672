"""A lexical shortlist from the word aligner's links, as Marian and bergamot-translator use.

Each link between a source word and a target word of a training pair links every piece of
the source word to every piece of the target word; the counts give p(target piece | source
piece). A source piece's candidates are its ``k`` most probable target pieces; every
sentence also gets the ``frequent`` most frequent target pieces and the special tokens.

The artifact keeps it in ``shortlist.npz``: a CSR over source piece ids (``indptr``
(S+1,), ``indices``: each source piece's top-k target ids, most probable first) and
``always`` (the frequent pieces and the special tokens, sorted). ``model_config.json``
names the file under ``"shortlist"`` with its ``k`` and ``frequent``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm

from model_export.corpus import read_tsv
from model_export.word_alignment import Link, alignment_path, read_alignments, word_index_of_pieces
from service.inference.shortlist import SHORTLIST_FILE, Shortlist

__all__ = ["SHORTLIST_FILE", "PieceCounts", "count_corpus", "count_pieces", "make_shortlist"]


@dataclass(frozen=True)
class PieceCounts:
    """Link counts between source and target pieces, and target piece frequencies."""

    source_vocab_size: int
    target_vocab_size: int
    pair_codes: np.ndarray  # (P,) int64: source * target_vocab_size + target
    pair_counts: np.ndarray  # (P,) int64
    target_frequency: np.ndarray  # (V,) int64: occurrences in the training targets

    def probabilities(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Source ids, target ids and p(target | source) of every linked pair."""
        source = self.pair_codes // self.target_vocab_size
        target = self.pair_codes % self.target_vocab_size
        totals = np.bincount(source, weights=self.pair_counts, minlength=self.source_vocab_size)
        return source, target, self.pair_counts / totals[source]


def count_pieces(
    source_texts: Sequence[str],
    target_texts: Sequence[str],
    links: Sequence[set[Link]],
    source_sp: spm.SentencePieceProcessor,
    target_sp: spm.SentencePieceProcessor,
) -> PieceCounts:
    """Count piece links over word-aligned pairs; a pair whose pieces do not split into as
    many words as its links assume is left out of the link counts."""
    source_vocab, target_vocab = source_sp.get_piece_size(), target_sp.get_piece_size()
    codes: list[int] = []
    frequency = np.zeros(target_vocab, dtype=np.int64)
    for source_text, target_text, pair_links in zip(source_texts, target_texts, links, strict=True):
        source_ids = source_sp.encode(source_text)
        target_ids = target_sp.encode(target_text)
        np.add.at(frequency, target_ids, 1)
        source_words = word_index_of_pieces([source_sp.id_to_piece(i) for i in source_ids])
        target_words = word_index_of_pieces([target_sp.id_to_piece(i) for i in target_ids])
        source_of: dict[int, list[int]] = {}
        target_of: dict[int, list[int]] = {}
        for piece, word in zip(source_ids, source_words, strict=True):
            source_of.setdefault(word, []).append(piece)
        for piece, word in zip(target_ids, target_words, strict=True):
            target_of.setdefault(word, []).append(piece)
        if any(i not in source_of or j not in target_of for i, j in pair_links):
            continue
        for i, j in pair_links:
            codes.extend(s * target_vocab + t for s in source_of[i] for t in target_of[j])
    every = np.array(codes, dtype=np.int64)
    pair_codes, pair_counts = np.unique(every, return_counts=True)
    return PieceCounts(source_vocab, target_vocab, pair_codes, pair_counts, frequency)


def make_shortlist(counts: PieceCounts, k: int, frequent: int, special: Sequence[int]) -> Shortlist:
    """Each source piece's ``k`` most probable target pieces (ties: the lower id), plus the
    ``frequent`` most frequent target pieces and the ``special`` ids for every sentence."""
    if k < 1 or frequent < 0:
        raise ValueError("k must be at least 1 and frequent not negative")
    source, target, probability = counts.probabilities()
    order = np.lexsort((target, -probability, source))  # by source, most probable first
    source, target = source[order], target[order]
    starts = np.searchsorted(source, np.arange(counts.source_vocab_size + 1))
    rank = np.arange(source.size) - starts[source]
    keep = rank < k
    kept_source, kept_target = source[keep], target[keep]
    indptr = np.searchsorted(kept_source, np.arange(counts.source_vocab_size + 1)).astype(np.int64)
    by_frequency = np.lexsort((np.arange(counts.target_vocab_size), -counts.target_frequency))
    most_frequent = by_frequency[:frequent]
    most_frequent = most_frequent[counts.target_frequency[most_frequent] > 0]
    always = np.unique(np.r_[most_frequent, np.asarray(special, dtype=np.int64)])
    return Shortlist(indptr, kept_target.astype(np.int32), always.astype(np.int32), k, frequent)


def count_corpus(
    data_dir: Path, source_model: Path, target_model: Path, split: str = "train"
) -> PieceCounts:
    """Piece counts of a prepared and word-aligned data directory's split."""
    pairs = read_tsv(data_dir / f"{split}.tsv")
    links = read_alignments(alignment_path(data_dir, split))
    if len(links) != len(pairs):
        raise ValueError(f"{data_dir}: {len(pairs)} {split} pairs but {len(links)} alignments")
    return count_pieces(
        [p.source for p in pairs],
        [p.target for p in pairs],
        links,
        spm.SentencePieceProcessor(model_file=str(source_model)),
        spm.SentencePieceProcessor(model_file=str(target_model)),
    )


def install_shortlist(
    model_dir: Path, data_dir: Path, k: int, frequent: int, split: str = "train"
) -> Shortlist:
    """Build the shortlist from ``data_dir``'s word-aligned ``split`` with the artifact's own
    tokenizers, write it into the artifact and name it in ``model_config.json``; an artifact
    exported before the shortlist also gets the shortlist step graph."""
    from model_export.export import add_shortlist_step

    config_path = model_dir / "model_config.json"
    config = json.loads(config_path.read_text())
    if "decoder_step_shortlist" not in config:
        add_shortlist_step(model_dir)
        config = json.loads(config_path.read_text())
    counts = count_corpus(
        data_dir,
        model_dir / config["source_tokenizer"],
        model_dir / config["target_tokenizer"],
        split,
    )
    special = [int(config["special_tokens"][name]) for name in ("pad", "unk", "bos", "eos")]
    shortlist = make_shortlist(counts, k, frequent, special)
    shortlist.save(model_dir / SHORTLIST_FILE)
    config["shortlist"] = {
        "file": SHORTLIST_FILE,
        "k": k,
        "frequent": frequent,
        "built_from": f"{split} split, word aligner's links (eflomal, grow-diag-final-and)",
        "scores": "renormalized over the candidates of a step, as in Marian",
    }
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return shortlist
