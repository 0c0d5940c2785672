"""Symmetrized word links from two directions' word matrices, against hand-worked answers."""

from __future__ import annotations

import numpy as np
import pytest

from service.inference.alignment import EOS, WordAlignment
from service.inference.symmetrize import (
    SYMMETRIZATIONS,
    backward_links,
    forward_links,
    grow_diag_final_and,
    symmetrize,
    without_eos,
)

Link = tuple[int, int]


def forward_matrix(best_source: list[int], n_source: int) -> np.ndarray:
    """(target words x source words): target word ``j`` gives 0.7 to ``best_source[j]``."""
    matrix = np.full((len(best_source), n_source), 0.3 / max(n_source - 1, 1))
    matrix[np.arange(len(best_source)), best_source] = 0.7
    return matrix


def backward_matrix(best_target: list[int], n_target: int) -> np.ndarray:
    """(source words x target words): source word ``i`` gives 0.7 to ``best_target[i]``."""
    return forward_matrix(best_target, n_target)


# A 4 x 4 pair where the directions disagree (source i, target j):
#   forward  (per target word): j0->i0, j1->i1, j2->i1, j3->i3
#   backward (per source word): i0->j0, i1->j1, i2->j2, i3->j0
FORWARD = forward_matrix([0, 1, 1, 3], 4)
BACKWARD = backward_matrix([0, 1, 2, 0], 4)
FORWARD_LINKS = {(0, 0), (1, 1), (1, 2), (3, 3)}
BACKWARD_LINKS = {(0, 0), (1, 1), (2, 2), (3, 0)}


def test_directional_links_read_each_words_best_partner() -> None:
    assert forward_links(FORWARD) == FORWARD_LINKS
    assert backward_links(BACKWARD) == BACKWARD_LINKS


def test_intersection_union_and_grow_diag_final_and_of_disagreeing_directions() -> None:
    assert symmetrize(FORWARD, BACKWARD, "intersection") == [(0, 0), (1, 1)]
    assert symmetrize(FORWARD, BACKWARD, "union") == [
        (0, 0),
        (1, 1),
        (1, 2),
        (2, 2),
        (3, 0),
        (3, 3),
    ]
    # Grow, first sweep: (1,2) beside (1,1) with target 2 unaligned; (2,2) beside (1,2)
    # with source 2 unaligned; (3,0) has no neighbour yet; (3,3) at the corner of (2,2).
    # Second sweep: (3,0) has both words aligned by now, so it stays out.
    assert symmetrize(FORWARD, BACKWARD, "grow-diag-final-and") == [
        (0, 0),
        (1, 1),
        (1, 2),
        (2, 2),
        (3, 3),
    ]


def test_intersection_within_both_directions_and_union_over_both() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        m, n = rng.integers(1, 9, size=2)
        forward = rng.dirichlet(np.full(n, 0.3), size=m)
        backward = rng.dirichlet(np.full(m, 0.3), size=n)
        one, other = forward_links(forward), backward_links(backward)
        intersection = set(symmetrize(forward, backward, "intersection"))
        union = set(symmetrize(forward, backward, "union"))
        grown = set(symmetrize(forward, backward, "grow-diag-final-and"))
        assert intersection <= one and intersection <= other
        assert union == one | other
        assert intersection <= grown <= union


def test_diagonal_pair_every_method_agrees() -> None:
    forward = forward_matrix([0, 1, 2], 3)
    backward = backward_matrix([0, 1, 2], 3)
    for method in ("intersection", "union", "grow-diag-final-and"):
        assert symmetrize(forward, backward, method) == [(0, 0), (1, 1), (2, 2)]
    assert symmetrize(forward, backward, "product", 0.6) == [(0, 0), (1, 1), (2, 2)]
    assert symmetrize(forward, backward, "mean", 0.6) == [(0, 0), (1, 1), (2, 2)]


def test_crossing_pair_red_house_casa_roja() -> None:
    forward = np.array([[0.1, 0.9], [0.8, 0.2]])  # casa -> house, roja -> red
    backward = np.array([[0.3, 0.7], [0.95, 0.05]])  # red -> roja, house -> casa
    for method in ("intersection", "union", "grow-diag-final-and"):
        assert symmetrize(forward, backward, method) == [(0, 1), (1, 0)]


