"""Word links by agreement of both translation directions (Liang et al., 2006).

The source-to-target model's word matrix gives, for each target word, a distribution over
the source words; the target-to-source model run teacher-forced over the same pair, reversed,
gives one for each source word over the target words. The links both directions support,
symmetrized (:mod:`service.inference.symmetrize`), are surer than either alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from service.inference.alignment import WordAlignment, format_pharaoh
from service.inference.symmetrize import DEFAULT_THRESHOLD, SYMMETRIZATIONS, symmetrize, without_eos
from service.inference.translation import Translation
from service.text.words import map_words, pool_words

AGREEMENT = "agreement"


@dataclass(frozen=True)
class AgreementPolicy:
    """The symmetrization of the two directions' links, chosen on dev (see ``evaluate``)."""

    method: str = "grow-diag-final-and"
    threshold: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        if self.method not in SYMMETRIZATIONS:
            raise ValueError(f"method must be one of {SYMMETRIZATIONS}, not {self.method!r}")


def on_words_of(backward: WordAlignment, forward: WordAlignment) -> WordAlignment:
    """The reverse model's word matrix over the forward model's words. Both read the same
    two texts, but their tokenizers may make different words of them (a lone word boundary
    piece, a normalized character): each reverse word is pooled onto the forward word that
    holds it."""
    if (backward.target, backward.source) == (forward.source, forward.target):
        return backward
    rows = map_words(backward.target[:-1], forward.source[:-1])
    columns = map_words(backward.source[:-1], forward.target[:-1])
    matrix = pool_words(
        backward.attention, columns, rows, len(forward.target) - 1, len(forward.source) - 1
    )
    return WordAlignment(forward.target, forward.source, matrix)


def agreed(forward: Translation, backward: Translation, policy: AgreementPolicy) -> Translation:
    """``forward`` with its links read from both directions: ``backward`` is the other
    model's teacher-forced pass over the pair reversed."""
    forward_words = forward.head_words or forward.words
    backward_words = backward.head_words or backward.words
    links = symmetrize(
        without_eos(forward_words),
        without_eos(on_words_of(backward_words, forward_words)),
        policy.method,
        policy.threshold,
    )
    return replace(
        forward, pharaoh=format_pharaoh(links), pharaoh_source=AGREEMENT, link_rule=policy.method
    )
