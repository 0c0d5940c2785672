"""The word-align step: eflomal, grow-diag-final-and, the piece mapping and link scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model_export.corpus import SPLITS, read_tsv
from model_export.word_alignment import (
    STATE_FILE,
    align_corpus,
    alignment_path,
    grow_diag_final_and,
    link_scores,
    normalize_word,
    parse_pharaoh,
    piece_mask,
    piece_reference,
    read_alignments,
    targets_and_rest,
)


def test_grow_diag_final_and_grows_from_the_intersection() -> None:
    forward = {(0, 0), (1, 1), (2, 2), (3, 2)}
    reverse = {(0, 0), (1, 1), (2, 3), (3, 3)}
    # Intersection {0-0, 1-1}; 2-2 neighbours 1-1 and aligns source 2; then 3-2 (source 3
    # unaligned) and 2-3 (target 3 unaligned) neighbour 2-2; 3-3 comes too late: both of
    # its words are aligned by then.
    assert grow_diag_final_and(forward, reverse) == {(0, 0), (1, 1), (2, 2), (3, 2), (2, 3)}


def test_grow_diag_final_and_adds_lone_links_only_between_unaligned_words() -> None:
    forward = {(0, 0), (5, 5)}
    reverse = {(0, 0), (5, 6)}
    links = grow_diag_final_and(forward, reverse)
    assert (0, 0) in links
    assert (5, 5) in links  # final-and: both words unaligned when it is reached
    assert (5, 6) not in links  # source 5 is aligned by then


def test_the_aligner_sees_lowercased_words_without_punctuation() -> None:
    assert normalize_word("Beginning,") == "beginning"
    assert normalize_word("“Come") == "come"
    assert normalize_word("...") == "..."  # nothing left: keep the token


def test_piece_reference_spreads_a_word_over_the_pieces_of_its_links() -> None:
    source = ["▁In", "▁the", "▁begin", "ning", ","]  # words: In, the, beginning,
    target = ["▁En", "▁el", "▁princip", "io"]  # words: En, el, principio
    rows = piece_reference({(0, 0), (1, 1), (2, 2)}, source, target)
    assert rows is not None
    assert rows.shape == (5, 6)  # + </s> on both sides
    np.testing.assert_allclose(rows[0], [1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(rows[2], [0, 0, 1 / 3, 1 / 3, 1 / 3, 0])
    np.testing.assert_allclose(rows[3], rows[2])  # both pieces of "principio"
    np.testing.assert_allclose(rows[4], [0, 0, 0, 0, 0, 1])  # </s> to </s>


def test_piece_reference_leaves_unlinked_words_unsupervised() -> None:
    rows = piece_reference({(0, 1)}, ["▁a", "▁b"], ["▁x", "▁y"])
    assert rows is not None
    assert rows[0].sum() == 0
    np.testing.assert_allclose(rows[1], [1, 0, 0])


def test_piece_reference_refuses_links_past_the_words() -> None:
    assert piece_reference({(3, 0)}, ["▁a", "▁b"], ["▁x"]) is None


def test_link_scores() -> None:
    predicted = [{(0, 0), (1, 1), (2, 1)}]
    sure = [{(0, 0), (1, 1), (2, 2), (3, 3)}]
    scores = link_scores(predicted, sure)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(2 / 4)
    assert scores.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert scores.aer == pytest.approx(1 - 4 / 7)
    possible = [{(2, 1)}]  # a possible link counts for precision in AER only
    assert link_scores(predicted, sure, possible).aer == pytest.approx(1 - 5 / 7)


def test_align_corpus_writes_one_line_of_valid_links_per_pair(tiny_data: Path) -> None:
    for split in SPLITS:
        pairs = read_tsv(tiny_data / f"{split}.tsv")
        links = read_alignments(alignment_path(tiny_data, split))
        assert len(links) == len(pairs)
        for pair, pair_links in zip(pairs, links, strict=True):
            for i, j in pair_links:
                assert 0 <= i < len(pair.source.split())
                assert 0 <= j < len(pair.target.split())
    train_links = read_alignments(alignment_path(tiny_data, "train"))
    assert sum(map(len, train_links)) > len(train_links)  # most pairs get several links


def test_align_corpus_resumes_and_redoes_a_changed_corpus(tiny_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for split in SPLITS:
        (data / f"{split}.tsv").write_bytes((tiny_data / f"{split}.tsv").read_bytes())
    align_corpus(data)
    state = json.loads((data / STATE_FILE).read_text())
    assert state["done"] == ["eflomal", "symmetrize"]
    forward = data / "eflomal.fwd"
    stamp = forward.stat().st_mtime_ns
    align_corpus(data)  # finished stages are skipped
    assert forward.stat().st_mtime_ns == stamp
    with (data / "test.tsv").open("a") as handle:
        handle.write("And it was so.\tY fué así.\textra\n")
    align_corpus(data)  # another corpus: aligned again
    assert forward.stat().st_mtime_ns != stamp
    assert len(read_alignments(alignment_path(data, "test"))) == len(read_tsv(data / "test.tsv"))


def test_parse_pharaoh_reads_what_it_writes() -> None:
    assert parse_pharaoh("0-1 2-3") == {(0, 1), (2, 3)}
    assert parse_pharaoh("") == set()


def test_piece_mask_covers_the_pieces_of_the_masked_words() -> None:
    source = ["▁In", "▁the", "▁begin", "ning", ","]
    target = ["▁En", "▁el", "▁princip", "io"]
    cells = piece_mask({(2, 0)}, source, target)
    assert cells is not None and cells.shape == (5, 6) and cells.dtype == bool
    assert cells[0].tolist() == [False, False, True, True, True, False]
    assert not cells[1:].any()
    assert piece_mask({(5, 0)}, source, target) is None


def test_masked_targets_and_the_rest_split_the_union() -> None:
    forward, reverse = {(0, 0), (1, 1), (2, 1)}, {(0, 0), (1, 2)}
    both, rest = targets_and_rest(forward, reverse, "intersection")
    assert both == {(0, 0)}
    assert rest == {(1, 1), (2, 1), (1, 2)}
    grown, rest = targets_and_rest(forward, reverse, "grow-diag-final-and")
    assert grown == grow_diag_final_and(forward, reverse) and both < grown
    assert rest == (forward | reverse) - grown
    with pytest.raises(ValueError):
        targets_and_rest(forward, reverse, "union")
