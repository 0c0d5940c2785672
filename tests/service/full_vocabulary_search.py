"""The search as it was before the decoder step ended in TopK: greedy and beam search over
full (rows, vocabulary) log-probabilities. Kept as the reference that the top-k search must
reproduce exactly.

The step function advances a set of hypotheses by one token. Each hypothesis row
belongs to a sentence of the batch, named by ``rows``; the step function uses it to
pick that sentence's encoder outputs. Attention is carried along every hypothesis
(and re-ordered with the beam back-pointers), so the matrix returned with a
hypothesis is the one that produced it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from service.inference.search import SearchOptions
from service.inference.step import Hypothesis

# (prev_tokens (N,), state (N,D), rows (N,)) -> (log_probs (N,V), new_state (N,D), attention (N,T))
StepFunction = Callable[
    [np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]
]


def _top_candidates(log_probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ids of each row and their log-probabilities, best first: (N, k) each."""
    k = min(k, log_probs.shape[1])
    ids = np.argpartition(-log_probs, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(log_probs, ids, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(values, order, axis=1)


def _candidate_lists(ids: np.ndarray, values: np.ndarray) -> list[tuple[int, float]]:
    return list(zip(ids.tolist(), values.astype(np.float64).tolist(), strict=True))


def _normalize(log_prob: float, length: int, penalty: float) -> float:
    return log_prob / (length**penalty) if penalty else log_prob


def greedy_search(
    step: StepFunction,
    init_state: np.ndarray,
    source_lengths: Sequence[int],
    bos: int,
    eos: int,
    options: SearchOptions,
) -> list[list[Hypothesis]]:
    """Greedy decoding of a batch; one hypothesis per sentence."""
    batch = init_state.shape[0]
    rows = np.arange(batch)
    state = init_state
    prev = np.full(batch, bos, dtype=np.int64)
    limits = np.array([options.max_length(n) for n in source_lengths])
    tokens: list[list[int]] = [[] for _ in range(batch)]
    attention: list[list[np.ndarray]] = [[] for _ in range(batch)]
    candidates: list[list[list[tuple[int, float]]]] = [[] for _ in range(batch)]
    log_prob = np.zeros(batch)
    results: list[list[Hypothesis]] = [[] for _ in range(batch)]
    t = 0
    while rows.size:
        log_probs, state, alpha = step(prev, state, rows)
        forced = limits[rows] - 1 <= t
        choice = np.where(forced, eos, log_probs.argmax(axis=1))
        log_prob[rows] += log_probs[np.arange(rows.size), choice]
        if options.candidates:
            top_ids, top_values = _top_candidates(log_probs, options.candidates)
        keep = []
        for i, (sentence, token) in enumerate(zip(rows.tolist(), choice.tolist(), strict=True)):
            tokens[sentence].append(token)
            attention[sentence].append(alpha[i, : source_lengths[sentence]])
            if options.candidates:
                candidates[sentence].append(_candidate_lists(top_ids[i], top_values[i]))
            if token == eos:
                results[sentence] = [
                    Hypothesis(
                        tokens[sentence],
                        _normalize(
                            float(log_prob[sentence]), len(tokens[sentence]), options.length_penalty
                        ),
                        float(log_prob[sentence]),
                        np.stack(attention[sentence]),
                        candidates[sentence] if options.candidates else None,
                    )
                ]
            else:
                keep.append(i)
        if len(keep) < rows.size:
            rows, state, choice = rows[keep], state[keep], choice[keep]
        prev = choice.astype(np.int64)
        t += 1
    return results


def beam_search(
    step: StepFunction,
    init_state: np.ndarray,
    source_lengths: Sequence[int],
    bos: int,
    eos: int,
    options: SearchOptions,
) -> list[list[Hypothesis]]:
    """Beam search of a batch: the ``n_best`` hypotheses of each sentence, best first.

    Every unfinished sentence keeps exactly ``beam_size`` live hypotheses, so the
    rows passed to the step function change only when a whole sentence finishes.
    A sentence finishes once ``beam_size`` hypotheses have ended with EOS.
    """
    if options.beam_size == 1:
        return greedy_search(step, init_state, source_lengths, bos, eos, options)
    k = options.beam_size
    batch = init_state.shape[0]
    sentences = np.arange(batch)  # unfinished sentences, in live order
    rows = np.repeat(sentences, k)
    state = np.repeat(init_state, k, axis=0)
    prev = np.full(batch * k, bos, dtype=np.int64)
    # One live start per sentence: the other k - 1 copies can never be chosen.
    scores = np.tile(np.r_[0.0, np.full(k - 1, -np.inf)], batch).astype(np.float32)
    # Per step: attention of the input rows, and for the next step's rows their token and
    # their parent among this step's rows. A finished hypothesis walks these back.
    trace_alpha: list[np.ndarray] = []
    trace_token: list[np.ndarray] = []
    trace_parent: list[np.ndarray] = []
    # With options.candidates: the top ids and log-probabilities of the input rows, per step.
    trace_candidates: list[tuple[np.ndarray, np.ndarray]] = []

    def backtrack(row: int) -> tuple[list[int], np.ndarray, list[list[tuple[int, float]]] | None]:
        tokens, attention = [eos], [trace_alpha[-1][row]]
        candidates = (
            [_candidate_lists(*(c[row] for c in trace_candidates[-1]))] if trace_candidates else []
        )
        for s in range(len(trace_token) - 1, -1, -1):
            tokens.append(int(trace_token[s][row]))
            row = int(trace_parent[s][row])
            attention.append(trace_alpha[s][row])
            if trace_candidates:
                candidates.append(_candidate_lists(*(c[row] for c in trace_candidates[s])))
        return (
            tokens[::-1],
            np.stack(attention[::-1]),
            candidates[::-1] if trace_candidates else None,
        )

    limits = np.array([options.max_length(n) for n in source_lengths])
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    t = 0
    while sentences.size:
        log_probs, state, alpha = step(prev, state, rows)
        vocab = log_probs.shape[1]
        trace_alpha.append(alpha)
        if options.candidates:
            trace_candidates.append(_top_candidates(log_probs, options.candidates))
        forced = limits[sentences] - 1 <= t  # (S,): only EOS may follow
        candidates = scores[:, None] + log_probs  # (N, V) float32
        if forced.any():
            forced_rows = np.repeat(forced, k)
            eos_scores = candidates[forced_rows, eos]
            candidates[forced_rows] = -np.inf
            candidates[forced_rows, eos] = eos_scores
        candidates = candidates.reshape(sentences.size, k * vocab)
        top = np.argpartition(candidates, -2 * k, axis=1)[:, -2 * k :]
        top_scores = np.take_along_axis(candidates, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top, top_scores = (
            np.take_along_axis(top, order, 1),
            np.take_along_axis(top_scores, order, 1),
        )

        new_parent, new_token, new_score, still_live = [], [], [], []
        for s, sentence in enumerate(sentences.tolist()):
            live = 0
            for flat, score in zip(top[s].tolist(), top_scores[s].tolist(), strict=True):
                parent, token = s * k + flat // vocab, flat % vocab
                if not np.isfinite(score):
                    break
                if token == eos:
                    if len(finished[sentence]) < k:
                        tokens, attn, weighed = backtrack(parent)
                        finished[sentence].append(
                            Hypothesis(
                                tokens,
                                _normalize(score, t + 1, options.length_penalty),
                                score,
                                attn[:, : source_lengths[sentence]],
                                weighed,
                            )
                        )
                elif live < k:
                    new_parent.append(parent)
                    new_token.append(token)
                    new_score.append(score)
                    live += 1
                if live == k and len(finished[sentence]) >= k:
                    break
            done = len(finished[sentence]) >= k or bool(forced[s])
            still_live.extend([not done] * k)
            if live < k:  # only when forced: pad so every sentence keeps k rows
                pad = k - live
                new_parent += [s * k] * pad
                new_token += [eos] * pad
                new_score += [-np.inf] * pad

        parents = np.array(new_parent)
        state, scores = state[parents], np.array(new_score, dtype=np.float32)
        prev = np.array(new_token, dtype=np.int64)
        rows_kept = np.array(still_live)
        if not rows_kept.all():
            parents, state, scores = parents[rows_kept], state[rows_kept], scores[rows_kept]
            prev, rows = prev[rows_kept], rows[rows_kept]
            sentences = sentences[rows_kept[::k]]
        trace_token.append(prev)
        trace_parent.append(parents)
        t += 1
    return [sorted(hyps, key=lambda h: -h.score)[: options.n_best] for hyps in finished]
