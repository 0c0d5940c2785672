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
        annotations, keys, mask = self._padded(ids, [1] * len(ids))
        return EncodedBatch(annotations, keys, np.zeros((len(ids), 0), annotations.dtype), mask)

    def _padded(
        self, ids: list[int], counts: list[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Annotations, keys and mask of ``ids``, each sentence repeated ``counts`` times
        (its beams), padded to the longest: every byte written once, the padding zeroed
        and never cleared twice, since this runs whenever the rows of a step change."""
        width = max(self._annotations[s].shape[0] for s in ids)
        first, first_keys = self._annotations[ids[0]], self._keys[ids[0]]
        rows = sum(counts)
        annotations = np.empty((rows, width, first.shape[1]), dtype=first.dtype)
        keys = np.empty((rows, width, first_keys.shape[1]), dtype=first_keys.dtype)
        mask = np.zeros((rows, width), dtype=bool)
        start = 0
        for sentence, count in zip(ids, counts, strict=True):
            end = start + count
            length = self._annotations[sentence].shape[0]
            annotations[start:end, :length] = self._annotations[sentence]
            annotations[start:end, length:] = 0
            keys[start:end, :length] = self._keys[sentence]
            keys[start:end, length:] = 0
            mask[start:end, :length] = True
            start = end
        return annotations, keys, mask

    def _gather(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Padded (N, T, ...) encoder inputs for ``rows``; consecutive equal ids are the
        beams of one sentence."""
        change = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        counts = np.diff(np.r_[change, rows.size])
        annotations, keys, mask = self._padded(rows[change].tolist(), counts.tolist())
        gathered = {"annotations": annotations, "keys": keys, "src_mask": mask}
        return {k: v for k, v in gathered.items() if k in self.model.decoder_inputs}

    def step(
        self, prev: np.ndarray, state: np.ndarray, rows: np.ndarray, gather: np.ndarray, k: int
    ) -> StepOutput:
        """One decoder step; ``rows`` are pool ids (a search ``StepFunction``)."""
        if self._cached_rows is None or not np.array_equal(rows, self._cached_rows):
            self._cached_rows = rows.copy()
            self._encoder_feeds = self.model.place(self._gather(rows))
        return self.model.run_step(self._encoder_feeds, prev, state, gather, k)
