"""Text in, translations with their attention out: tokenizer + ONNX model + search."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from service.inference.alignment import aggregate_to_words, pharaoh
from service.inference.artifact import ModelArtifact, load_artifact
from service.inference.pool import EncoderPool
from service.inference.runtime import EncodedBatch, OnnxSeq2Seq, RuntimeOptions
from service.inference.search import ForcedDecoding, SearchOptions, new_decoding
from service.inference.step import Decoding, Hypothesis, step_decodings
from service.inference.tokenizer import EncodedSource, Tokenizer
from service.inference.translation import (
    ALIGNMENT_HEAD,
    ATTENTION,
    Alternative,
    Candidate,
    Translation,
    default_link_policy,
)


class InputTooLong(ValueError):
    """A text has more source (or given target) tokens than the service accepts."""


class InvalidPrefix(ValueError):
    """A target prefix the search cannot start from: characters the target vocabulary
    lacks, or more pieces than its sentence's length limit leaves room for."""


@dataclass(frozen=True)
class AlignOptions:
    """Options of a teacher-forced pass over given translations."""

    length_penalty: float = 1.0  # score / length**length_penalty, as in search


@dataclass(frozen=True)
class DecodeRequest:
    """Items decoded with one set of options: texts to translate (:class:`SearchOptions`)
    or (source, target) pairs to align, teacher-forced (:class:`AlignOptions`).

    ``prefixes``: for texts to translate, the start each translation must have (one per
    item, None for a free one).
    """

    items: list[Any]
    options: SearchOptions | AlignOptions
    prefixes: list[str | None] | None = None

    @property
    def rows(self) -> int:
        """Decoder rows per step while all its items decode."""
        beam = self.options.beam_size if isinstance(self.options, SearchOptions) else 1
        return len(self.items) * beam


