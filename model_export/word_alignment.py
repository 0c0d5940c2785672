"""Word alignments from a statistical aligner, as supervision and as a yardstick.

``align_corpus`` runs eflomal over every split of a prepared data directory at once (an
unsupervised aligner learns from the sentences it aligns), in both directions, symmetrizes
the two with grow-diag-final-and and writes ``{split}.align`` next to ``{split}.tsv``: one
line per pair, Pharaoh ``i-j`` links between the whitespace-separated words of the source
(i) and the target (j), 0-based. ``piece_reference`` turns such word links into the
subword-level target rows the attention is trained towards, and ``link_scores`` compares
two sets of links (precision, recall, F1, AER).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model_export.corpus import SPLITS, read_tsv

log = logging.getLogger(__name__)

Link = tuple[int, int]  # (source word, target word)
STATE_FILE = "word_align.json"


def alignment_path(data_dir: Path, split: str) -> Path:
    return data_dir / f"{split}.align"


def masked_path(data_dir: Path, split: str) -> Path:
    """Links of a split that training leaves out of the alignment losses: the source words
    they point at are neither targets nor negatives of their target word's row."""
    return data_dir / f"{split}.masked"


def directional_alignments(data_dir: Path, split: str) -> tuple[list[set[Link]], list[set[Link]]]:
    """The aligner's forward and reverse links of one split (``eflomal.fwd``/``.rev`` hold
    every split, in the order of ``SPLITS``)."""
    sizes = {name: len(read_tsv(data_dir / f"{name}.tsv")) for name in SPLITS}
    start = sum(sizes[name] for name in SPLITS[: SPLITS.index(split)])
    stop = start + sizes[split]
    forward = read_alignments(data_dir / "eflomal.fwd")[start:stop]
    reverse = read_alignments(data_dir / "eflomal.rev")[start:stop]
    return forward, reverse


def normalize_word(word: str) -> str:
    """What the aligner sees of a word: lowercased, without surrounding punctuation."""
    stripped = "".join(
        char for char in word if not unicodedata.category(char).startswith("P")
    ).lower()
    return stripped or word.lower()


def aligner_line(text: str) -> str:
    return " ".join(normalize_word(word) for word in text.split())


def parse_pharaoh(line: str) -> set[Link]:
    links = set()
    for item in line.split():
        source, target = item.split("-")
        links.add((int(source), int(target)))
    return links


def format_pharaoh(links: Iterable[Link]) -> str:
    return " ".join(f"{i}-{j}" for i, j in sorted(links))


def read_alignments(path: Path) -> list[set[Link]]:
    return [parse_pharaoh(line) for line in path.read_text(encoding="utf-8").splitlines()]


