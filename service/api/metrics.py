"""Prometheus metrics, one registry per application."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
            "Texts admitted to the running decoder batch together (one encoder run)",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "nmt_batch_duration_seconds",
            "Encoder time per admission",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "nmt_queue_depth_texts", "Texts queued or being decoded", registry=self.registry
        )
        self.step_rows = Histogram(
            "nmt_step_rows",
            "Decoder rows per step",
            buckets=(*BATCH_BUCKETS, 512, 1024),
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "nmt_step_duration_seconds",
            "Time per decoder step",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.running_rows = Gauge(
            "nmt_running_rows", "Decoder rows in the running batch", registry=self.registry
        )
        self.source_tokens = Counter(
            "nmt_source_tokens_total", "Source tokens encoded", registry=self.registry
        )
        self.target_tokens = Counter(
            "nmt_target_tokens_total", "Target tokens decoded", registry=self.registry
        )
        self.store_failures = Counter(
            "nmt_store_failures_total",
            "Alignment documents that could not be stored",
            registry=self.registry,
        )

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def observe_step(self, rows: int, seconds: float) -> None:
        self.step_rows.observe(rows)
        self.step_seconds.observe(seconds)
