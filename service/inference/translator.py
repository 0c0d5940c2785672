"""Text in, translations with their attention out: tokenizer + ONNX model + search."""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from service.inference.alignment import (
    DEFAULT_THRESHOLD,
    LINK_RULES,
    WordAlignment,
    aggregate_to_words,
    pharaoh,
)
from service.inference.artifact import ModelArtifact, load_artifact
from service.inference.runtime import EncodedBatch, OnnxSeq2Seq, RuntimeOptions
from service.inference.search import (
    SearchOptions,
    beam_search,
    forced_decode,
)
from service.inference.tokenizer import EncodedSource, Tokenizer

ATTENTION, ALIGNMENT_HEAD = "attention", "alignment_head"


class InputTooLong(ValueError):
    """A text has more source (or given target) tokens than the service accepts."""


@dataclass(frozen=True)
class AlignOptions:
    """Options of a teacher-forced pass over given translations."""

    length_penalty: float = 1.0  # score / length**length_penalty, as in search


@dataclass(frozen=True)
class LinkPolicy:
    """How hard word links are read off the alignment matrices (see ``word_links``)."""

    rule: str = "argmax"
    threshold: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        if self.rule not in LINK_RULES:
            raise ValueError(f"link rule must be one of {LINK_RULES}, not {self.rule!r}")


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

    def relinked(self, policy: LinkPolicy) -> Translation:
        """The same translation with its Pharaoh links read by another rule."""
        words = self.head_words if self.head_words is not None else self.words
        links = pharaoh(words.attention, words.source, words.target, policy.rule, policy.threshold)
        return replace(self, pharaoh=links, link_rule=policy.rule)


