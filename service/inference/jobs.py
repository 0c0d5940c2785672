"""What the step scheduler needs of a model, and what it keeps of each request.

A model (the :class:`~service.inference.translator.Translator` is one) begins requests
as works, steps their decodings and builds their results; a :class:`Job` carries one
request through the decoding thread to its caller's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from service.inference.step import Decoding

log = logging.getLogger(__name__)

Result = TypeVar("Result")
Request = TypeVar("Request", bound="RowCounted")
W = TypeVar("W", bound="HasDecodings")


class RowCounted(Protocol):
    @property
    def items(self) -> list[Any]: ...

    @property
    def rows(self) -> int: ...


class HasDecodings(Protocol):
    @property
    def decodings(self) -> list[Decoding]: ...

    @property
    def pending(self) -> int:
        """Items not begun yet (a work begun in parts)."""
        ...


class DecodingModel(Protocol[Request, W, Result]):
    """What the scheduler needs of a model (the :class:`Translator` is one)."""

    def begin(self, requests: list[Request], limit: int | None = None) -> list[W]:
        """Start ``requests``: all their items, or the first ``limit`` in all."""
        ...

    def begin_more(self, works: list[W], limit: int | None = None) -> None:
        """Start the next pending items of ``works``, at most ``limit``."""
        ...

    def step(self, decodings: list[Decoding]) -> None: ...

    def prepare_results(self, works: list[W]) -> Callable[[], list[list[Result]]]:
        """Called on the decoding thread before the works are released; the function it
        returns builds their results and may run on another thread."""
        ...

    def release(self, work: W) -> None: ...


@dataclass
class Job(Generic[Request, W, Result]):
    request: Request
    future: asyncio.Future[list[Result]]
    loop: asyncio.AbstractEventLoop
    enqueued: float = field(default_factory=time.perf_counter)
    enqueued_step: int = 0  # scheduler steps taken before it arrived
    done_step: int | None = None  # steps taken when its last sentence finished
    work: W | None = None

    @property
    def cancelled(self) -> bool:
        return self.future.cancelled()

    def answer(self, result: list[Result] | BaseException) -> None:
        def deliver() -> None:
            if self.future.done():
                return
            if isinstance(result, BaseException):
                self.future.set_exception(result)
            else:
                self.future.set_result(result)

        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self.loop.call_soon_threadsafe(deliver)


def deliver(jobs: list[Job[Request, W, Result]], build: Callable[[], list[list[Result]]]) -> None:
    answers: list[list[Result] | BaseException]
    try:
        answers = list(build())
    except Exception as error:
        log.exception("building results failed")
        answers = [error for _ in jobs]
    for job, answer in zip(jobs, answers, strict=True):
        job.answer(answer)


def decodings_of(job: Job[Request, W, Result]) -> Sequence[Decoding]:
    return job.work.decodings if job.work is not None else ()


def live_decodings(jobs: list[Job[Request, W, Result]]) -> list[Decoding]:
    return [d for job in jobs for d in decodings_of(job) if not d.done]


def begun_texts(jobs: list[Job[Request, W, Result]]) -> int:
    """Texts of ``jobs`` whose decodings have begun."""
    return sum(len(decodings_of(job)) for job in jobs)


def all_done(job: Job[Request, W, Result]) -> bool:
    return (job.work is None or not job.work.pending) and all(d.done for d in decodings_of(job))
