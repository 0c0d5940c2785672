"""The encoder outputs of every sentence being decoded, and one decoder step over any mix.

Sentences join the pool when they are encoded and leave it when their decoding ends or is
cancelled, so the rows of a step can come from any number of requests. A step pads the
encoder outputs of its rows to a common width; the mask keeps the padding out of the
attention, so a sentence gets the same result in any company.

The padded inputs of the last step are kept in place (:class:`StepRows`) and changed only
where the rows change: under steady traffic a sentence finishes and another joins at
almost every step, and rebuilding the inputs of every row each time cost a tenth of the
decoding thread at concurrency 64. A step over a small part of the kept rows (a light
request's rows alone, between steps that also run heavy rows: see the scheduler) runs over
a copy of just those rows instead, and leaves the kept rows as they are: laying them out
anew for each such step, and back for the next heavy step, cost a sixth of the decoding
thread beside heavy beam batches.

With a lexical shortlist, a sentence decoded freely brings its candidate target pieces
(:meth:`EncoderPool.set_candidates`), and a step scores the union of its rows' candidates,
as Marian does: a sentence's result can then depend a little on its company, through
candidates the others bring. A step with a sentence that has none (a forced decoding, whose
log-probabilities must be exact) scores the whole vocabulary for every row.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from service.inference.runtime import EncodedBatch, EncoderFeeds, OnnxSeq2Seq
from service.inference.step import Decoding, StepOutput

WIDTH_STEP = 8  # widths are rounded up to this, so a slightly longer source seldom widens
SUBSET_FRACTION = 4  # a step over at most 1/4 of the kept rows runs over a copy of them


def _round_up(length: int) -> int:
    return -(-length // WIDTH_STEP) * WIDTH_STEP


class StepRows:
    """Padded annotations, keys and mask of a step's rows, in blocks of rows per sentence
    (its beams), changed in place: a sentence that leaves is overwritten by the last block
    if that has as many rows, else the rows after it move up; one that joins is written
    after the last row. The width is the longest source rounded up, and shrinks once it is
    well past it."""

    def __init__(self) -> None:
        self.start: dict[int, int] = {}  # sentence -> first row of its block
        self.count: dict[int, int] = {}  # sentence -> rows of its block
        self.length: dict[int, int] = {}  # sentence -> source length
        self.rows = 0
        self.width = 0
        self.arrays: list[np.ndarray] = []  # annotations (N, T, 2H), keys (N, T, A), mask (N, T)
        self.version = 0  # changes whenever the rows do
        self._row_ids: np.ndarray | None = None

    def order(self) -> list[int]:
        """Sentences in row order."""
        return sorted(self.start, key=self.start.__getitem__)

    def row_ids(self) -> np.ndarray:
        """The sentence of each row."""
        if self._row_ids is None:
            order = self.order()
            self._row_ids = np.repeat(
                np.array(order, dtype=np.int64), [self.count[s] for s in order]
            )
        return self._row_ids

    def views(self) -> dict[str, np.ndarray]:
        """The inputs of the rows: contiguous views of the kept arrays, not copies."""
        annotations, keys, mask = (array[: self.rows] for array in self.arrays)
        return {"annotations": annotations, "keys": keys, "src_mask": mask}

    def arrange(
        self,
        blocks: Sequence[tuple[int, int]],
        annotations: dict[int, np.ndarray],
        keys: dict[int, np.ndarray],
    ) -> None:
        """Make the rows exactly ``blocks`` ((sentence, rows) pairs), in any order."""
        wanted = dict(blocks)
        leaving = [s for s in self.start if wanted.get(s) != self.count[s]]
        joining = [(s, n) for s, n in blocks if self.count.get(s) != n]
        for sentence in leaving:
            self.remove(sentence)
        for sentence, rows in joining:
            self._append(sentence, rows, annotations[sentence], keys[sentence])
        if self.start:
            needed = _round_up(max(self.length.values()))
            if self.width > needed + max(WIDTH_STEP, needed // 4):
                self._reshape(self.rows, needed)

    def remove(self, sentence: int) -> None:
        if sentence not in self.start:
            return
        start, count = self.start.pop(sentence), self.count.pop(sentence)
        del self.length[sentence]
        end = self.rows
        if start + count < end:
            last = next(s for s, first in self.start.items() if first + self.count[s] == end)
            if self.count[last] == count:  # the last block fills the gap
                for array in self.arrays:
                    array[start : start + count] = array[end - count : end]
                self.start[last] = start
            else:  # the rows after the gap move up
                for array in self.arrays:
                    array[start : end - count] = array[start + count : end]
                for s, first in self.start.items():
                    if first > start:
                        self.start[s] = first - count
        self.rows -= count
        self._changed()

    def _append(self, sentence: int, rows: int, annotations: np.ndarray, keys: np.ndarray) -> None:
        length = annotations.shape[0]
        capacity = self.arrays[0].shape[0] if self.arrays else 0
        if not self.arrays:
            self.arrays = [
                np.zeros((0, 0, annotations.shape[1]), annotations.dtype),
                np.zeros((0, 0, keys.shape[1]), keys.dtype),
                np.zeros((0, 0), bool),
            ]
        grow = self.rows + rows > capacity
        if grow or length > self.width:
            capacity = max(self.rows + rows, 2 * capacity, 16) if grow else capacity
            self._reshape(capacity, max(self.width, _round_up(length)))
        first, end = self.rows, self.rows + rows
        kept_annotations, kept_keys, mask = self.arrays
        kept_annotations[first:end, :length] = annotations
        kept_annotations[first:end, length:] = 0
        kept_keys[first:end, :length] = keys
        kept_keys[first:end, length:] = 0
        mask[first:end, :length] = True
        mask[first:end, length:] = False
        self.start[sentence], self.count[sentence] = first, rows
        self.length[sentence] = length
        self.rows = end
        self._changed()

    def _reshape(self, capacity: int, width: int) -> None:
        """New arrays of ``capacity`` rows and ``width`` positions, holding the rows kept."""
        kept = min(width, self.width)
        resized = []
        for array in self.arrays:
            new = np.zeros((capacity, width, *array.shape[2:]), array.dtype)
            new[: self.rows, :kept] = array[: self.rows, :kept]
            resized.append(new)
        self.arrays, self.width = resized, width
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._row_ids = None


class EncoderPool:
    """Per-sentence annotations, keys and lengths by id; used from one thread at a time."""

    def __init__(self, model: OnnxSeq2Seq) -> None:
        self.model = model
        self._ids = itertools.count()
        self._annotations: dict[int, np.ndarray] = {}  # (T, 2H)
        self._keys: dict[int, np.ndarray] = {}  # (T, A)
        self.step_rows = StepRows()
        self._placed_version = -1
        self._encoder_feeds: EncoderFeeds = {}
        self._candidates: dict[int, np.ndarray] = {}  # sentence -> sorted target ids
        self._candidates_version = -1
        self._step_candidates: np.ndarray | None = None
        self.last_step_candidates = 0  # pieces scored in the last step (0: all of them)
        # A step over a small subset of the kept rows: its blocks in row order, and the
        # feeds and candidates copied for it (kept while the subset and the rows stay).
        self._subset: tuple[tuple[int, int], ...] | None = None
        self._subset_key: tuple[int, tuple[tuple[int, int], ...]] | None = None
        self._subset_feeds: EncoderFeeds = {}
        self._subset_ids = np.zeros(0, dtype=np.int64)
        self._subset_candidates: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._annotations)

    def add(self, encoded: EncodedBatch, lengths: np.ndarray) -> list[int]:
        """Keep each sentence's encoder outputs (without padding); returns their ids."""
        ids = []
        for row, length in enumerate(lengths.tolist()):
            sentence = next(self._ids)
            self._annotations[sentence] = encoded.annotations[row, :length]
            self._keys[sentence] = encoded.keys[row, :length]
            ids.append(sentence)
        return ids

    def set_candidates(self, sentence: int, candidates: np.ndarray) -> None:
        """The target ids (sorted) a sentence's steps may score instead of the vocabulary."""
        self._candidates[sentence] = candidates

    def remove(self, ids: list[int]) -> None:
        for sentence in ids:
            self._annotations.pop(sentence, None)
            self._keys.pop(sentence, None)
            self._candidates.pop(sentence, None)
            self.step_rows.remove(sentence)

    def _subset_inputs(self, rows: np.ndarray) -> tuple[EncoderFeeds | None, np.ndarray | None]:
        """The feeds and candidates of a step over the subset :meth:`arrange` chose, copied
        from the kept rows (once while the subset and the kept rows stay the same); None
        when ``rows`` are not that subset's."""
        assert self._subset is not None
        kept = self.step_rows
        key = (kept.version, self._subset)
        if key != self._subset_key:
            sentences = [s for s, _ in self._subset]
            self._subset_ids = np.repeat(
                np.array(sentences, dtype=np.int64), [n for _, n in self._subset]
            )
            index = np.concatenate(
                [np.arange(kept.start[s], kept.start[s] + n) for s, n in self._subset]
            )
            width = _round_up(max(kept.length[s] for s in sentences))
            used = self.model.decoder_inputs
            copies = {name: v[index, :width] for name, v in kept.views().items() if name in used}
            self._subset_feeds = self.model.place(copies)
            self._subset_candidates = self._union_candidates(sentences)
            self._subset_key = key
        if not np.array_equal(rows, self._subset_ids):
            return None, None
        return self._subset_feeds, self._subset_candidates

    def _union_candidates(self, sentences: list[int]) -> np.ndarray | None:
        """The union of the sentences' candidates; None if one has none."""
        if self.model.shortlist is None or not sentences:
            return None
        parts = [self._candidates.get(s) for s in sentences]
        if any(part is None for part in parts):
            return None
        if len(parts) == 1:
            return parts[0]
        vocabulary = int(max(int(part[-1]) for part in parts if part is not None)) + 1
        chosen = np.zeros(vocabulary, dtype=bool)
        for part in parts:
            chosen[part] = True
        return np.flatnonzero(chosen).astype(np.int64)

    def batch(self, ids: list[int]) -> EncodedBatch:
        """The encoder outputs of ``ids`` as a padded batch (no initial states)."""
        width = max(self._annotations[s].shape[0] for s in ids)
        first, first_keys = self._annotations[ids[0]], self._keys[ids[0]]
        annotations = np.zeros((len(ids), width, first.shape[1]), dtype=first.dtype)
        keys = np.zeros((len(ids), width, first_keys.shape[1]), dtype=first_keys.dtype)
        mask = np.zeros((len(ids), width), dtype=bool)
        for n, sentence in enumerate(ids):
            length = self._annotations[sentence].shape[0]
            annotations[n, :length] = self._annotations[sentence]
            keys[n, :length] = self._keys[sentence]
            mask[n, :length] = True
        return EncodedBatch(annotations, keys, np.zeros((len(ids), 0), first.dtype), mask)

    def arrange(self, decodings: Sequence[Decoding]) -> list[Decoding]:
        """``decodings`` in the order of the kept step rows, which are made to be theirs:
        a step over them in this order changes only the rows that changed. Decodings that
        are a small part (a quarter at most) of the kept rows, with their blocks as kept,
        leave the kept rows alone: their step runs over a copy of their rows."""
        kept = self.step_rows
        blocks = [(d.source_row, d.rows) for d in decodings]
        self._subset = None
        if (
            blocks
            and sum(rows for _, rows in blocks) * SUBSET_FRACTION <= kept.rows
            and all(kept.count.get(s) == rows for s, rows in blocks)
        ):
            ordered = sorted(decodings, key=lambda d: kept.start[d.source_row])
            self._subset = tuple((d.source_row, d.rows) for d in ordered)
            return ordered
        kept.arrange(blocks, self._annotations, self._keys)
        return sorted(decodings, key=lambda d: kept.start[d.source_row])

    def step(
        self, prev: np.ndarray, state: np.ndarray, rows: np.ndarray, gather: np.ndarray, k: int
    ) -> StepOutput:
        """One decoder step; ``rows`` are pool ids (a search ``StepFunction``). Rows in
        another order than :meth:`arrange` gave are laid out anew in that order."""
        step_rows = self.step_rows
        if self._subset is not None:
            feeds, candidates = self._subset_inputs(rows)
            if feeds is not None:
                self.last_step_candidates = 0 if candidates is None else int(candidates.size)
                return self.model.run_step(feeds, prev, state, gather, k, candidates)
        if not np.array_equal(rows, step_rows.row_ids()):
            change = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            counts = np.diff(np.r_[change, rows.size])
            for sentence in list(step_rows.start):
                step_rows.remove(sentence)
            blocks = list(zip(rows[change].tolist(), counts.tolist(), strict=True))
            step_rows.arrange(blocks, self._annotations, self._keys)
        if step_rows.version != self._placed_version:
            used = self.model.decoder_inputs
            feeds = {name: v for name, v in step_rows.views().items() if name in used}
            self._encoder_feeds = self.model.place(feeds)
            self._placed_version = step_rows.version
        if step_rows.version != self._candidates_version:
            self._step_candidates = self._union_candidates(step_rows.order())
            self._candidates_version = step_rows.version
        candidates = self._step_candidates
        self.last_step_candidates = 0 if candidates is None else int(candidates.size)
        return self.model.run_step(self._encoder_feeds, prev, state, gather, k, candidates)
