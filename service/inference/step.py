"""Decoder steps: what one step over a set of decoder rows takes and returns, what a
sentence being decoded is to it (:class:`Decoding`), and one step of many decodings.

A step function advances a set of decoder rows by one token and returns, per row, the ``k``
best pieces with their log-probabilities (the graph ends in TopK), the log-probability of
one chosen piece per row (``gather``: end-of-sentence for search, the given token for a
forced row), the new state and the attention row. Each row belongs to a sentence, named by
``rows``; the step function uses it to pick that sentence's encoder outputs. The ONNX step
graphs are one (:mod:`service.inference.runtime`); :func:`top_k_step` makes one of a step
that returns the whole distribution. Greedy, beam and forced decodings are in
:mod:`service.inference.search`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Candidates = list[list[tuple[int, float]]]  # per target token, its step's (id, log-prob)


@dataclass(frozen=True)
class StepOutput:
    top_log_probs: np.ndarray  # (N, K) float32, best first
    top_ids: np.ndarray  # (N, K) int64
    gathered_log_probs: np.ndarray  # (N,) log-probability of each row's gather token
    state: np.ndarray  # (N, D)
    attention: np.ndarray  # (N, T)

    def slice(self, start: int, stop: int) -> StepOutput:
        return StepOutput(
            self.top_log_probs[start:stop],
            self.top_ids[start:stop],
            self.gathered_log_probs[start:stop],
            self.state[start:stop],
            self.attention[start:stop],
        )


# (prev_tokens (N,), state (N,D), rows (N,), gather_tokens (N,), k) -> StepOutput
StepFunction = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], StepOutput]
# (prev_tokens (N,), state (N,D), rows (N,)) -> (log_probs (N,V), new_state (N,D), attention (N,T))
FullStepFunction = Callable[
    [np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]
]


def top_k(log_probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best log-probabilities of each row and their ids, best first (lower id on
    ties, as ONNX TopK): (N, k) each."""
    k = min(k, log_probs.shape[1])
    ids = np.argpartition(-log_probs, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(log_probs, ids, axis=1)
    order = np.lexsort((ids, -values), axis=1)
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(ids, order, axis=1)


def top_k_step(full: FullStepFunction) -> StepFunction:
    """A top-k step over a step that returns the full distribution (PyTorch, test fakes)."""

    def step(
        prev: np.ndarray, state: np.ndarray, rows: np.ndarray, gather: np.ndarray, k: int
    ) -> StepOutput:
        log_probs, new_state, attention = full(prev, state, rows)
        values, ids = top_k(log_probs, k)
        gathered = log_probs[np.arange(prev.size), gather]
        return StepOutput(values, ids, gathered, new_state, attention)

    return step


@dataclass(frozen=True)
class Hypothesis:
    tokens: list[int]  # ends with EOS
    score: float  # length-normalized log-probability
    log_prob: float
    attention: np.ndarray  # (len(tokens), source length): one row per target token
    # With SearchOptions.candidates = k: per token, the k best (token, log-prob) of its step.
    candidates: Candidates | None = None
    # Per token, its log-probability (forced decoding only).
    token_log_probs: list[float] | None = None


def normalize_score(log_prob: float, length: int, penalty: float) -> float:
    return log_prob / (length**penalty) if penalty else log_prob


class Decoding:
    """One sentence being decoded: the rows it needs next, and what it makes of a step.

    ``source_row`` names the sentence's encoder outputs for the step function.
    """

    source_row: int
    source_length: int
    rows: int  # decoder rows this decoding runs per step
    top_k: int  # pieces per row it needs from the step
    prev: np.ndarray  # (rows,) int64
    state: np.ndarray  # (rows, D)
    done: bool = False
    steps: int = 0  # steps taken so far

    def gather_tokens(self) -> np.ndarray:
        raise NotImplementedError

    def advance(self, out: StepOutput) -> None:
        raise NotImplementedError

    def result(self) -> list[Hypothesis]:
        raise NotImplementedError

    def remaining_steps(self) -> int:
        """At most this many steps left (the length limit)."""
        raise NotImplementedError


def step_decodings(step: StepFunction, decodings: Sequence[Decoding]) -> None:
    """Advance every decoding by one token with a single call of ``step``."""
    prev = np.concatenate([s.prev for s in decodings])
    state = np.concatenate([s.state for s in decodings])
    rows = np.repeat([s.source_row for s in decodings], [s.rows for s in decodings])
    gather = np.concatenate([s.gather_tokens() for s in decodings])
    out = step(prev, state, rows, gather, max(s.top_k for s in decodings))
    start = 0
    for decoding in decodings:
        decoding.advance(out.slice(start, start + decoding.rows))
        start += decoding.rows