def test_growth_takes_a_corner_neighbour_when_one_word_is_unaligned() -> None:
    # (1,1) touches (0,0) only at the corner; source 1 is aligned (by (1,3)), so the
    # final-and step would refuse it: only the diagonal growth takes it.
    forward = {(0, 0), (1, 1), (1, 3)}
    backward = {(0, 0), (1, 3)}
    assert grow_diag_final_and(forward, backward) == {(0, 0), (1, 1), (1, 3)}


def test_growth_skips_a_neighbour_whose_words_are_both_aligned() -> None:
    forward = {(0, 0), (1, 1), (0, 1)}
    backward = {(0, 0), (1, 1)}
    assert grow_diag_final_and(forward, backward) == {(0, 0), (1, 1)}


def test_growth_sweeps_again_until_nothing_more_grows() -> None:
    # (0,0) comes first in the sweep but only touches (1,1), which the same sweep takes
    # later (at the corner of (2,2)); source 0 is aligned by (0,4), so only a second
    # sweep, not the final-and step, can take (0,0).
    forward = {(2, 2), (0, 4), (1, 1), (0, 0)}
    backward = {(2, 2), (0, 4)}
    assert grow_diag_final_and(forward, backward) == {(0, 0), (0, 4), (1, 1), (2, 2)}


def test_final_and_aligns_a_word_only_when_both_ends_are_unaligned() -> None:
    # (2,2) touches nothing, and both its words are unaligned: final-and takes it.
    assert grow_diag_final_and({(0, 0), (2, 2)}, {(0, 0)}) == {(0, 0), (2, 2)}
    # (0,2) touches nothing, and source 0 is aligned: left out (grow-diag-final, without
    # "and", would take it).
    assert grow_diag_final_and({(0, 0), (0, 2)}, {(0, 0)}) == {(0, 0)}


def test_final_and_looks_at_the_forward_links_before_the_backward_ones() -> None:
    forward: set[Link] = {(0, 0), (2, 3)}
    backward: set[Link] = {(0, 0), (2, 2)}
    assert grow_diag_final_and(forward, backward) == {(0, 0), (2, 3)}
    assert grow_diag_final_and(backward, forward) == {(0, 0), (2, 2)}


def test_product_and_mean_thresholds() -> None:
    forward = np.array([[0.9, 0.1], [0.5, 0.5]])  # (target x source)
    backward = np.array([[0.6, 0.4], [0.2, 0.8]])  # (source x target)
    # product: sqrt(f[j,i] * b[i,j]) -> (0,0) .735, (0,1) .447, (1,0) .141, (1,1) .632
    assert symmetrize(forward, backward, "product", 0.4) == [(0, 0), (0, 1), (1, 1)]
    assert symmetrize(forward, backward, "product", 0.5) == [(0, 0), (1, 1)]
    assert symmetrize(forward, backward, "product", 0.7) == [(0, 0)]
    # mean: (f[j,i] + b[i,j]) / 2 -> (0,0) .75, (0,1) .45, (1,0) .15, (1,1) .65
    assert symmetrize(forward, backward, "mean", 0.44) == [(0, 0), (0, 1), (1, 1)]
    assert symmetrize(forward, backward, "mean", 0.7) == [(0, 0)]


def test_links_are_sorted_source_then_target() -> None:
    for method in SYMMETRIZATIONS:
        links = symmetrize(FORWARD, BACKWARD, method, 0.1)
        assert links == sorted(links) and links


def test_shapes_that_do_not_transpose_are_refused() -> None:
    with pytest.raises(ValueError, match="backward must be"):
        symmetrize(np.ones((2, 3)) / 3, np.ones((2, 3)) / 3, "intersection")
    with pytest.raises(ValueError, match="matrices"):
        symmetrize(np.ones(3), np.ones(3), "union")
    with pytest.raises(ValueError, match="method"):
        symmetrize(FORWARD, BACKWARD, "grow-diag")
    with pytest.raises(ValueError, match="threshold"):
        symmetrize(FORWARD, BACKWARD, "product", 0.0)


def test_empty_sides_have_no_links() -> None:
    for method in SYMMETRIZATIONS:
        assert symmetrize(np.zeros((0, 3)), np.zeros((3, 0)), method) == []


def test_without_eos_drops_the_end_of_sentence_row_and_column_as_they_are() -> None:
    attention = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.0, 0.1, 0.9]])
    words = WordAlignment(["red", "house", EOS], ["roja", "casa", EOS], attention)
    inner = without_eos(words)
    np.testing.assert_allclose(inner, [[0.6, 0.3], [0.2, 0.2]])