def grow_diag_final_and(forward: set[Link], reverse: set[Link]) -> set[Link]:
    """Symmetrize two directional alignments (Koehn et al. 2003, as in Moses and atools).

    Start from the intersection, grow into neighbouring links of the union (diagonals
    included) that cover a word not yet aligned, then add union links whose source and
    target words are both still unaligned.
    """
    union = forward | reverse
    links = forward & reverse
    aligned_source = {i for i, _ in links}
    aligned_target = {j for _, j in links}
    neighbours = [(-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]
    grew = True
    while grew:
        grew = False
        for i, j in sorted(links):
            for di, dj in neighbours:
                candidate = (i + di, j + dj)
                if candidate in links or candidate not in union:
                    continue
                if candidate[0] not in aligned_source or candidate[1] not in aligned_target:
                    links.add(candidate)
                    aligned_source.add(candidate[0])
                    aligned_target.add(candidate[1])
                    grew = True
    for directional in (forward, reverse):
        for i, j in sorted(directional):
            if i not in aligned_source and j not in aligned_target:
                links.add((i, j))
                aligned_source.add(i)
                aligned_target.add(j)
    return links


def _input_digest(data_dir: Path) -> str:
    digest = hashlib.sha256()
    for split in SPLITS:
        digest.update((data_dir / f"{split}.tsv").read_bytes())
    return digest.hexdigest()


def align_corpus(data_dir: Path, seed_samplers: int = 3) -> dict[str, int]:
    """Word-align every split of ``data_dir`` with eflomal (see the module docstring).

    Resumable: each finished stage is recorded in ``word_align.json`` together with a digest
    of the corpus, and a rerun on the same corpus skips it.
    """
    import eflomal

    state_path = data_dir / STATE_FILE
    digest = _input_digest(data_dir)
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state.get("digest") != digest:
        state = {"digest": digest, "done": []}
    pairs = {split: read_tsv(data_dir / f"{split}.tsv") for split in SPLITS}
    everything = [pair for split in SPLITS for pair in pairs[split]]
    forward_path, reverse_path = data_dir / "eflomal.fwd", data_dir / "eflomal.rev"
    stages = ["eflomal", "symmetrize"]
    progress = tqdm(stages, desc="word-align", unit="stage")
    for stage in progress:
        progress.set_postfix(stage=stage)
        if stage in state["done"]:
            continue
        if stage == "eflomal":
            aligner = eflomal.Aligner(n_samplers=seed_samplers)
            aligner.align(
                io.StringIO("".join(aligner_line(p.source) + "\n" for p in everything)),
                io.StringIO("".join(aligner_line(p.target) + "\n" for p in everything)),
                links_filename_fwd=str(forward_path),
                links_filename_rev=str(reverse_path),
                quiet=True,
            )
        else:
            forward = read_alignments(forward_path)
            reverse = read_alignments(reverse_path)
            symmetric = [grow_diag_final_and(f, r) for f, r in zip(forward, reverse, strict=True)]
            start = 0
            for split in SPLITS:
                lines = symmetric[start : start + len(pairs[split])]
                start += len(pairs[split])
                alignment_path(data_dir, split).write_text(
                    "".join(format_pharaoh(links) + "\n" for links in lines), encoding="utf-8"
                )
        state["done"].append(stage)
        state_path.write_text(json.dumps(state, indent=2) + "\n")
    return {split: len(pairs[split]) for split in SPLITS}


def word_index_of_pieces(pieces: Sequence[str]) -> list[int]:
    """The word each SentencePiece piece belongs to (a piece starting with ``▁`` opens one)."""
    index, word = [], -1
    for n, piece in enumerate(pieces):
        if n == 0 or piece.startswith("\u2581"):
            word += 1
        index.append(word)
    return index


def _pieces_of_links(
    links: set[Link], source_pieces: Sequence[str], target_pieces: Sequence[str]
) -> tuple[list[int], dict[int, list[int]]] | None:
    """The word of each target piece, and for each target word the source pieces its links
    point at; ``None`` when the pieces do not split into as many words as the links assume."""
    source_words = word_index_of_pieces(source_pieces)
    target_words = word_index_of_pieces(target_pieces)
    n_source = source_words[-1] + 1 if source_words else 0
    n_target = target_words[-1] + 1 if target_words else 0
    if any(i >= n_source or j >= n_target for i, j in links):
        return None
    pieces_of_word: dict[int, list[int]] = {}
    for n, word in enumerate(source_words):
        pieces_of_word.setdefault(word, []).append(n)
    linked: dict[int, list[int]] = {}
    for i, j in links:
        linked.setdefault(j, []).extend(pieces_of_word[i])
    return target_words, linked


def piece_reference(
    links: set[Link],
    source_pieces: Sequence[str],
    target_pieces: Sequence[str],
) -> np.ndarray | None:
    """Reference attention rows at piece level from word links.

    ``source_pieces`` and ``target_pieces`` are the pieces of each text without ``</s>``.
    Returns (len(target_pieces) + 1, len(source_pieces) + 1) rows over the source pieces
    plus ``</s>``: a target piece's row spreads its mass evenly over the pieces of the
    source words its word is linked to; the final ``</s>`` row points at the source
    ``</s>``. A row of zeros marks a piece whose word has no link (not supervised).
    ``None`` when the pieces do not split into as many words as the links assume.
    """
    mapped = _pieces_of_links(links, source_pieces, target_pieces)
    if mapped is None:
        return None
    target_words, linked = mapped
    rows = np.zeros((len(target_pieces) + 1, len(source_pieces) + 1), dtype=np.float32)
    for row, word in enumerate(target_words):
        columns = linked.get(word)
        if columns:
            rows[row, columns] = 1.0 / len(columns)
    rows[-1, -1] = 1.0
    return rows


def piece_mask(
    links: set[Link],
    source_pieces: Sequence[str],
    target_pieces: Sequence[str],
) -> np.ndarray | None:
    """The cells of :func:`piece_reference`'s rows that ``links`` cover, as a boolean array
    of the same shape: the source pieces of each target piece's linked words. Used for the
    links a loss should neither reward nor count against (see ``masked_path``)."""
    mapped = _pieces_of_links(links, source_pieces, target_pieces)
    if mapped is None:
        return None
    target_words, linked = mapped
    cells = np.zeros((len(target_pieces) + 1, len(source_pieces) + 1), dtype=bool)
    for row, word in enumerate(target_words):
        cells[row, linked.get(word, [])] = True
    return cells


MASKED_TARGETS = ("intersection", "grow-diag-final-and")


def targets_and_rest(
    forward: set[Link], reverse: set[Link], targets: str
) -> tuple[set[Link], set[Link]]:
    """Training targets from the aligner's two directions (their ``intersection``, high
    precision, or ``grow-diag-final-and``) and the rest of their union: links one direction
    found, neither trusted nor to be counted as wrong."""
    if targets == "intersection":
        trusted = forward & reverse
    elif targets == "grow-diag-final-and":
        trusted = grow_diag_final_and(forward, reverse)
    else:
        raise ValueError(f"targets must be one of {MASKED_TARGETS}")
    return trusted, (forward | reverse) - trusted


@dataclass(frozen=True)
class LinkScores:
    precision: float
    recall: float
    f1: float
    aer: float
    links: int
    reference_links: int

    def as_dict(self) -> dict[str, float]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "aer": round(self.aer, 4),
        }


def link_scores(
    predicted: Sequence[set[Link]],
    sure: Sequence[set[Link]],
    possible: Sequence[set[Link]] | None = None,
) -> LinkScores:
    """Precision, recall and F1 against ``sure`` links, and the alignment error rate
    (Och and Ney 2003) with ``possible`` links (the sure ones when not given)."""
    possible = possible if possible is not None else sure
    a_total = s_total = a_and_s = a_and_p = 0
    for a, s, p in zip(predicted, sure, possible, strict=True):
        a_total += len(a)
        s_total += len(s)
        a_and_s += len(a & s)
        a_and_p += len(a & (p | s))
    precision = a_and_s / a_total if a_total else 0.0
    recall = a_and_s / s_total if s_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    aer = 1.0 - (a_and_s + a_and_p) / (a_total + s_total) if a_total + s_total else 0.0
    return LinkScores(precision, recall, f1, aer, a_total, s_total)
