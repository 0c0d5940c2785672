"""Greedy and beam search in numpy over a decoder step that returns the top-k of each row
(the step's interface: :mod:`service.inference.step`).

Every sentence is a :class:`Decoding`: a small state machine that says which rows it needs
next and consumes its slice of the step's outputs. :func:`step_decodings` runs one step of
any mix of decodings (greedy, beam of any width, forced), which is all that batching needs:
:func:`beam_search` runs a fixed batch to the end, the scheduler admits and retires
decodings between steps. Attention is carried along every hypothesis (and re-ordered with
the beam back-pointers), so the matrix returned with a hypothesis is the one that produced it.

A search may start from a *target prefix* (CTranslate2's ``target_prefix``): its pieces are
emitted first, each scored by the model's own log-probability at its step (gathered like
EOS), and the search runs freely after them; every hypothesis, n-best included, starts with
it and its attention and score cover it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.inference.step import (
    Candidates,
    Decoding,
    Hypothesis,
    StepFunction,
    StepOutput,
    normalize_score,
    step_decodings,
)


@dataclass(frozen=True)
class SearchOptions:
    beam_size: int = 5  # 1 = greedy
    n_best: int = 1
    length_penalty: float = 1.0  # score / length**length_penalty; 0 = raw log-probability
    max_length_ratio: float = 2.0  # output at most ratio * source length + extra tokens
    max_length_extra: int = 10
    candidates: int = 0  # record the k best pieces of every step of the returned hypotheses

    def __post_init__(self) -> None:
        if self.candidates < 0:
            raise ValueError("candidates must not be negative")
        if self.beam_size < 1:
            raise ValueError("beam_size must be at least 1")
        if not 1 <= self.n_best <= self.beam_size:
            raise ValueError("n_best must be between 1 and beam_size")

    def max_length(self, source_length: int) -> int:
        return max(1, int(self.max_length_ratio * source_length) + self.max_length_extra)


def _candidate_list(ids: np.ndarray, values: np.ndarray) -> list[tuple[int, float]]:
    return list(zip(ids.tolist(), values.astype(np.float64).tolist(), strict=True))


class SearchDecoding(Decoding):
    """What greedy and beam search share: the sentence, the options, EOS, the length
    limit at which EOS is forced, and the target prefix emitted before the search is free.

    The length limit counts the prefix; a prefix must leave room for EOS after it.
    """

    def __init__(
        self,
        source_row: int,
        init_state: np.ndarray,
        source_length: int,
        bos: int,
        eos: int,
        options: SearchOptions,
        prefix: Sequence[int] = (),
    ) -> None:
        self.source_row, self.source_length = source_row, source_length
        self.eos, self.options = eos, options
        self.rows, self.top_k = self.shape(options)
        self.prev = np.full(self.rows, bos, dtype=np.int64)
        self.state = np.repeat(init_state[None, :], self.rows, axis=0)
        self.limit = options.max_length(source_length)
        self.prefix = [int(token) for token in prefix]
        if eos in self.prefix:
            raise ValueError("a target prefix must not contain EOS")
        if len(self.prefix) >= self.limit:
            raise ValueError(
                f"a target prefix of {len(self.prefix)} tokens leaves no room for EOS "
                f"within the length limit of {self.limit}"
            )
        self._start()

    @staticmethod
    def shape(options: SearchOptions) -> tuple[int, int]:
        """Decoder rows per step, and pieces per row needed from the step."""
        raise NotImplementedError

    def _start(self) -> None:
        """Set up the search's own state (after the shared state)."""

    def forcing_prefix(self) -> bool:
        """Whether this step emits a prefix piece."""
        return self.steps < len(self.prefix)

    def gather_tokens(self) -> np.ndarray:
        """The prefix piece while the prefix is emitted, else EOS (for the length limit)."""
        token = self.prefix[self.steps] if self.forcing_prefix() else self.eos
        return np.full(self.rows, token, dtype=np.int64)

    def remaining_steps(self) -> int:
        return self.limit - self.steps