@dataclass
class Work:
    """A request being decoded: its sources, given targets (align) and one decoding each
    for the sources encoded so far (all of them, unless it was begun in parts)."""

    request: DecodeRequest
    sources: list[EncodedSource]
    targets: list[EncodedSource] | None
    decodings: list[Decoding]
    prefixes: list[list[int]] = field(default_factory=list)  # forced target pieces per source

    @property
    def pending(self) -> int:
        """Sources not encoded yet: :meth:`Translator.begin_more` starts them."""
        return len(self.sources) - len(self.decodings)


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
        self.pool = EncoderPool(model)  # encoder outputs of the sentences being decoded

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

    def _check_length(
        self, encoded: list[EncodedSource], side: str, labels: list[str] | None
    ) -> None:
        for n, item in enumerate(encoded):
            if len(item.ids) > self.max_source_tokens:
                name = labels[n] if labels is not None else f"{side} {n}"
                raise InputTooLong(
                    f"{name} has {len(item.ids)} tokens; the limit is {self.max_source_tokens}"
                )

    def encode_sources(
        self, texts: list[str], labels: list[str] | None = None
    ) -> list[EncodedSource]:
        """Tokenize the sources; raises :class:`InputTooLong` past the token limit, naming
        the text by its label (default ``text N``)."""
        encoded = [self.tokenizer.encode_source(text) for text in texts]
        self._check_length(encoded, "text", labels)
        return encoded

    def encode_targets(
        self, texts: list[str], labels: list[str] | None = None
    ) -> list[EncodedSource]:
        """Tokenize given translations; raises :class:`InputTooLong` past the token limit."""
        encoded = [self.tokenizer.encode_target(text) for text in texts]
        self._check_length(encoded, "target", labels)
        return encoded

    def encode_prefixes(
        self,
        prefixes: list[str | None],
        sources: list[EncodedSource],
        options: SearchOptions,
        labels: list[str] | None = None,
    ) -> list[list[int]]:
        """Tokenize the target prefixes of these sources (no EOS; none for None). Raises
        :class:`InvalidPrefix` for a prefix with characters the target vocabulary lacks, or
        one that leaves no room for EOS within its sentence's length limit."""
        encoded = []
        for n, (prefix, source) in enumerate(zip(prefixes, sources, strict=True)):
            ids = self.tokenizer.encode_prefix(prefix) if prefix is not None else []
            name = labels[n] if labels is not None else f"target prefix {n}"
            if self.tokenizer.unknown_target_pieces(ids):
                raise InvalidPrefix(
                    f"{name} has characters the target vocabulary lacks: {prefix!r}"
                )
            limit = options.max_length(len(source.ids))
            if len(ids) >= limit:
                raise InvalidPrefix(
                    f"{name} has {len(ids)} pieces; a translation of its sentence may have "
                    f"at most {limit - 1} before its end"
                )
            encoded.append(ids)
        return encoded

    def translate(
        self,
        texts: list[str],
        options: SearchOptions,
        prefixes: list[str | None] | None = None,
    ) -> list[Translation]:
        """Translate a batch of texts together, each starting with its prefix if given;
        results in input order."""
        return self.run_to_end(DecodeRequest(texts, options, prefixes)) if texts else []

    def align(self, pairs: list[tuple[str, str]], options: AlignOptions) -> list[Translation]:
        """Run the model teacher-forced over given translations: the attention it pays and
        the log-probability it gives each target piece; results in input order."""
        return self.run_to_end(DecodeRequest(pairs, options)) if pairs else []

    def run_to_end(self, request: DecodeRequest) -> list[Translation]:
        """Decode one request alone, step after step until all its items are done."""
        [work] = self.begin([request])
        try:
            live = list(work.decodings)
            while live:
                self.step(live)
                live = [d for d in live if not d.done]
            return self.finish(work)
        finally:
            self.release(work)

    def begin(self, requests: list[DecodeRequest], limit: int | None = None) -> list[Work]:
        """Tokenize all ``requests`` and start decoding them, their sources encoded in one
        encoder run: all of them, or with ``limit`` the first ``limit`` in request order
        (the rest wait for :meth:`begin_more`). Raises :class:`InputTooLong` past the
        token limit, :class:`InvalidPrefix` for a target prefix the search cannot start
        from, before anything is encoded."""
        works = []
        for request in requests:
            if isinstance(request.options, AlignOptions):
                sources = self.encode_sources([source for source, _ in request.items])
                targets: list[EncodedSource] | None = self.encode_targets(
                    [target for _, target in request.items]
                )
            else:
                sources, targets = self.encode_sources(request.items), None
            given = request.prefixes or [None] * len(sources)
            prefixes = (
                self.encode_prefixes(given, sources, request.options)
                if isinstance(request.options, SearchOptions)
                else [[] for _ in sources]
            )
            works.append(Work(request, sources, targets, [], prefixes))
        self.begin_more(works, limit)
        return works

    def begin_more(self, works: list[Work], limit: int | None = None) -> None:
        """Encode the pending sources of ``works`` (at most ``limit`` of them, in order) in
        one encoder run and start their decodings."""
        todo = [(work, n) for work in works for n in range(len(work.decodings), len(work.sources))]
        todo = todo[:limit]
        if not todo:
            return
        every = [work.sources[n] for work, n in todo]
        lengths = np.array([len(s.ids) for s in every], dtype=np.int64)
        special = self.artifact.special_tokens
        tokens = np.full((len(every), int(lengths.max())), special.pad, dtype=np.int64)
        for row, source in enumerate(every):
            tokens[row, : len(source.ids)] = source.ids
        batch = self.model.encode(tokens, lengths)
        started = zip(todo, self.pool.add(batch, lengths), batch.init_state, strict=True)
        for (work, n), sentence, init_state in started:
            source, options = work.sources[n], work.request.options
            if isinstance(options, AlignOptions):
                assert work.targets is not None
                work.decodings.append(
                    ForcedDecoding(
                        sentence,
                        init_state,
                        len(source.ids),
                        work.targets[n].ids,
                        special.bos,
                        options.length_penalty,
                    )
                )
                continue
            work.decodings.append(
                new_decoding(
                    sentence,
                    init_state,
                    len(source.ids),
                    special.bos,
                    special.eos,
                    options,
                    work.prefixes[n],
                )
            )
            if self.model.shortlist is not None:
                self.pool.set_candidates(sentence, self.model.shortlist.candidates(source.ids))

    def step(self, decodings: list[Decoding]) -> None:
        """One decoder step for any mix of decodings begun by this translator."""
        step_decodings(self.pool.step, self.pool.arrange(decodings))

    def finish(self, work: Work) -> list[Translation]:
        """The results of a work whose decodings are all done (before :meth:`release`)."""
        return self.finish_many([work])[0]

    def finish_many(self, works: list[Work]) -> list[list[Translation]]:
        """The results of works finished in the same step: their alignment head runs once
        for all of them, not once per request."""
        return self.prepare_results(works)()

    def prepare_results(self, works: list[Work]) -> Callable[[], list[list[Translation]]]:
        """Take from the pool what the results of finished ``works`` need (their best
        hypotheses and a copy of their encoder outputs), so that the works may be released
        at once; the returned function runs the alignment head and builds the results, and
        may run on another thread than the decoding one."""
        bests = [[decoding.result() for decoding in work.decodings] for work in works]
        rows = [d.source_row for work in works for d in work.decodings]
        batch = self.pool.batch(rows) if self.model.head is not None else None

        def results() -> list[list[Translation]]:
            heads = self._head_matrices(batch, [hyps[0].tokens for best in bests for hyps in best])
            answers, start = [], 0
            for work, best in zip(works, bests, strict=True):
                answers.append(self._results(work, best, heads[start : start + len(best)]))
                start += len(best)
            return answers

        return results

    def _results(
        self, work: Work, best: list[list[Hypothesis]], heads: list[np.ndarray | None]
    ) -> list[Translation]:
        results = []
        for item, source, hyps, head in zip(
            work.request.items, work.sources, best, heads, strict=True
        ):
            if isinstance(work.request.options, AlignOptions):
                source_text, target_text = item
                [path] = hyps
                result = self._result(
                    source_text, source.pieces, path.tokens, path.score, path.attention, head, []
                )
                scores = np.array(path.token_log_probs)
                results.append(replace(result, text=target_text, token_scores=scores))
                continue
            result = self._result(
                item,
                source.pieces,
                hyps[0].tokens,
                hyps[0].score,
                hyps[0].attention,
                head,
                [Alternative(self.tokenizer.decode_target(h.tokens), h.score) for h in hyps[1:]],
            )
            results.append(replace(result, candidates=self._candidates(hyps[0])))
        return results

    def release(self, work: Work) -> None:
        """Forget the encoder outputs of a work (done, failed or cancelled)."""
        self.pool.remove([d.source_row for d in work.decodings])

    def _candidates(self, hypothesis: Hypothesis) -> list[list[Candidate]] | None:
        if hypothesis.candidates is None:
            return None
        pieces = self.tokenizer.target_pieces
        return [
            [
                Candidate(piece, logprob)
                for piece, (_, logprob) in zip(pieces([i for i, _ in step]), step, strict=True)
            ]
            for step in hypothesis.candidates
        ]

    def _head_matrices(
        self, batch: EncodedBatch | None, targets: list[list[int]]
    ) -> list[np.ndarray | None]:
        if batch is None or self.model.head is None:
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
