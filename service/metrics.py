"""Prometheus metrics, one registry per application; decoding metrics carry the model's
language pair as the ``model`` label."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.registry import ServedModel
from service.storage import BreakerState, DocumentWriter

BREAKER_VALUES = {BreakerState.closed: 0, BreakerState.half_open: 1, BreakerState.open: 2}

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nmt_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nmt_http_request_duration_seconds",
            "HTTP request latency by route and status",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "nmt_batch_size_texts",
            "Texts per decoding batch",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "nmt_batch_duration_seconds",
            "Decoding time per batch",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.step_rows = Histogram(
            "nmt_step_rows",
            "Decoder rows per step",
            ["model"],
            buckets=(*BATCH_BUCKETS, 512, 1024),
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "nmt_step_duration_seconds",
            "Time per decoder step",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.source_tokens = Counter(
            "nmt_source_tokens_total", "Source tokens encoded", ["model"], registry=self.registry
        )
        self.source_characters = Counter(
            "nmt_source_characters_total",
            "Characters of the source texts translated",
            ["model"],
            registry=self.registry,
        )
        self.target_tokens = Counter(
            "nmt_target_tokens_total", "Target tokens decoded", ["model"], registry=self.registry
        )
        self.cancelled = Counter(
            "nmt_cancelled_requests_total",
            "Requests whose client left before the answer; their texts left the queue",
            registry=self.registry,
        )

        self.rate_limited = Counter(
            "nmt_rate_limited_total",
            "Requests refused with 429, by the limit they passed (requests or texts)",
            ["limit"],
            registry=self.registry,
        )

    def watch_writer(self, writer: DocumentWriter) -> None:
        self.registry.register(_WriterCollector(writer))

    def characters_translated(self) -> int:
        """Source characters translated since start, every model together."""
        return int(
            sum(
                sample.value
                for family in self.source_characters.collect()
                for sample in family.samples
                if sample.name.endswith("_total")
            )
        )

    def watch_models(self, models: Iterable[ServedModel]) -> None:
        self.registry.register(_SchedulerCollector(list(models)))

    def step_observer(self, model: str) -> Callable[[int, float], None]:
        rows, seconds = self.step_rows.labels(model), self.step_seconds.labels(model)

        def observe(n: int, elapsed: float) -> None:
            rows.observe(n)
            seconds.observe(elapsed)

        return observe

    def batch_observer(self, model: str) -> Callable[[int, float], None]:
        size, seconds = self.batch_size.labels(model), self.batch_seconds.labels(model)

        def observe(n: int, elapsed: float) -> None:
            size.observe(n)
            seconds.observe(elapsed)

        return observe


class _SchedulerCollector(Collector):
    """Each model's queue and running batch, read when /metrics is scraped."""

    def __init__(self, models: list[ServedModel]) -> None:
        self.models = models

    def collect(self) -> Iterator[Metric]:
        queued = GaugeMetricFamily(
            "nmt_queue_depth_texts", "Texts queued or being decoded", labels=["model"]
        )
        running = GaugeMetricFamily(
            "nmt_running_rows", "Decoder rows in the running batch", labels=["model"]
        )
        for model in self.models:
            queued.add_metric([model.key], model.scheduler.queue_depth)
            running.add_metric([model.key], model.scheduler.running_rows)
        yield queued
        yield running


class _WriterCollector(Collector):
    """The write-behind buffer and its circuit breaker, read when /metrics is scraped."""

    def __init__(self, writer: DocumentWriter) -> None:
        self.writer = writer

    def collect(self) -> Iterator[Metric]:
        stats = self.writer.stats()
        yield GaugeMetricFamily(
            "nmt_store_pending_documents", "Documents waiting to be written", stats.pending
        )
        yield GaugeMetricFamily(
            "nmt_store_buffer_capacity_documents",
            "Documents the write buffer holds before it drops new ones",
            stats.capacity,
        )
        documents = CounterMetricFamily(
            "nmt_store_documents",
            "Alignment documents by outcome: written, dropped (buffer full), lost at shutdown",
            labels=["outcome"],
        )
        documents.add_metric(["stored"], stats.stored)
        documents.add_metric(["dropped"], stats.dropped)
        documents.add_metric(["lost"], stats.lost)
        yield documents
        yield CounterMetricFamily(
            "nmt_store_write_failures", "Failed write batches", stats.write_failures
        )
        yield GaugeMetricFamily(
            "nmt_store_breaker_state",
            "Store circuit breaker: 0 closed, 1 half-open, 2 open",
            BREAKER_VALUES[stats.breaker],
        )
        yield CounterMetricFamily(
            "nmt_store_breaker_opened",
            "Times the store circuit breaker opened",
            stats.breaker_opened,
        )