class Translator:
    def __init__(
        self,
        artifact: ModelArtifact,
        model: OnnxSeq2Seq,
        tokenizer: Tokenizer,
        max_source_tokens: int = 256,
    ) -> None:
        self.artifact = artifact
        self.model = model
        self.tokenizer = tokenizer
        self.max_source_tokens = max_source_tokens
        self.link_policy = default_link_policy(artifact, model.head is not None)

    @classmethod
    def from_directory(
        cls,
        directory: Path,
        precision: str = "fp32",
        runtime: RuntimeOptions | None = None,
        max_source_tokens: int = 256,
    ) -> Translator:
        artifact = load_artifact(directory, precision)
        tokenizer = Tokenizer(
            artifact.source_tokenizer_path,
            artifact.target_tokenizer_path,
            artifact.special_tokens.eos,
        )
        return cls(
            artifact,
            OnnxSeq2Seq(artifact, runtime or RuntimeOptions()),
            tokenizer,
            max_source_tokens,
        )

    @property
    def provider(self) -> str:
        return self.model.provider

    @property
    def has_alignment_head(self) -> bool:
        return self.model.head is not None

    def _check_length(self, encoded: list[EncodedSource], side: str) -> None:
        for n, item in enumerate(encoded):
            if len(item.ids) > self.max_source_tokens:
                raise InputTooLong(
                    f"{side} {n} has {len(item.ids)} tokens; the limit is {self.max_source_tokens}"
                )

    def encode_sources(self, texts: list[str]) -> list[EncodedSource]:
        """Tokenize the sources; raises :class:`InputTooLong` past the token limit."""
        encoded = [self.tokenizer.encode_source(text) for text in texts]
        self._check_length(encoded, "text")
        return encoded

    def encode_targets(self, texts: list[str]) -> list[EncodedSource]:
        """Tokenize given translations; raises :class:`InputTooLong` past the token limit."""
        encoded = [self.tokenizer.encode_target(text) for text in texts]
        self._check_length(encoded, "target")
        return encoded

    def _encode_batch(self, sources: list[EncodedSource]) -> tuple[EncodedBatch, list[int]]:
        lengths = np.array([len(s.ids) for s in sources], dtype=np.int64)
        tokens = np.full(
            (len(sources), int(lengths.max())), self.artifact.special_tokens.pad, dtype=np.int64
        )
        for row, source in enumerate(sources):
            tokens[row, : len(source.ids)] = source.ids
        return self.model.encode(tokens, lengths), lengths.tolist()

    def run_batch(self, items: list[Any], options: Hashable) -> list[Translation]:
        """One batch of the batcher: texts to translate (with :class:`SearchOptions`) or
        (source, target) pairs to align (with :class:`AlignOptions`)."""
        if isinstance(options, AlignOptions):
            return self.align(items, options)
        if isinstance(options, SearchOptions):
            return self.translate(items, options)
        raise TypeError(f"no batch kind for options {options!r}")

    def translate(self, texts: list[str], options: SearchOptions) -> list[Translation]:
        """Translate a batch of texts together; results in input order."""
        if not texts:
            return []
        encoded = self.encode_sources(texts)
        batch, lengths = self._encode_batch(encoded)
        special = self.artifact.special_tokens
        nbest = beam_search(
            self.model.step_function(batch),
            batch.init_state,
            lengths,
            special.bos,
            special.eos,
            options,
        )
        heads = self._head_matrices(batch, [hyps[0].tokens for hyps in nbest])
        return [
            self._result(
                text,
                source.pieces,
                hyps[0].tokens,
                hyps[0].score,
                hyps[0].attention,
                head,
                [Alternative(self.tokenizer.decode_target(h.tokens), h.score) for h in hyps[1:]],
            )
            for text, source, hyps, head in zip(texts, encoded, nbest, heads, strict=True)
        ]

    def align(self, pairs: list[tuple[str, str]], options: AlignOptions) -> list[Translation]:
        """Run the model teacher-forced over given translations: the attention it pays and
        the log-probability it gives each target piece; results in input order."""
        if not pairs:
            return []
        sources = self.encode_sources([source for source, _ in pairs])
        targets = self.encode_targets([target for _, target in pairs])
        batch, lengths = self._encode_batch(sources)
        paths = forced_decode(
            self.model.step_function(batch),
            batch.init_state,
            lengths,
            [target.ids for target in targets],
            self.artifact.special_tokens.bos,
        )
        heads = self._head_matrices(batch, [target.ids for target in targets])
        results = []
        for (source_text, target_text), source, target, path, head in zip(
            pairs, sources, targets, paths, heads, strict=True
        ):
            log_prob = float(path.token_log_probs.sum())
            length = len(target.ids)
            score = (
                log_prob / length**options.length_penalty if options.length_penalty else log_prob
            )
            result = self._result(
                source_text, source.pieces, target.ids, score, path.attention, head, []
            )
            results.append(replace(result, text=target_text, token_scores=path.token_log_probs))
        return results

    def _head_matrices(
        self, batch: EncodedBatch, targets: list[list[int]]
    ) -> list[np.ndarray | None]:
        if self.model.head is None:
            return [None] * len(targets)
        return list(self.model.align_words(batch, targets, self.artifact.special_tokens.pad))

    def _result(
        self,
        text: str,
        source_pieces: list[str],
        target_ids: list[int],
        score: float,
        attention: np.ndarray,
        head: np.ndarray | None,
        alternatives: list[Alternative],
    ) -> Translation:
        target_pieces = self.tokenizer.target_pieces(target_ids)
        words = aggregate_to_words(attention, source_pieces, target_pieces)
        head_words = (
            aggregate_to_words(head, source_pieces, target_pieces) if head is not None else None
        )
        links_from = head_words if head_words is not None else words
        policy = self.link_policy
        return Translation(
            source=text,
            text=self.tokenizer.decode_target(target_ids),
            score=score,
            alternatives=alternatives,
            source_tokens=source_pieces,
            target_tokens=target_pieces,
            attention=attention,
            words=words,
            pharaoh=pharaoh(
                links_from.attention,
                links_from.source,
                links_from.target,
                policy.rule,
                policy.threshold,
            ),
            head_attention=head,
            head_words=head_words,
            pharaoh_source=ALIGNMENT_HEAD if head_words is not None else ATTENTION,
            link_rule=policy.rule,
        )

    def warm_up(self) -> float:
        """Run one greedy and one beam translation and one alignment; returns the seconds
        it took."""
        start = time.perf_counter()
        self.translate(["warm up"], SearchOptions(beam_size=1))
        self.translate(["warm up the model"], SearchOptions(beam_size=2))
        self.align([("warm up", "warm up")], AlignOptions())
        return time.perf_counter() - start


def default_link_policy(artifact: ModelArtifact, has_head: bool) -> LinkPolicy:
    """The link rule chosen on the dev set when the model was evaluated
    (``model_config.json``: ``links``), else argmax per target word."""
    chosen = artifact.config.get("links", {})
    entry = chosen.get(ALIGNMENT_HEAD if has_head else ATTENTION, {})
    return LinkPolicy(
        str(entry.get("rule", "argmax")), float(entry.get("threshold", DEFAULT_THRESHOLD))
    )
