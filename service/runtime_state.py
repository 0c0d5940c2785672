"""What the running service holds: settings, translator, decoding scheduler, store and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from service.config import Settings
from service.inference.runtime import RuntimeOptions
from service.inference.scheduler import SchedulerOptions, StepScheduler
from service.inference.search import SearchOptions
from service.inference.translator import Translator
from service.metrics import Metrics
from service.rate_limits import Limit, LocalCounters, RateLimiter, RedisCounters
from service.registry import ModelRegistry, ServedModel
from service.storage import DocumentWriter, WriterOptions, open_store
from service.text.language import LanguageIdentifier

log = logging.getLogger(__name__)
_WRITER_DRAIN_SECONDS = 5.0  # at shutdown, time left to write the buffered documents
_DRAIN_POLL_SECONDS = 0.02
_DRAIN_ANSWER_SECONDS = 1.0  # after the grace period, for the 503s to be written


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    models: ModelRegistry = field(default_factory=lambda: ModelRegistry([]))
    writer: DocumentWriter | None = None
    limiter: RateLimiter | None = None
    ready: bool = False
    status_message: str = "the model is loading"
    draining: bool = False  # SIGTERM received: new requests are refused
    drain_deadline: asyncio.Event = field(default_factory=asyncio.Event)  # grace is over
    in_flight: int = 0  # requests being served (kept by the drain middleware)
    _identifier: LanguageIdentifier | None = None
    _identifier_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def start(self) -> None:
        """Load and warm up every model, open the store, start a decoding scheduler per
        model."""
        settings = self.settings
        start = time.perf_counter()
        try:
            store = open_store(
                settings.store_path,
                settings.redis_url,
                settings.store_ttl_seconds,
                settings.store_max_entries,
                settings.store_timeout_seconds,
            )
            translators = [
                await asyncio.to_thread(self._load, directory)
                for directory in settings.artifact_dirs
            ]
            warm = sum([await asyncio.to_thread(t.warm_up) for t in translators])
            self.models = ModelRegistry([self._serve(t) for t in translators])
        except Exception as error:
            self.status_message = f"the model failed to load: {error}"
            log.exception("start-up failed")
            raise
        for model in self.models:
            model.scheduler.start()
        self.metrics.watch_models(self.models)
        self.writer = DocumentWriter(
            store,
            WriterOptions(
                capacity=settings.store_buffer_documents,
                wait_seconds=settings.store_wait_ms / 1000,
                write_timeout_seconds=4 * settings.store_timeout_seconds,
                read_timeout_seconds=2 * settings.store_timeout_seconds,
            ),
        )
        self.writer.start()
        self.metrics.watch_writer(self.writer)
        self.limiter = self._rate_limiter()
        self.ready = True
        self.status_message = "ready"
        log.info(
            "models %s loaded on %s in %.2f s (warm-up %.2f s); store: %s",
            ", ".join(model.key for model in self.models),
            translators[0].provider,
            time.perf_counter() - start,
            warm,
            store.kind,
        )

    def _load(self, directory: Path) -> Translator:
        settings = self.settings
        return Translator.from_directory(
            directory,
            settings.precision,
            RuntimeOptions(
                device=settings.device,
                intra_op_threads=settings.intra_op_threads,
                shared_threads=settings.shared_threads,
                shortlist=settings.shortlist,
            ),
            settings.max_source_tokens,
        )

    def _serve(self, translator: Translator) -> ServedModel:
        """A translator with a step scheduler of its own, observed under its pair."""
        settings = self.settings
        key = f"{translator.artifact.source_lang}-{translator.artifact.target_lang}"
        scheduler = StepScheduler(
            translator,
            SchedulerOptions(
                max_rows=settings.max_batch_rows,
                max_admit_texts=settings.max_batch_size,
                max_wait_ms=settings.max_wait_ms,
                max_queue=settings.max_queue,
                light_rows=settings.light_rows,
                heavy_share=settings.heavy_share,
                heavy_step_rows=settings.heavy_step_rows,
                heavy_admit_texts=settings.heavy_admit_texts,
                group_texts=settings.group_texts,
                group_steps=settings.group_steps,
            ),
            on_admit=self.metrics.batch_observer(key),
            on_step=self.metrics.step_observer(key),
        )
        return ServedModel(translator, scheduler)

    async def identifier(self) -> LanguageIdentifier:
        """The language identifier over every served language, loaded on first use (its
        models take about a second and 70 MB)."""
        async with self._identifier_lock:
            if self._identifier is None:
                self._identifier = await asyncio.to_thread(
                    LanguageIdentifier, self.models.languages
                )
            return self._identifier

    def _rate_limiter(self) -> RateLimiter | None:
        settings = self.settings
        limiter = RateLimiter(
            Limit(settings.rate_limit_requests_per_minute, settings.rate_limit_texts_per_minute),
            {key: Limit(*limits) for key, limits in settings.rate_limit_keys.items()},
            RedisCounters(settings.redis_url, settings.store_timeout_seconds)
            if settings.redis_url
            else LocalCounters(),
        )
        return limiter if limiter.enabled else None

    async def drain(self, grace_seconds: float) -> None:
        """Turn readiness off and refuse new requests now; wait up to ``grace_seconds``
        for those in flight, then have the rest answered 503 and wait for that."""
        self.draining = True
        self.ready = False
        self.status_message = "shutting down"
        log.info("draining: %d requests in flight, grace %.1f s", self.in_flight, grace_seconds)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(_DRAIN_POLL_SECONDS)
        if self.in_flight:
            log.warning("grace period over: %d requests get 503", self.in_flight)
        self.drain_deadline.set()
        deadline = loop.time() + _DRAIN_ANSWER_SECONDS
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(_DRAIN_POLL_SECONDS)

    async def stop(self) -> None:
        """Refuse new work, let queued translations finish, write what is buffered."""
        self.ready = False
        self.status_message = "shutting down"
        for model in self.models:
            await model.scheduler.close()
        if self.writer is not None:
            await self.writer.close(timeout=_WRITER_DRAIN_SECONDS)
        if self.limiter is not None:
            await self.limiter.counters.close()

    def search_options(
        self, beam_size: int | None, n_best: int, candidates: int = 0
    ) -> SearchOptions:
        return SearchOptions(
            beam_size=beam_size or self.settings.default_beam_size,
            n_best=n_best,
            candidates=candidates,
            length_penalty=self.settings.length_penalty,
            max_length_ratio=self.settings.max_length_ratio,
        )
