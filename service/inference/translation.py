"""What a translation is: the text, its score and alternatives, its pieces, the attention
and alignment-head matrices that produced it, and the word links read off them."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from service.inference.alignment import DEFAULT_THRESHOLD, LINK_RULES, WordAlignment, pharaoh
from service.inference.artifact import ModelArtifact

ATTENTION, ALIGNMENT_HEAD = "attention", "alignment_head"


@dataclass(frozen=True)
class LinkPolicy:
    """How hard word links are read off the alignment matrices (see ``word_links``)."""

    rule: str = "argmax"
    threshold: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        if self.rule not in LINK_RULES:
            raise ValueError(f"link rule must be one of {LINK_RULES}, not {self.rule!r}")


@dataclass(frozen=True)
class Candidate:
    """A piece the model weighed at one step, with its log-probability at that step."""

    token: str
    logprob: float


@dataclass(frozen=True)
class Alternative:
    text: str
    score: float


@dataclass(frozen=True)
class Translation:
    source: str
    text: str
    score: float  # length-normalized log-probability
    alternatives: list[Alternative]
    source_tokens: list[str]  # subword pieces, ending with "</s>"
    target_tokens: list[str]
    attention: np.ndarray  # (len(target_tokens), len(source_tokens)), rows sum to 1
    words: WordAlignment
    pharaoh: str
    # The alignment head's probabilities, when the model has one: pieces and words.
    head_attention: np.ndarray | None = None
    head_words: WordAlignment | None = None
    pharaoh_source: str = ATTENTION  # the matrix the Pharaoh links come from
    link_rule: str = "argmax"
    token_scores: np.ndarray | None = None  # log p of each target piece (aligned pairs)
    # With SearchOptions.candidates = k: per target piece, the k best pieces of its step.
    candidates: list[list[Candidate]] | None = None

    def relinked(self, policy: LinkPolicy) -> Translation:
        """The same translation with its Pharaoh links read by another rule."""
        words = self.head_words if self.head_words is not None else self.words
        links = pharaoh(words.attention, words.source, words.target, policy.rule, policy.threshold)
        return replace(self, pharaoh=links, link_rule=policy.rule)


def default_link_policy(artifact: ModelArtifact, has_head: bool) -> LinkPolicy:
    """The link rule chosen on the dev set when the model was evaluated
    (``model_config.json``: ``links``), else argmax per target word."""
    chosen = artifact.config.get("links", {})
    entry = chosen.get(ALIGNMENT_HEAD if has_head else ATTENTION, {})
    return LinkPolicy(
        str(entry.get("rule", "argmax")), float(entry.get("threshold", DEFAULT_THRESHOLD))
    )
