"""The encoder outputs of every sentence being decoded, and one decoder step over any mix.

Sentences join the pool when they are encoded and leave it when their decoding ends or is
cancelled, so the rows of a step can come from any number of requests. The step pads the
encoder outputs of its rows to the longest source among them; the mask keeps the padding
out of the attention, so a sentence gets the same result in any company. The padded inputs
are rebuilt only when the set of rows changes (a sentence joins or leaves), not per step.
"""

from __future__ import annotations

import itertools

import numpy as np

from service.inference.runtime import EncodedBatch, EncoderFeeds, OnnxSeq2Seq
from service.inference.search import StepOutput


class EncoderPool:
    """Per-sentence annotations, keys and lengths by id; used from one thread at a time."""

    def __init__(self, model: OnnxSeq2Seq) -> None:
        self.model = model
        self._ids = itertools.count()
        self._annotations: dict[int, np.ndarray] = {}  # (T, 2H)
        self._keys: dict[int, np.ndarray] = {}  # (T, A)
        self._cached_rows: np.ndarray | None = None
        self._encoder_feeds: EncoderFeeds = {}

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

    def remove(self, ids: list[int]) -> None:
        for sentence in ids:
            self._annotations.pop(sentence, None)
            self._keys.pop(sentence, None)

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

    def _gather(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Padded (N, T, ...) encoder inputs for ``rows``; consecutive equal ids (the beams
        of a sentence) are copied once and repeated."""
        change = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        counts = np.diff(np.r_[change, rows.size])
        batch = self.batch(rows[change].tolist())
        gathered = {
            "annotations": np.repeat(batch.annotations, counts, axis=0),
            "keys": np.repeat(batch.keys, counts, axis=0),
            "src_mask": np.repeat(batch.mask, counts, axis=0),
        }
        return {k: v for k, v in gathered.items() if k in self.model.decoder_inputs}

    def step(
        self, prev: np.ndarray, state: np.ndarray, rows: np.ndarray, gather: np.ndarray, k: int
    ) -> StepOutput:
        """One decoder step; ``rows`` are pool ids (a search ``StepFunction``)."""
        if self._cached_rows is None or not np.array_equal(rows, self._cached_rows):
            self._cached_rows = rows.copy()
            self._encoder_feeds = self.model.place(self._gather(rows))
        return self.model.run_step(self._encoder_feeds, prev, state, gather, k)
