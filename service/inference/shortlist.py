"""A lexical shortlist: the target pieces a sentence's source pieces may translate to.

Written by ``python -m model_export shortlist`` as ``shortlist.npz`` in the artifact: a CSR
over source piece ids (``indptr`` (S+1,), ``indices``: each source piece's k most probable
target pieces under the word aligner's links) and ``always`` (the most frequent target
pieces and the special tokens). A sentence's candidates are ``always`` and the rows of its
source pieces; a decoder step over several sentences scores the union of theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHORTLIST_FILE = "shortlist.npz"


class ShortlistError(ValueError):
    """The shortlist file is missing an array or its arrays do not fit together."""


@dataclass(frozen=True)
class Shortlist:
    indptr: np.ndarray  # (S+1,) int64
    indices: np.ndarray  # (nnz,) int32: per source piece, its k best target ids, best first
    always: np.ndarray  # (M,) int32, sorted: frequent pieces and special tokens
    k: int
    frequent: int

    def candidates(self, source_ids: Sequence[int]) -> np.ndarray:
        """Sorted (C,) int64 target ids that a sentence with these source ids may produce."""
        ids = np.asarray(source_ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < self.indptr.size - 1)]
        parts = [self.indices[self.indptr[s] : self.indptr[s + 1]] for s in ids.tolist()]
        return np.unique(np.concatenate([self.always, *parts])).astype(np.int64)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            indptr=self.indptr,
            indices=self.indices,
            always=self.always,
            k=np.int64(self.k),
            frequent=np.int64(self.frequent),
        )

    @classmethod
    def load(cls, path: Path, target_vocab_size: int) -> Shortlist:
        try:
            with np.load(path) as arrays:
                shortlist = cls(
                    arrays["indptr"].astype(np.int64),
                    arrays["indices"].astype(np.int32),
                    arrays["always"].astype(np.int32),
                    int(arrays["k"]),
                    int(arrays["frequent"]),
                )
        except (OSError, KeyError, ValueError) as error:
            raise ShortlistError(f"{path}: not a shortlist ({error})") from error
        indptr, indices, always = shortlist.indptr, shortlist.indices, shortlist.always
        if (
            indptr.ndim != 1
            or indptr.size < 1
            or indptr[0] != 0
            or indptr[-1] != indices.size
            or np.any(np.diff(indptr) < 0)
        ):
            raise ShortlistError(f"{path}: indptr does not index the candidate ids")
        every = np.r_[indices, always]
        if every.size and (every.min() < 0 or every.max() >= target_vocab_size):
            raise ShortlistError(f"{path}: a candidate id is outside the target vocabulary")
        return shortlist
