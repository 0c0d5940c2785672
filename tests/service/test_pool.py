"""The step rows kept in place: after any sequence of sentences joining and leaving, they
hold exactly what padding the step's sentences afresh gives."""

from __future__ import annotations

import numpy as np

from service.inference.pool import StepRows


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