class GreedyDecoding(SearchDecoding):
    @staticmethod
    def shape(options: SearchOptions) -> tuple[int, int]:
        return 1, max(1, options.candidates)

    def _start(self) -> None:
        self.tokens: list[int] = []
        self.attention: list[np.ndarray] = []
        self.candidates: Candidates = []
        self.log_prob = 0.0

    def advance(self, out: StepOutput) -> None:
        forced = self.forcing_prefix() or self.limit - 1 <= self.steps
        token = int(self.gather_tokens()[0]) if forced else int(out.top_ids[0, 0])
        self.log_prob += float(out.gathered_log_probs[0] if forced else out.top_log_probs[0, 0])
        self.tokens.append(token)
        self.attention.append(out.attention[0, : self.source_length])
        if self.options.candidates:
            c = self.options.candidates
            self.candidates.append(_candidate_list(out.top_ids[0, :c], out.top_log_probs[0, :c]))
        self.steps += 1
        self.prev = np.array([token], dtype=np.int64)
        self.state = out.state
        self.done = token == self.eos

    def result(self) -> list[Hypothesis]:
        return [
            Hypothesis(
                self.tokens,
                normalize_score(self.log_prob, len(self.tokens), self.options.length_penalty),
                self.log_prob,
                np.stack(self.attention),
                self.candidates if self.options.candidates else None,
            )
        ]


class BeamDecoding(SearchDecoding):
    """Beam search of one sentence: ``beam_size`` live rows until ``beam_size`` hypotheses
    have ended with EOS (or the length limit forces EOS).

    Each row brings its 2 x beam best pieces, so the beam x 2 beam candidates hold the 2 x beam
    best continuations over the whole vocabulary: the same choice as ranking every piece.

    While a prefix is emitted there is one live hypothesis (the other rows keep a score of
    -inf, as at the first step); the beam widens at the first free step.
    """

    @staticmethod
    def shape(options: SearchOptions) -> tuple[int, int]:
        k = options.beam_size
        return k, max(2 * k, options.candidates)

    def _start(self) -> None:
        k = self.k = self.options.beam_size
        # One live start: the other k - 1 copies can never be chosen.
        self.scores = np.r_[0.0, np.full(k - 1, -np.inf)].astype(np.float32)
        # Per step: attention (and candidates) of the input rows, and for the next step's
        # rows their token and their parent among this step's rows.
        self.trace_alpha: list[np.ndarray] = []
        self.trace_candidates: list[tuple[np.ndarray, np.ndarray]] = []
        self.trace_token: list[np.ndarray] = []
        self.trace_parent: list[np.ndarray] = []
        self.finished: list[Hypothesis] = []

    def _backtrack(self, row: int) -> tuple[list[int], np.ndarray, Candidates | None]:
        tokens, attention = [self.eos], [self.trace_alpha[-1][row]]
        steps = self.trace_candidates
        candidates = [_candidate_list(steps[-1][0][row], steps[-1][1][row])] if steps else []
        for s in range(len(self.trace_token) - 1, -1, -1):
            tokens.append(int(self.trace_token[s][row]))
            row = int(self.trace_parent[s][row])
            attention.append(self.trace_alpha[s][row])
            if steps:
                candidates.append(_candidate_list(steps[s][0][row], steps[s][1][row]))
        return tokens[::-1], np.stack(attention[::-1]), candidates[::-1] if steps else None

    def advance(self, out: StepOutput) -> None:
        k, eos, t = self.k, self.eos, self.steps
        self.trace_alpha.append(out.attention[:, : self.source_length])
        if self.options.candidates:
            c = self.options.candidates
            self.trace_candidates.append((out.top_ids[:, :c], out.top_log_probs[:, :c]))
        prefix = self.forcing_prefix()
        forced = not prefix and self.limit - 1 <= t  # only EOS may follow
        if prefix or forced:  # one token for every row: the prefix piece, or EOS
            ids = self.gather_tokens()[:, None]
            candidates = self.scores[:, None] + out.gathered_log_probs[:, None]
        else:
            ids = out.top_ids[:, : 2 * k]
            candidates = self.scores[:, None] + out.top_log_probs[:, : 2 * k]  # (k, 2k)
        width = ids.shape[1]
        flat = candidates.ravel()
        order = np.argsort(-flat, kind="stable")[: 2 * k]
        new_parent: list[int] = []
        new_token: list[int] = []
        new_score: list[float] = []
        live = 0
        for index, score in zip(order.tolist(), flat[order].tolist(), strict=True):
            if not np.isfinite(score):
                break
            parent = index // width
            token = int(ids[parent, index % width])
            if token == eos:
                if len(self.finished) < k:
                    tokens, attention, candidate_lists = self._backtrack(parent)
                    self.finished.append(
                        Hypothesis(
                            tokens,
                            normalize_score(score, t + 1, self.options.length_penalty),
                            score,
                            attention,
                            candidate_lists,
                        )
                    )
            elif live < k:
                new_parent.append(parent)
                new_token.append(token)
                new_score.append(score)
                live += 1
            if live == k and len(self.finished) >= k:
                break
        self.steps += 1
        self.done = len(self.finished) >= k or forced or live == 0
        if self.done:
            return
        # Fewer than k live continuations (a prefix step, a tiny vocabulary): the other rows
        # copy the first and can never be chosen, so every step keeps its k rows.
        new_parent += [new_parent[0]] * (k - live)
        new_token += [new_token[0]] * (k - live)
        new_score += [-np.inf] * (k - live)
        parents = np.array(new_parent, dtype=np.int64)
        self.state = out.state[parents]
        self.scores = np.array(new_score, dtype=np.float32)
        self.prev = np.array(new_token, dtype=np.int64)
        self.trace_token.append(self.prev)
        self.trace_parent.append(parents)

    def result(self) -> list[Hypothesis]:
        return sorted(self.finished, key=lambda h: -h.score)[: self.options.n_best]


