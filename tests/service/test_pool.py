"""The step rows kept in place: after any sequence of sentences joining and leaving, they
hold exactly what padding the step's sentences afresh gives; a step over a few of them runs
over a copy and gives what a step over those sentences alone gives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.inference.pool import EncoderPool, StepRows
from service.inference.runtime import EncodedBatch, RuntimeOptions
from service.inference.step import StepOutput
from service.inference.translator import Translator

SENTENCES = (Path(__file__).parents[2] / "bench" / "sentences_en.txt").read_text().splitlines()


def fresh(
    order: list[int],
    counts: dict[int, int],
    annotations: dict[int, np.ndarray],
    keys: dict[int, np.ndarray],
) -> list[np.ndarray]:
    """The padded inputs built from nothing, in ``order``."""
    width = max(annotations[s].shape[0] for s in order)
    rows = sum(counts[s] for s in order)
    padded = [np.zeros((rows, width, 6), np.float32), np.zeros((rows, width, 4), np.float32)]
    mask = np.zeros((rows, width), bool)
    row = 0
    for s in order:
        length = annotations[s].shape[0]
        padded[0][row : row + counts[s], :length] = annotations[s]
        padded[1][row : row + counts[s], :length] = keys[s]
        mask[row : row + counts[s], :length] = True
        row += counts[s]
    return [*padded, mask]


def test_rows_kept_in_place_equal_rows_built_afresh() -> None:
    rng = np.random.default_rng(0)
    annotations = {
        s: rng.standard_normal((int(rng.integers(1, 60)), 6)).astype(np.float32) for s in range(200)
    }
    keys = {
        s: rng.standard_normal((a.shape[0], 4)).astype(np.float32) for s, a in annotations.items()
    }
    counts = {s: int(rng.choice([1, 1, 1, 4, 5])) for s in annotations}
    kept = StepRows()
    live: list[int] = []
    unused = list(annotations)
    widths = set()
    for _ in range(300):
        for s in list(live):  # some finish
            if rng.random() < 0.15:
                live.remove(s)
        while unused and (len(live) < 3 or rng.random() < 0.5):  # some join
            live.append(unused.pop(int(rng.integers(len(unused)))))
            if rng.random() < 0.5:
                break
        if not live:
            continue
        order = list(live)
        rng.shuffle(order)  # the step asks in any order
        kept.arrange([(s, counts[s]) for s in order], annotations, keys)
        assert sorted(kept.order()) == sorted(live)
        got = kept.views()
        expected = fresh(kept.order(), counts, annotations, keys)
        width = expected[0].shape[1]
        assert kept.width >= width
        widths.add(kept.width)
        for name, array in zip(("annotations", "keys", "src_mask"), expected, strict=True):
            assert got[name].flags.c_contiguous
            np.testing.assert_array_equal(got[name][:, :width], array)
            assert not got[name][:, width:].any()  # padding past the longest source is empty
        assert kept.row_ids().tolist() == [s for s in kept.order() for _ in range(counts[s])]
    assert len(widths) > 3  # widths grew and shrank along the way


def test_a_sentence_removed_leaves_the_rows() -> None:
    annotations = {s: np.full((s + 2, 6), s, np.float32) for s in range(3)}
    keys = {s: np.full((s + 2, 4), s, np.float32) for s in range(3)}
    kept = StepRows()
    kept.arrange([(0, 1), (1, 5), (2, 1)], annotations, keys)
    kept.remove(0)
    assert kept.rows == 6
    assert sorted(kept.order()) == [1, 2]
    views = kept.views()
    for s in (1, 2):
        first = kept.start[s]
        assert (views["annotations"][first : first + kept.count[s], : s + 2] == s).all()


@dataclass
class Block:
    """What the pool reads of a decoding: its sentence and its rows."""

    source_row: int
    rows: int


def test_a_step_over_a_few_kept_rows_runs_over_a_copy_and_leaves_them(
    tiny_artifact: Path,
) -> None:
    translator = Translator.from_directory(
        tiny_artifact, runtime=RuntimeOptions(device="cpu", intra_op_threads=1)
    )
    model = translator.model
    texts = SENTENCES[:9]
    ids = [s.ids for s in translator.encode_sources(texts)]
    lengths = np.array([len(i) for i in ids])
    tokens = np.zeros((len(ids), lengths.max()), dtype=np.int64)
    for row, sentence in enumerate(ids):
        tokens[row, : len(sentence)] = sentence
    encoded = model.encode(tokens, lengths)
    special = translator.artifact.special_tokens

    def step(pool: EncoderPool, blocks: list[Block], states: np.ndarray) -> StepOutput:
        ordered = pool.arrange(blocks)  # type: ignore[arg-type]
        rows = np.repeat([b.source_row for b in ordered], [b.rows for b in ordered])
        prev = np.full(rows.size, special.bos, dtype=np.int64)
        gather = np.full(rows.size, special.eos, dtype=np.int64)
        return pool.step(prev, states[rows], rows, gather, 4)

    pool = EncoderPool(model)
    sentences = pool.add(encoded, lengths)
    states = encoded.init_state  # sentence ids are 0..8, the rows of the batch
    everything = [Block(s, 4) for s in sentences]  # 36 rows kept
    step(pool, everything, states)
    version = pool.step_rows.version
    few = [Block(sentences[5], 4), Block(sentences[2], 4)]  # 8 rows: a copy of them
    got = step(pool, few, states)
    assert pool.step_rows.version == version  # the kept rows did not move
    step(pool, everything, states)
    assert pool.step_rows.version == version  # nor for the next step over all of them

    alone = EncoderPool(model)
    alone_ids = alone.add(
        EncodedBatch(
            encoded.annotations[[2, 5]], encoded.keys[[2, 5]], states[[2, 5]], encoded.mask[[2, 5]]
        ),
        lengths[[2, 5]],
    )
    expected = step(alone, [Block(alone_ids[0], 4), Block(alone_ids[1], 4)], states[[2, 5]])
    np.testing.assert_array_equal(got.top_ids, expected.top_ids)
    np.testing.assert_allclose(got.top_log_probs, expected.top_log_probs, atol=1e-5)
    np.testing.assert_allclose(got.state, expected.state, atol=1e-5)
    width = int(lengths[[2, 5]].max())
    np.testing.assert_allclose(got.attention[:, :width], expected.attention[:, :width], atol=1e-6)
