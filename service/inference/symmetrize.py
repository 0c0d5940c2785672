"""Word links from two models that align the same pair in opposite directions.

The source->target model gives, for each target word, a distribution over the source words;
the target->source model, run teacher-forced over the pair reversed, gives one over the
target words for each source word. Each direction alone links every word of one side to
exactly one word of the other; combining the two keeps the links both agree on and grows
from there (Och and Ney 2003; Koehn et al. 2003; grow-diag-final-and as fast_align's
``atools`` computes it), or reads links off the two probabilities together (Liang et al.
2006, alignment by agreement). Pure numpy: no model, no HTTP.
"""

from __future__ import annotations

import numpy as np

from service.inference.alignment import DEFAULT_THRESHOLD, EOS, WordAlignment

__all__ = [
    "SYMMETRIZATIONS",
    "backward_links",
    "forward_links",
    "grow_diag_final_and",
    "symmetrize",
    "without_eos",
]

Link = tuple[int, int]  # (source word i, target word j)

SYMMETRIZATIONS = ("intersection", "union", "grow-diag-final-and", "product", "mean")
THRESHOLDED = ("product", "mean")

# Moses and atools look at the four sides first, then the four corners.
NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1))


def without_eos(words: WordAlignment) -> np.ndarray:
    """The (target words x source words) matrix without the ``</s>`` row and column.

    Rows are not renormalized: what a word gave ``</s>`` is what it gave no word, the
    null word of the statistical aligners, and thresholds should see it missing.
    """
    rows = [j for j, word in enumerate(words.target) if word != EOS]
    columns = [i for i, word in enumerate(words.source) if word != EOS]
    return np.asarray(words.attention, dtype=np.float64)[np.ix_(rows, columns)]


def forward_links(forward: np.ndarray) -> set[Link]:
    """Each target word ``j`` to its best source word ``i`` (ties to the lowest ``i``)."""
    if 0 in forward.shape:
        return set()
    return {(int(i), j) for j, i in enumerate(np.argmax(forward, axis=1))}


def backward_links(backward: np.ndarray) -> set[Link]:
    """Each source word ``i`` to its best target word ``j`` (ties to the lowest ``j``)."""
    if 0 in backward.shape:
        return set()
    return {(i, int(j)) for i, j in enumerate(np.argmax(backward, axis=1))}


def grow_diag_final_and(forward: set[Link], backward: set[Link]) -> set[Link]:
    """Symmetrize two directional alignments exactly as ``atools -c grow-diag-final-and``.

    Start from the intersection. Grow: sweep the links of the union not yet taken in
    (source, target) order, taking one when a neighbour (sides or corners) is already
    taken and its source or its target word is still unaligned; a link taken counts at
    once for those after it; sweep again until a sweep takes nothing. Final-and: the links
    of ``forward``, then those of ``backward``, in order, taken when both their words are
    still unaligned.
    """
    links = forward & backward
    aligned_source = {i for i, _ in links}
    aligned_target = {j for _, j in links}

    def take(i: int, j: int) -> None:
        links.add((i, j))
        aligned_source.add(i)
        aligned_target.add(j)

    candidates = sorted((forward | backward) - links)
    grew = True
    while grew:
        grew = False
        left = []
        for i, j in candidates:
            one_unaligned = i not in aligned_source or j not in aligned_target
            if one_unaligned and any((i + di, j + dj) in links for di, dj in NEIGHBOURS):
                take(i, j)
                grew = True
            else:
                left.append((i, j))
        candidates = left
    for directional in (forward, backward):
        for i, j in sorted(directional):
            if i not in aligned_source and j not in aligned_target:
                take(i, j)
    return links


def _check_shapes(forward: np.ndarray, backward: np.ndarray) -> None:
    if forward.ndim != 2 or backward.ndim != 2:
        raise ValueError(
            f"forward and backward must be matrices; got {forward.ndim} and "
            f"{backward.ndim} dimensions"
        )
    if backward.shape != forward.shape[::-1]:
        raise ValueError(
            f"forward is (target words x source words) = {forward.shape}, so backward must "
            f"be (source words x target words) = {forward.shape[::-1]}, not {backward.shape}"
        )


def symmetrize(
    forward: np.ndarray,
    backward: np.ndarray,
    method: str,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Link]:
    """Sorted ``(source i, target j)`` links agreed by the two directions.

    ``forward``: (target words x source words), each row a distribution over the source
    words, from the source->target model. ``backward``: (source words x target words),
    each row one over the target words, from the target->source model over the same pair
    reversed. Both without ``</s>`` (see :func:`without_eos`).

    ``intersection``, ``union`` and ``grow-diag-final-and`` combine the two directions'
    argmax links (:func:`forward_links`, :func:`backward_links`). ``product`` links where
    ``sqrt(forward[j, i] * backward[i, j]) >= threshold``; ``mean`` where
    ``(forward[j, i] + backward[i, j]) / 2 >= threshold``.
    """
    if method not in SYMMETRIZATIONS:
        raise ValueError(f"method must be one of {SYMMETRIZATIONS}, not {method!r}")
    forward = np.asarray(forward, dtype=np.float64)
    backward = np.asarray(backward, dtype=np.float64)
    _check_shapes(forward, backward)
    if method in THRESHOLDED:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], not {threshold}")
        source_to_target = forward.T  # (source words x target words), as backward
        if method == "product":
            score = np.sqrt(source_to_target * backward)
        else:
            score = (source_to_target + backward) / 2
        rows, columns = np.nonzero(score >= threshold)
        return sorted((int(i), int(j)) for i, j in zip(rows, columns, strict=True))
    one, other = forward_links(forward), backward_links(backward)
    if method == "intersection":
        return sorted(one & other)
    if method == "union":
        return sorted(one | other)
    return sorted(grow_diag_final_and(one, other))
