"""Greedy and beam search driven by a fake numpy step function with fixed transition tables.

The fake decoder is a bigram model: the next-token log-probabilities depend only on the
previous token (one table per sentence of the batch). Its state carries the step number and
the sum of the tokens emitted so far, and its attention row writes down
``[previous token, step, sum of the path so far, ...]``, so a test can check that every
attention row belongs to the path it is returned with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from service.inference.search import SearchOptions, beam_search, greedy_search
from service.inference.step import FullStepFunction, Hypothesis, top_k_step

BOS, EOS, A, B, C = 0, 1, 2, 3, 4
VOCAB = 8  # more than 2 * beam_size, so EOS competes with real tokens


def bigram_table(rows: dict[int, dict[int, float]], eos: float = 1e-6) -> np.ndarray:
    """(VOCAB, VOCAB) log-probabilities; next tokens not named share a tiny mass."""
    probs = np.full((VOCAB, VOCAB), 1e-6)
    probs[:, EOS] = eos
    for prev, nexts in rows.items():
        for token, p in nexts.items():
            probs[prev, token] = p
    return np.log(probs / probs.sum(axis=1, keepdims=True))


def random_table(seed: int, eos_weight: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    alpha = np.ones(VOCAB)
    alpha[EOS] = eos_weight
    probs = rng.dirichlet(alpha, size=VOCAB)
    probs[:, BOS] = 1e-9  # BOS is never produced
    return np.log(probs / probs.sum(axis=1, keepdims=True))


def bigram_step(tables: Sequence[np.ndarray], width: int) -> FullStepFunction:
    """A step function over sentences with their own tables; attention has ``width`` columns."""
    stacked = np.stack(tables)  # (S, V, V)

    def step(
        prev: np.ndarray, state: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        log_probs = stacked[rows, prev]  # (N, V)
        new_state = np.stack([state[:, 0] + 1, state[:, 1] + prev], axis=1)  # (N, 2)
        attention = np.tile(1.0 / (np.arange(width) + 1), (prev.size, 1))  # (N, width)
        attention[:, 0] = prev
        attention[:, 1] = state[:, 0]
        attention[:, 2] = new_state[:, 1]
        return log_probs, new_state, attention

    return step


def search(
    tables: Sequence[np.ndarray], lengths: Sequence[int], options: SearchOptions
) -> list[list[Hypothesis]]:
    step = bigram_step(tables, max(lengths))
    init_state = np.zeros((len(tables), 2))
    return beam_search(top_k_step(step), init_state, lengths, BOS, EOS, options)


def path_log_prob(table: np.ndarray, tokens: Sequence[int]) -> float:
    previous = [BOS, *tokens[:-1]]
    return float(sum(table[p, t] for p, t in zip(previous, tokens, strict=True)))


def assert_attention_follows(hypothesis: Hypothesis, source_length: int) -> None:
    tokens = hypothesis.tokens
    attention = hypothesis.attention
    assert attention.shape == (len(tokens), source_length)
    previous = [BOS, *tokens[:-1]]
    for j, row in enumerate(attention):
        assert row[0] == previous[j]
        assert row[1] == j
        assert row[2] == sum(tokens[:j])
        np.testing.assert_allclose(row[3:], 1 / (np.arange(3, source_length) + 1), rtol=1e-6)


def test_greedy_picks_the_argmax_at_every_step() -> None:
    table = random_table(seed=3, eos_weight=0.5)
    options = SearchOptions(beam_size=1, max_length_ratio=2.0, max_length_extra=4)
    [[hypothesis]] = search([table], [4], options)
    limit = options.max_length(4)
    expected, prev = [], BOS
    for t in range(limit):
        prev = EOS if t == limit - 1 else int(np.argmax(table[prev]))
        expected.append(prev)
        if prev == EOS:
            break
    assert hypothesis.tokens == expected
    assert hypothesis.log_prob == pytest.approx(path_log_prob(table, expected), abs=1e-5)
    assert hypothesis.score == pytest.approx(hypothesis.log_prob / len(expected), abs=1e-5)
    assert_attention_follows(hypothesis, 4)


def test_greedy_search_is_what_beam_size_1_runs() -> None:
    table = random_table(seed=5)
    options = SearchOptions(beam_size=1)
    via_beam = search([table], [5], options)[0][0]
    direct = greedy_search(
        top_k_step(bigram_step([table], 5)), np.zeros((1, 2)), [5], BOS, EOS, options
    )
    assert via_beam.tokens == direct[0][0].tokens


# BOS -> A (0.55) looks best, but A continues poorly; BOS -> B -> EOS is the likelier sentence.
MYOPIC = bigram_table(
    {
        BOS: {A: 0.55, B: 0.45},
        A: {C: 0.5, EOS: 0.45, A: 0.05},
        B: {EOS: 0.99},
        C: {EOS: 1.0},
    }
)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_beam_search_finds_what_greedy_misses(length_penalty: float) -> None:
    greedy = search([MYOPIC], [3], SearchOptions(beam_size=1, length_penalty=length_penalty))
    beam = search([MYOPIC], [3], SearchOptions(beam_size=2, length_penalty=length_penalty))
    assert greedy[0][0].tokens == [A, C, EOS]
    assert beam[0][0].tokens == [B, EOS]
    assert beam[0][0].log_prob > greedy[0][0].log_prob
    assert beam[0][0].score > greedy[0][0].score
    assert beam[0][0].log_prob == pytest.approx(path_log_prob(MYOPIC, [B, EOS]), abs=1e-5)
    assert beam[0][0].log_prob == pytest.approx(np.log(0.45), abs=1e-4)


@pytest.mark.parametrize("beam_size", [2, 4, 5])
def test_n_best_is_sorted_and_every_hypothesis_is_its_own_path(beam_size: int) -> None:
    table = random_table(seed=11)
    options = SearchOptions(beam_size=beam_size, n_best=beam_size)
    [hypotheses] = search([table], [6], options)
    assert len(hypotheses) == beam_size
    scores = [h.score for h in hypotheses]
    assert scores == sorted(scores, reverse=True)
    assert len({tuple(h.tokens) for h in hypotheses}) == beam_size
    for hypothesis in hypotheses:
        assert hypothesis.tokens[-1] == EOS
        assert EOS not in hypothesis.tokens[:-1]
        expected = path_log_prob(table, hypothesis.tokens)
        assert hypothesis.log_prob == pytest.approx(expected, abs=1e-4)
        assert hypothesis.score == pytest.approx(expected / len(hypothesis.tokens), abs=1e-4)
        assert_attention_follows(hypothesis, 6)


def test_n_best_1_returns_the_best_of_the_beam() -> None:
    table = random_table(seed=11)
    best = search([table], [6], SearchOptions(beam_size=4, n_best=1))[0]
    all_four = search([table], [6], SearchOptions(beam_size=4, n_best=4))[0]
    assert len(best) == 1
    assert best[0].tokens == all_four[0].tokens


# EOS is (nearly) impossible: without a limit the output would never end.
ENDLESS = bigram_table({BOS: {A: 0.9, B: 0.1}, A: {A: 0.7, B: 0.3}, B: {A: 0.6, C: 0.4}}, eos=1e-30)


@pytest.mark.parametrize("beam_size", [1, 3])
@pytest.mark.parametrize(("length", "ratio", "extra"), [(3, 1.0, 0), (4, 0.5, 2), (5, 2.0, 1)])
def test_max_length_forces_eos(beam_size: int, length: int, ratio: float, extra: int) -> None:
    options = SearchOptions(
        beam_size=beam_size, n_best=beam_size, max_length_ratio=ratio, max_length_extra=extra
    )
    limit = int(ratio * length) + extra
    hypotheses = search([ENDLESS], [length], options)[0]
    assert len(hypotheses) >= 1
    assert len(hypotheses[0].tokens) == limit
    for hypothesis in hypotheses:
        assert len(hypothesis.tokens) <= limit
        assert hypothesis.tokens[-1] == EOS
        assert_attention_follows(hypothesis, length)


def test_max_length_is_at_least_one_token() -> None:
    options = SearchOptions(beam_size=1, max_length_ratio=0.01, max_length_extra=0)
    [[hypothesis]] = search([ENDLESS], [3], options)
    assert hypothesis.tokens == [EOS]


@pytest.mark.parametrize("beam_size", [1, 2, 3])
def test_a_batch_gives_what_each_sentence_gives_alone(beam_size: int) -> None:
    tables = [random_table(seed, eos_weight=0.7) for seed in (21, 22, 23, 24)]
    lengths = [3, 9, 5, 4]
    options = SearchOptions(beam_size=beam_size, n_best=beam_size, max_length_extra=3)
    together = search(tables, lengths, options)
    finished_at = set()
    for table, length, batched in zip(tables, lengths, together, strict=True):
        [alone] = search([table], [length], options)
        assert [h.tokens for h in batched] == [h.tokens for h in alone]
        for got, expected in zip(batched, alone, strict=True):
            assert got.score == pytest.approx(expected.score, abs=1e-5)
            np.testing.assert_array_equal(got.attention, expected.attention)
            assert_attention_follows(got, length)
        finished_at.add(len(batched[0].tokens))
    assert len(finished_at) > 1  # the sentences end at different steps


def test_search_options_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="beam_size"):
        SearchOptions(beam_size=0)
    with pytest.raises(ValueError, match="n_best"):
        SearchOptions(beam_size=2, n_best=3)
    with pytest.raises(ValueError, match="n_best"):
        SearchOptions(beam_size=2, n_best=0)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_candidates_are_the_best_pieces_of_each_step_of_the_returned_path(beam_size: int) -> None:
    tables = [random_table(seed, eos_weight=0.7) for seed in (31, 32)]
    lengths = [4, 6]
    k = 3
    options = SearchOptions(beam_size=beam_size, n_best=beam_size, candidates=k)
    for table, hypotheses in zip(tables, search(tables, lengths, options), strict=True):
        for hypothesis in hypotheses:
            assert hypothesis.candidates is not None
            assert len(hypothesis.candidates) == len(hypothesis.tokens)
            previous = [BOS, *hypothesis.tokens[:-1]]
            for prev, step in zip(previous, hypothesis.candidates, strict=True):
                expected = np.argsort(-table[prev], kind="stable")[:k]
                assert [token for token, _ in step] == expected.tolist()
                np.testing.assert_allclose([lp for _, lp in step], table[prev, expected], atol=1e-6)
    without = search(tables, lengths, SearchOptions(beam_size=beam_size))
    assert all(h.candidates is None for hyps in without for h in hyps)


# --- target prefix ------------------------------------------------------------------------


def search_with_prefix(
    tables: Sequence[np.ndarray],
    lengths: Sequence[int],
    options: SearchOptions,
    prefixes: Sequence[Sequence[int]],
) -> list[list[Hypothesis]]:
    step = bigram_step(tables, max(lengths))
    init_state = np.zeros((len(tables), 2))
    return beam_search(top_k_step(step), init_state, lengths, BOS, EOS, options, prefixes)


@pytest.mark.parametrize("beam_size", [1, 4])
def test_every_hypothesis_starts_with_the_prefix_and_scores_it(beam_size: int) -> None:
    table = random_table(seed=41, eos_weight=0.7)
    prefix = [C, C, A]  # unlikely pieces: the free search would not choose them
    options = SearchOptions(beam_size=beam_size, n_best=beam_size, max_length_extra=6)
    [hypotheses] = search_with_prefix([table], [6], options, [prefix])
    assert len(hypotheses) == beam_size
    for hypothesis in hypotheses:
        assert hypothesis.tokens[: len(prefix)] == prefix
        assert hypothesis.tokens[-1] == EOS and EOS not in hypothesis.tokens[:-1]
        # The score adds the forced pieces' log-probabilities under the model, exactly.
        expected = path_log_prob(table, hypothesis.tokens)
        assert hypothesis.log_prob == pytest.approx(expected, abs=1e-4)
        assert hypothesis.score == pytest.approx(expected / len(hypothesis.tokens), abs=1e-4)
        assert_attention_follows(hypothesis, 6)  # one row per piece, prefix included
    assert [h.score for h in hypotheses] == sorted((h.score for h in hypotheses), reverse=True)
    assert len({tuple(h.tokens) for h in hypotheses}) == beam_size


def test_greedy_continues_the_prefix_with_the_argmax() -> None:
    table = random_table(seed=43, eos_weight=0.5)
    options = SearchOptions(beam_size=1, max_length_extra=6)
    [[hypothesis]] = search_with_prefix([table], [4], options, [[C]])
    limit = options.max_length(4)
    expected, prev = [C], C
    while prev != EOS:
        prev = EOS if len(expected) == limit - 1 else int(np.argmax(table[prev]))
        expected.append(prev)
    assert hypothesis.tokens == expected
    assert hypothesis.log_prob == pytest.approx(path_log_prob(table, expected), abs=1e-5)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_a_prefix_equal_to_the_free_output_changes_nothing(beam_size: int) -> None:
    table = random_table(seed=3, eos_weight=0.5) if beam_size == 1 else MYOPIC
    options = SearchOptions(beam_size=beam_size)
    [[free]] = search([table], [4], options)
    [[prefixed]] = search_with_prefix([table], [4], options, [free.tokens[:-1]])
    assert prefixed.tokens == free.tokens
    assert prefixed.score == pytest.approx(free.score, abs=1e-6)
    np.testing.assert_array_equal(prefixed.attention, free.attention)


def test_beam_search_from_a_prefix_keeps_to_it_where_greedy_would_not() -> None:
    # Free beam search prefers B EOS; forced to start with A, every hypothesis starts with A.
    options = SearchOptions(beam_size=2, n_best=2)
    [hypotheses] = search_with_prefix([MYOPIC], [3], options, [[A]])
    assert [h.tokens for h in hypotheses] == [[A, C, EOS], [A, EOS]]
    assert hypotheses[1].log_prob == pytest.approx(np.log(0.55 * 0.45), abs=1e-4)


def test_the_search_may_end_right_after_the_prefix() -> None:
    # After B, EOS is almost certain: the prefix is the whole sentence.
    for beam_size in (1, 2):
        [hypotheses] = search_with_prefix([MYOPIC], [3], SearchOptions(beam_size=beam_size), [[B]])
        assert hypotheses[0].tokens == [B, EOS]


def test_the_length_limit_counts_the_prefix() -> None:
    options = SearchOptions(beam_size=3, n_best=3, max_length_ratio=1.0, max_length_extra=0)
    limit = options.max_length(4)  # 4 tokens, EOS included
    hypotheses = search_with_prefix([ENDLESS], [4], options, [[B, C]])[0]
    assert len(hypotheses[0].tokens) == limit
    assert all(h.tokens[:2] == [B, C] and len(h.tokens) <= limit for h in hypotheses)
    with pytest.raises(ValueError, match="no room for EOS"):
        search_with_prefix([ENDLESS], [4], options, [[A] * limit])
    with pytest.raises(ValueError, match="EOS"):
        search_with_prefix([ENDLESS], [4], options, [[A, EOS]])


@pytest.mark.parametrize("beam_size", [1, 3])
def test_prefixed_and_free_sentences_share_a_batch(beam_size: int) -> None:
    tables = [random_table(seed, eos_weight=0.7) for seed in (51, 52, 53)]
    lengths = [3, 7, 5]
    prefixes: list[list[int]] = [[C, A], [], [B]]
    options = SearchOptions(beam_size=beam_size, n_best=beam_size, max_length_extra=3)
    together = search_with_prefix(tables, lengths, options, prefixes)
    for table, length, prefix, batched in zip(tables, lengths, prefixes, together, strict=True):
        [alone] = search_with_prefix([table], [length], options, [prefix])
        assert [h.tokens for h in batched] == [h.tokens for h in alone]
        for got, expected in zip(batched, alone, strict=True):
            np.testing.assert_array_equal(got.attention, expected.attention)
            assert got.tokens[: len(prefix)] == prefix
