"""Step-level (continuous) batching: requests join the running decoder batch between steps.

One decoding thread owns the running batch. Before every decoder step it drops the work of
cancelled requests, admits waiting requests while their rows fit in ``max_rows`` (their
sources encoded together in one encoder run), and picks the rows of the step; after it,
every request whose sentences are all done is answered at once. Greedy, beam and forced
rows of any request share a step, so a new request never waits for an old batch to finish.

Policy, so that a short request stays fast next to a large one: a request with at most
``light_rows`` decoder rows is *light*, any other is *heavy*. While light work runs, a step
with heavy rows (beside the light ones) is taken only while heavy work has used at most
``heavy_share`` of the time since the light work arrived; otherwise the step runs the light
rows alone. Such a step takes at most ``heavy_step_rows`` heavy rows (the earliest heavy
decodings, the same ones from step to step until they finish): a step over a few hundred
beam rows would take as long as a light request's whole decoding, and nothing can
interrupt a step. Heavy work is also its admission (the encoder over its texts), which
takes as long as several light steps: while light work runs, a heavy request is admitted
only in heavy work's turn, and that time counts as heavy. Nor can an encoder run be
interrupted: a heavy request's texts are encoded ``heavy_admit_texts`` at a time, one such
run between steps in heavy work's turn, its first texts decoding meanwhile. Answers leave
the decoding thread: once a request's sentences are done, its best hypotheses and encoder
outputs are copied out and its rows released, and a builder thread (one for light
requests, one for heavy ones) runs the alignment head and makes the results, so neither
the next step nor a light request's answer waits for a heavy request's results. A light
request therefore advances at every step and waits for heavy work at most
``heavy_share / (1 - heavy_share)`` of its own decoding time (1x at the default 0.5) plus
one short step or encoder run, and heavy work keeps at least ``heavy_share`` of the
machine. Without light work, a step runs the earliest heavy rows up to ``heavy_step_rows``
too, so that a light request that arrives waits for one such step at most, not for one
over every beam row of a large batch: on CPU a step costs as much per row at a few dozen
rows as at hundreds (a GPU step costs about the same up to hundreds of rows: a larger
bound suits it). Admission is first come first served, except that a request that does not
fit, or a heavy one outside its turn or while another's texts are still being encoded, lets
later ones go first.

While only light work runs (steady traffic of short requests), new texts are admitted, and
finished requests answered, in groups of ``group_texts`` or once the first of them has
waited ``group_steps`` steps (as text-generation servers hold prefills back for a few
steps): the encoder and the alignment head cost 1.5 to 2x more per text for one or two
texts than for eight, and under such traffic one or two texts arrive and finish at almost
every step. A request alone, or beside heavy work, is admitted and answered at once.

The queue is bounded: past ``max_queue`` texts waiting or decoding, :meth:`submit` raises
:class:`Overloaded`. A request whose caller went away (its future cancelled) leaves the
queue, and its rows leave the batch before the next step.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic

from service.inference.jobs import (
    DecodingModel,
    Job,
    Request,
    Result,
    W,
    all_done,
    begun_texts,
    deliver,
    live_decodings,
)
from service.inference.step import Decoding

log = logging.getLogger(__name__)


class Overloaded(RuntimeError):
    """The queue is full; the client should retry later."""


class ShuttingDown(RuntimeError):
    """The scheduler no longer accepts work."""


@dataclass(frozen=True)
class SchedulerOptions:
    max_rows: int = 512  # decoder rows in the running batch (one step)
    max_admit_texts: int = 32  # texts encoded together when admitted
    max_wait_ms: float = 0.0  # when idle, how long the first text waits for company
    max_queue: int = 256  # texts waiting or decoding; beyond it requests are refused
    light_rows: int = 24  # a request with at most this many rows per step is light
    heavy_share: float = 0.5  # while light work runs, heavy steps get at most this share
    heavy_step_rows: int = 64  # heavy rows in one step
    group_texts: int = 16  # only light work running: admit and answer in groups this large
    group_steps: int = 8  # ... or once the first of a group has waited this many steps
    heavy_admit_texts: int = 16  # a heavy request's texts encoded at a time, between steps

    def __post_init__(self) -> None:
        if not 0 < self.heavy_share <= 1:
            raise ValueError("heavy_share must be in (0, 1]")
        bounds = (self.max_rows, self.max_admit_texts, self.heavy_step_rows, self.heavy_admit_texts)
        if min(bounds) < 1:
            raise ValueError(
                "max_rows, max_admit_texts, heavy_step_rows and heavy_admit_texts must be "
                "at least 1"
            )


StepObserver = Callable[[int, float], None]  # (rows in the step, seconds)
AdmitObserver = Callable[[int, float], None]  # (texts admitted together, seconds to encode)


class StepScheduler(Generic[Request, W, Result]):
    def __init__(
        self,
        model: DecodingModel[Request, W, Result],
        options: SchedulerOptions,
        on_admit: AdmitObserver | None = None,
        on_step: StepObserver | None = None,
    ) -> None:
        self.model = model
        self.options = options
        self._on_admit, self._on_step = on_admit, on_step
        self._lock = threading.Condition()
        self._waiting: list[Job[Request, W, Result]] = []
        self._running: list[Job[Request, W, Result]] = []
        self._queued_texts = 0
        self._closing = False
        self._thread: threading.Thread | None = None
        # Time of heavy and light-only steps since light work appeared.
        self._heavy_seconds = 0.0
        self._light_seconds = 0.0
        self.running_rows = 0  # rows of the running batch after the last step
        self.steps = 0
        # Results are built (alignment head, words, detokenization) off the decoding thread,
        # light and heavy requests' apart, so that neither the next step nor a light answer
        # waits for a heavy request's results.
        self._builders = {
            heavy: ThreadPoolExecutor(1, thread_name_prefix=f"results-{kind}")
            for heavy, kind in ((False, "light"), (True, "heavy"))
        }

    @property
    def queue_depth(self) -> int:
        """Texts accepted and not yet answered."""
        return self._queued_texts

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="decoder", daemon=True)
        self._thread.start()

    async def submit(self, request: Request) -> list[Result]:
        if self._closing:
            raise ShuttingDown("the service is shutting down")
        texts = len(request.items)
        if self._queued_texts + texts > self.options.max_queue:
            raise Overloaded(
                f"{self._queued_texts} texts are queued (limit {self.options.max_queue})"
            )
        loop = asyncio.get_running_loop()
        job: Job[Request, W, Result] = Job(request, loop.create_future(), loop)
        job.enqueued_step = self.steps
        self._queued_texts += texts
        with self._lock:
            self._waiting.append(job)
            self._lock.notify()
        try:
            # Cancelling the caller cancels the future: the decoding thread drops the job.
            return await job.future
        finally:
            self._queued_texts -= texts
            if job.cancelled:
                with self._lock:
                    self._lock.notify()

    async def close(self) -> None:
        """Stop accepting work, finish what is queued, then stop the decoding thread."""
        self._closing = True
        with self._lock:
            self._lock.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    # --- the decoding thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                self._waiting = [job for job in self._waiting if not job.cancelled]
                if not self._waiting and not self._running:
                    if self._closing:
                        for builder in self._builders.values():
                            builder.shutdown(wait=True)
                        return
                    self._lock.wait()
                    continue
                if not self._running and not self._wait_for_company():
                    continue
                admitted = self._take_admissible() if self._admit_now() else []
            if admitted:
                self._timed(admitted, self._admit)
            self._drop_cancelled()
            if not any(self._heavy(job) for job in admitted):  # one heavy run between steps
                self._begin_pending()
            if self._running:
                self._step()
            self.running_rows = sum(d.rows for d in live_decodings(self._running))

    def _wait_for_company(self) -> bool:
        """While idle: wait up to ``max_wait_ms`` for a full admission (lock held).
        False when the wait was cut short and the state must be looked at again."""
        waiting_texts = sum(len(job.request.items) for job in self._waiting)
        remaining = self._waiting[0].enqueued + self.options.max_wait_ms / 1000
        remaining -= time.perf_counter()
        if self._closing or waiting_texts >= self.options.max_admit_texts or remaining <= 0:
            return True
        self._lock.wait(remaining)
        return False

    def _grouping(self) -> bool:
        """Whether only light work is decoding, the case where texts are grouped."""
        light_rows = self.options.light_rows
        return bool(live_decodings(self._running)) and all(
            job.request.rows <= light_rows for job in self._running
        )

    def _admit_now(self) -> bool:
        """Whether the waiting texts are admitted before the next step (lock held)."""
        light_rows = self.options.light_rows
        if not self._waiting or not self._grouping():
            return True
        if any(job.request.rows > light_rows for job in self._waiting):
            return True  # heavy work is not held back for company
        texts = sum(len(job.request.items) for job in self._waiting)
        waited = self.steps - self._waiting[0].enqueued_step
        return texts >= self.options.group_texts or waited >= self.options.group_steps

    def _take_admissible(self) -> list[Job[Request, W, Result]]:
        """Waiting jobs whose rows fit beside the running ones, heavy ones only in heavy
        work's turn and once no running request has texts left to encode (lock held)."""
        rows = sum(job.request.rows for job in self._running if not all_done(job))
        texts = 0
        heavy_turn, partly_begun = self._heavy_turn(), self._partly_begun() is not None
        taken: list[Job[Request, W, Result]] = []
        for job in self._waiting:
            if texts + len(job.request.items) > self.options.max_admit_texts and taken:
                break
            if self._heavy(job) and (not heavy_turn or partly_begun):
                continue  # heavy work's turn, after the texts of a request begun in parts
            fits = rows + job.request.rows <= self.options.max_rows
            if fits or (not self._running and not taken):  # a job larger than the bound
                taken.append(job)
                rows += job.request.rows
                texts += len(job.request.items)
        for job in taken:
            self._waiting.remove(job)
        return taken

    def _admit(self, jobs: list[Job[Request, W, Result]]) -> None:
        """Begin ``jobs``: light ones whole, heavy ones ``heavy_admit_texts`` texts at a
        time (the rest by :meth:`_begin_pending`); one encoder run for each kind."""
        for heavy in (False, True):
            group = [job for job in jobs if self._heavy(job) == heavy]
            if not group:
                continue
            start = time.perf_counter()
            limit = self.options.heavy_admit_texts if heavy else None
            try:
                works = self.model.begin([job.request for job in group], limit)
            except Exception as error:
                for job in group:
                    job.answer(error)
                continue
            for job, work in zip(group, works, strict=True):
                job.work = work
            self._running.extend(group)
            if self._on_admit is not None:
                self._on_admit(begun_texts(group), time.perf_counter() - start)

    def _begin_pending(self) -> None:
        """Encode the next ``heavy_admit_texts`` pending texts of the earliest heavy request
        begun in parts: between steps, in heavy work's turn, counted as heavy work."""
        job = self._partly_begun()
        if job is None or job.work is None or not self._heavy_turn():
            return
        start, before = time.perf_counter(), begun_texts([job])
        try:
            self.model.begin_more([job.work], self.options.heavy_admit_texts)
        except Exception as error:
            log.exception("encoding a request's texts failed")
            self._retire(job)
            job.answer(error)
            return
        seconds = time.perf_counter() - start
        self._heavy_seconds += seconds
        if self._on_admit is not None:
            self._on_admit(begun_texts([job]) - before, seconds)

    def _partly_begun(self) -> Job[Request, W, Result] | None:
        """The earliest running job with texts still to encode."""
        return next((job for job in self._running if job.work and job.work.pending), None)

    def _drop_cancelled(self) -> None:
        for job in [job for job in self._running if job.cancelled]:
            self._retire(job)

    def _retire(self, job: Job[Request, W, Result]) -> None:
        self._running.remove(job)
        if job.work is not None:
            self.model.release(job.work)

    def _heavy(self, job: Job[Request, W, Result]) -> bool:
        return job.request.rows > self.options.light_rows

    def _heavy_turn(self) -> bool:
        """Whether heavy work may take the machine next: always without light work running,
        beside it while heavy work has used at most ``heavy_share`` of the time since the
        light work arrived. The clock restarts whenever light work is not running."""
        if all(self._heavy(job) for job in self._running):
            self._heavy_seconds = self._light_seconds = 0.0
            return True
        total = self._heavy_seconds + self._light_seconds
        return self._heavy_seconds <= self.options.heavy_share * total

    def _timed(
        self,
        jobs: list[Job[Request, W, Result]],
        work: Callable[[list[Job[Request, W, Result]]], None],
    ) -> None:
        """Run the admission of ``jobs``, its time counted as heavy work's when any of them
        is heavy."""
        start = time.perf_counter()
        work(jobs)
        seconds = time.perf_counter() - start
        if any(self._heavy(job) for job in jobs):
            self._heavy_seconds += seconds
        else:
            self._light_seconds += seconds

    def _choose(self) -> tuple[list[Decoding], bool]:
        """The decodings of the next step, and whether it is a heavy step."""
        light = [job for job in self._running if not self._heavy(job)]
        heavy_jobs = [job for job in self._running if self._heavy(job)]
        if not light or not heavy_jobs:
            self._heavy_seconds = self._light_seconds = 0.0
        if not heavy_jobs:
            return live_decodings(light), False
        heavy: list[Decoding] = []
        if not light or self._heavy_turn():
            heavy = _first_rows(live_decodings(heavy_jobs), self.options.heavy_step_rows)
        return live_decodings(light) + heavy, bool(heavy)

    def _step(self) -> None:
        decodings, heavy = self._choose()
        if decodings:
            start = time.perf_counter()
            try:
                self.model.step(decodings)
            except Exception as error:
                log.exception("decoder step failed")
                self._finish(hold=False)  # requests already done get their results
                for job in list(self._running):
                    self._retire(job)
                    job.answer(error)
                return
            seconds = time.perf_counter() - start
            if heavy:
                self._heavy_seconds += seconds
            else:
                self._light_seconds += seconds
            self.steps += 1
            if self._on_step is not None:
                self._on_step(sum(d.rows for d in decodings), seconds)
        self._finish()

    def _finish(self, hold: bool = True) -> None:
        """Answer the requests whose sentences are all done; the alignment head runs once
        for all of them (of each kind). With ``hold``, they are grouped while only light
        work runs."""
        finished = [job for job in self._running if all_done(job)]
        if not finished:
            return
        for job in finished:
            if job.done_step is None:
                job.done_step = self.steps
        if hold and self._grouping():
            texts = sum(len(job.request.items) for job in finished)
            waited = self.steps - min(job.done_step or 0 for job in finished)
            if texts < self.options.group_texts and waited < self.options.group_steps:
                return
        self._answer(finished)

    def _answer(self, finished: list[Job[Request, W, Result]]) -> None:
        """Release the finished jobs' rows now; their results are built and delivered by
        the builder thread of their kind."""
        for heavy in (False, True):
            jobs = [job for job in finished if self._heavy(job) == heavy]
            if not jobs:
                continue
            works = []
            for job in jobs:
                assert job.work is not None
                works.append(job.work)
            build: Callable[[], list[list[Result]]] | None = None
            try:
                build = self.model.prepare_results(works)
            except Exception as error:
                failure = error
            for job in jobs:
                self._retire(job)
            if build is None:
                for job in jobs:
                    job.answer(failure)
                continue
            self._builders[heavy].submit(deliver, jobs, build)


def _first_rows(decodings: list[Decoding], rows: int) -> list[Decoding]:
    """The first of ``decodings`` up to ``rows`` rows in all (at least one decoding)."""
    taken: list[Decoding] = []
    total = 0
    for decoding in decodings:
        if taken and total + decoding.rows > rows:
            break
        taken.append(decoding)
        total += decoding.rows
    return taken
