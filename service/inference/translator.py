"""Text in, translations with their attention out: tokenizer + ONNX model + search."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.inference.alignment import WordAlignment, aggregate_to_words, pharaoh
from service.inference.artifact import ModelArtifact, load_artifact
from service.inference.runtime import OnnxSeq2Seq, RuntimeOptions
from service.inference.search import Hypothesis, SearchOptions, beam_search
from service.inference.tokenizer import EncodedSource, Tokenizer


class InputTooLong(ValueError):
    """A text has more source tokens than the service accepts."""


@dataclass(frozen=True)
class Alternative:
    text: str
    score: float


@dataclass(frozen=True)
class Candidate:
    """A piece the model weighed at one step, with its log-probability at that step."""

    token: str
    logprob: float


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
    # With SearchOptions.candidates = k: per target token, the k best pieces of its step.
    candidates: list[list[Candidate]] | None = None


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

    def encode_sources(self, texts: list[str]) -> list[EncodedSource]:
        """Tokenize the sources; raises :class:`InputTooLong` past the token limit."""
        encoded = [self.tokenizer.encode_source(text) for text in texts]
        for n, source in enumerate(encoded):
            if len(source.ids) > self.max_source_tokens:
                raise InputTooLong(
                    f"text {n} has {len(source.ids)} source tokens; "
                    f"the limit is {self.max_source_tokens}"
                )
        return encoded

    def translate(self, texts: list[str], options: SearchOptions) -> list[Translation]:
        """Translate a batch of texts together; results in input order."""
        if not texts:
            return []
        encoded = self.encode_sources(texts)
        lengths = np.array([len(s.ids) for s in encoded], dtype=np.int64)
        tokens = np.full(
            (len(texts), int(lengths.max())), self.artifact.special_tokens.pad, dtype=np.int64
        )
        for row, source in enumerate(encoded):
            tokens[row, : len(source.ids)] = source.ids
        batch = self.model.encode(tokens, lengths)
        special = self.artifact.special_tokens
        nbest = beam_search(
            self.model.top_k_step_function(batch),
            batch.init_state,
            lengths.tolist(),
            special.bos,
            special.eos,
            options,
        )
        return [
            self._result(text, source.pieces, hyps)
            for text, source, hyps in zip(texts, encoded, nbest, strict=True)
        ]

    def _result(
        self, text: str, source_pieces: list[str], hypotheses: list[Hypothesis]
    ) -> Translation:
        best = hypotheses[0]
        target_pieces = self.tokenizer.target_pieces(best.tokens)
        words = aggregate_to_words(best.attention, source_pieces, target_pieces)
        return Translation(
            source=text,
            text=self.tokenizer.decode_target(best.tokens),
            score=best.score,
            alternatives=[
                Alternative(self.tokenizer.decode_target(h.tokens), h.score) for h in hypotheses[1:]
            ],
            source_tokens=source_pieces,
            target_tokens=target_pieces,
            attention=best.attention,
            words=words,
            pharaoh=pharaoh(words.attention, words.source, words.target),
            candidates=None if best.candidates is None else self._candidates(best.candidates),
        )

    def _candidates(self, steps: list[list[tuple[int, float]]]) -> list[list[Candidate]]:
        pieces = self.tokenizer.target_pieces
        return [
            [
                Candidate(piece, logprob)
                for piece, (_, logprob) in zip(pieces([i for i, _ in step]), step, strict=True)
            ]
            for step in steps
        ]

    def warm_up(self) -> float:
        """Run one greedy and one beam translation; returns the seconds it took."""
        start = time.perf_counter()
        self.translate(["warm up"], SearchOptions(beam_size=1))
        self.translate(["warm up the model"], SearchOptions(beam_size=2))
        return time.perf_counter() - start
