"""What the running service holds: settings, translator, decoding scheduler, store and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from service.api.metrics import Metrics
from service.config import Settings
from service.inference.runtime import RuntimeOptions
from service.inference.scheduler import SchedulerOptions, StepScheduler
from service.inference.search import SearchOptions
from service.inference.translator import DecodeRequest, Translation, Translator, Work
from service.storage import AlignmentStore, open_store

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    translator: Translator | None = None
    scheduler: StepScheduler[DecodeRequest, Work, Translation] | None = None
    store: AlignmentStore | None = None
    ready: bool = False
    status_message: str = "the model is loading"

    async def start(self) -> None:
        """Load and warm up the model, open the store, start the decoding scheduler."""
        settings = self.settings
        start = time.perf_counter()
        try:
            self.store = open_store(
                settings.store_path,
                settings.redis_url,
                settings.store_ttl_seconds,
                settings.store_max_entries,
            )
            translator = await asyncio.to_thread(
                Translator.from_directory,
                settings.model_dir,
                settings.precision,
                RuntimeOptions(device=settings.device, intra_op_threads=settings.intra_op_threads),
                settings.max_source_tokens,
            )
            warm = await asyncio.to_thread(translator.warm_up)
        except Exception as error:
            self.status_message = f"the model failed to load: {error}"
            log.exception("start-up failed")
            raise
        self.translator = translator
        self.scheduler = StepScheduler(
            translator,
            SchedulerOptions(
                max_rows=settings.max_batch_rows,
                max_admit_texts=settings.max_batch_size,
                max_wait_ms=settings.max_wait_ms,
                max_queue=settings.max_queue,
                light_rows=settings.light_rows,
                heavy_share=settings.heavy_share,
            ),
            on_admit=self.metrics.observe_batch,
            on_step=self.metrics.observe_step,
        )
        self.scheduler.start()
        self.metrics.queue_depth.set_function(
            lambda: self.scheduler.queue_depth if self.scheduler else 0
        )
        self.metrics.running_rows.set_function(
            lambda: self.scheduler.running_rows if self.scheduler else 0
        )
        self.ready = True
        self.status_message = "ready"
        log.info(
            "model %s loaded on %s in %.2f s (warm-up %.2f s); store: %s",
            settings.model_dir,
            translator.provider,
            time.perf_counter() - start,
            warm,
            self.store.kind,
        )

    async def stop(self) -> None:
        """Refuse new work, let queued translations finish, close the store."""
        self.ready = False
        self.status_message = "shutting down"
        if self.scheduler is not None:
            await self.scheduler.close()
        if self.store is not None:
            self.store.close()

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
