"""A circuit breaker: stop calling a dependency that keeps failing, probe it now and then."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    closed = "closed"  # calls go through
    open = "open"  # calls are refused until ``reset_seconds`` have passed
    half_open = "half_open"  # one probe call decides: success closes, failure opens again


class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failures (errors or timeouts).

    Not thread-safe: it lives on the event loop, the calls it guards run elsewhere.
    """

    def __init__(
        self,
        failure_threshold: int = 3,
        reset_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        if reset_seconds <= 0:
            raise ValueError(f"reset_seconds must be positive, got {reset_seconds}")
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._state = BreakerState.closed
        self._failures = 0
        self._opened_at = 0.0
        self.opened_count = 0  # times it opened, for metrics
        self.last_error: str | None = None

    @property
    def state(self) -> BreakerState:
        """The state now; an open breaker whose wait is over reads half-open."""
        if (
            self._state is BreakerState.open
            and self._clock() - self._opened_at >= self.reset_seconds
        ):
            self._state = BreakerState.half_open
        return self._state

    @property
    def closed(self) -> bool:
        return self.state is BreakerState.closed

    def allows_call(self) -> bool:
        """Whether a call may go through now (closed, or half-open for the probe)."""
        return self.state is not BreakerState.open

    def seconds_until_probe(self) -> float:
        if self.state is not BreakerState.open:
            return 0.0
        return max(0.0, self.reset_seconds - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        self._state = BreakerState.closed
        self._failures = 0
        self.last_error = None

    def record_failure(self, error: str) -> None:
        self.last_error = error
        self._failures += 1
        if self.state is BreakerState.half_open or self._failures >= self.failure_threshold:
            self.trip(error)

    def trip(self, error: str) -> None:
        """Open now, whatever the count (a call that hung is worse than one that failed)."""
        self.last_error = error
        if self._state is not BreakerState.open:
            self.opened_count += 1
        self._state = BreakerState.open
        self._opened_at = self._clock()
