"""Text in, translations with their attention out: tokenizer + ONNX model + search."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.inference.alignment import WordAlignment, aggregate_to_words, pharaoh
from service.inference.artifact import ModelArtifact, load_artifact
from service.inference.pool import EncoderPool
from service.inference.runtime import OnnxSeq2Seq, RuntimeOptions
from service.inference.search import (
    Decoding,
    ForcedDecoding,
    Hypothesis,
    SearchOptions,
    new_decoding,
    step_decodings,
)
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
    # Forced decoding: the log-probability of each target token.
    token_scores: list[float] | None = None


@dataclass(frozen=True)
class DecodeRequest:
    """Texts to decode together with one set of options; with ``targets``, the decoder is
    forced along those known translations instead of searching."""

    texts: list[str]
    options: SearchOptions
    targets: list[str] | None = None

    @property
    def rows(self) -> int:
        """Decoder rows per step while all its texts decode."""
        return len(self.texts) * (1 if self.targets is not None else self.options.beam_size)


@dataclass
class Work:
    """A request being decoded: its sources and one decoding per text."""

    request: DecodeRequest
    sources: list[EncodedSource]
    decodings: list[Decoding]


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
        self.pool = EncoderPool(model)

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
        [work] = self.begin([DecodeRequest(texts, options)])
        return self.run_to_end(work)

    def align(self, sources: list[str], targets: list[str]) -> list[Translation]:
        """Teacher-forced decoding of known translations: their attention and the
        log-probability of each target piece (``token_scores``)."""
        if not sources:
            return []
        [work] = self.begin([DecodeRequest(sources, SearchOptions(beam_size=1), targets)])
        return self.run_to_end(work)

    def run_to_end(self, work: Work) -> list[Translation]:
        try:
            live = list(work.decodings)
            while live:
                self.step(live)
                live = [d for d in live if not d.done]
            return self.finish(work)
        finally:
            self.release(work)

    def begin(self, requests: list[DecodeRequest]) -> list[Work]:
        """Encode the texts of all ``requests`` in one encoder run and start their decoding."""
        encoded = [self.encode_sources(request.texts) for request in requests]
        sources = [source for batch in encoded for source in batch]
        lengths = np.array([len(s.ids) for s in sources], dtype=np.int64)
        special = self.artifact.special_tokens
        tokens = np.full((len(sources), int(lengths.max())), special.pad, dtype=np.int64)
        for row, source in enumerate(sources):
            tokens[row, : len(source.ids)] = source.ids
        batch = self.model.encode(tokens, lengths)
        ids = self.pool.add(batch, lengths)
        works, row = [], 0
        for request, request_sources in zip(requests, encoded, strict=True):
            decodings: list[Decoding] = []
            targets = None if request.targets is None else self.encode_targets(request.targets)
            for n, source in enumerate(request_sources):
                if targets is None:
                    decodings.append(
                        new_decoding(
                            ids[row],
                            batch.init_state[row],
                            len(source.ids),
                            special.bos,
                            special.eos,
                            request.options,
                        )
                    )
                else:
                    decodings.append(
                        ForcedDecoding(
                            ids[row],
                            batch.init_state[row],
                            len(source.ids),
                            targets[n],
                            special.bos,
                            request.options.length_penalty,
                        )
                    )
                row += 1
            works.append(Work(request, request_sources, decodings))
        return works

    def encode_targets(self, texts: list[str]) -> list[list[int]]:
        """Target ids of known translations, each ending with EOS."""
        eos = self.artifact.special_tokens.eos
        return [[*self.tokenizer.target.encode(text), eos] for text in texts]

    def step(self, decodings: list[Decoding]) -> None:
        """One decoder step for any mix of decodings begun by this translator."""
        step_decodings(self.pool.step, decodings)

    def finish(self, work: Work) -> list[Translation]:
        """The translations of a work whose decodings are all done."""
        return [
            self._result(text, source.pieces, decoding.result())
            for text, source, decoding in zip(
                work.request.texts, work.sources, work.decodings, strict=True
            )
        ]

    def release(self, work: Work) -> None:
        """Forget the encoder outputs of a work (done, failed or cancelled)."""
        self.pool.remove([d.source_row for d in work.decodings])

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
            token_scores=best.token_log_probs,
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