class ForcedDecoding(Decoding):
    """Teacher forcing along known target ids (ending with EOS): the attention row and the
    log-probability of each given token, one decoder run over the known tokens."""

    def __init__(
        self,
        source_row: int,
        init_state: np.ndarray,
        source_length: int,
        target: Sequence[int],
        bos: int,
        length_penalty: float = 1.0,
    ) -> None:
        if not target:
            raise ValueError("a forced target needs at least one token")
        self.source_row, self.source_length = source_row, source_length
        self.target, self.length_penalty = list(target), length_penalty
        self.rows, self.top_k = 1, 1
        self.prev = np.array([bos], dtype=np.int64)
        self.state = init_state[None, :]
        self.attention: list[np.ndarray] = []
        self.token_log_probs: list[float] = []

    def gather_tokens(self) -> np.ndarray:
        return np.array([self.target[self.steps]], dtype=np.int64)

    def remaining_steps(self) -> int:
        return len(self.target) - self.steps

    def advance(self, out: StepOutput) -> None:
        self.token_log_probs.append(float(out.gathered_log_probs[0]))
        self.attention.append(out.attention[0, : self.source_length])
        self.prev = np.array([self.target[self.steps]], dtype=np.int64)
        self.state = out.state
        self.steps += 1
        self.done = self.steps == len(self.target)

    def result(self) -> list[Hypothesis]:
        log_prob = float(sum(self.token_log_probs))
        return [
            Hypothesis(
                self.target,
                normalize_score(log_prob, len(self.target), self.length_penalty),
                log_prob,
                np.stack(self.attention),
                token_log_probs=self.token_log_probs,
            )
        ]


def new_decoding(
    source_row: int,
    init_state: np.ndarray,
    source_length: int,
    bos: int,
    eos: int,
    options: SearchOptions,
    prefix: Sequence[int] = (),
) -> Decoding:
    """Greedy or beam search of one sentence, starting with the target ``prefix``."""
    kind = GreedyDecoding if options.beam_size == 1 else BeamDecoding
    return kind(source_row, init_state, source_length, bos, eos, options, prefix)


def beam_search(
    step: StepFunction,
    init_state: np.ndarray,
    source_lengths: Sequence[int],
    bos: int,
    eos: int,
    options: SearchOptions,
    prefixes: Sequence[Sequence[int]] | None = None,
) -> list[list[Hypothesis]]:
    """Search a batch to the end: the ``n_best`` hypotheses of each sentence, best first
    (greedy when ``beam_size`` is 1), each sentence starting with its prefix, if given."""
    prefixes = prefixes if prefixes is not None else [()] * len(source_lengths)
    decodings = [
        new_decoding(n, init_state[n], length, bos, eos, options, prefix)
        for n, (length, prefix) in enumerate(zip(source_lengths, prefixes, strict=True))
    ]
    live = list(decodings)
    while live:
        step_decodings(step, live)
        live = [s for s in live if not s.done]
    return [s.result() for s in decodings]


def greedy_search(
    step: StepFunction,
    init_state: np.ndarray,
    source_lengths: Sequence[int],
    bos: int,
    eos: int,
    options: SearchOptions,
    prefixes: Sequence[Sequence[int]] | None = None,
) -> list[list[Hypothesis]]:
    """Greedy decoding of a batch; one hypothesis per sentence."""
    return beam_search(step, init_state, source_lengths, bos, eos, _greedy(options), prefixes)


def _greedy(options: SearchOptions) -> SearchOptions:
    if options.beam_size == 1:
        return options
    return SearchOptions(
        1,
        1,
        options.length_penalty,
        options.max_length_ratio,
        options.max_length_extra,
        options.candidates,
    )
