"""The Batcher with a plain ``run_batch`` that records its calls."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from service.inference.batcher import Batcher, BatchingOptions, Overloaded, ShuttingDown
from service.inference.search import SearchOptions

GREEDY = SearchOptions(beam_size=1)
BEAM = SearchOptions(beam_size=2)


class RecordingRun:
    """Answers ``"<beam>:<text>"`` per text and records each call; ``gate`` holds calls back."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[list[str], SearchOptions]] = []
        self.gate = gate

    def __call__(self, texts: list[str], options: SearchOptions) -> list[str]:
        if self.gate is not None:
            assert self.gate.wait(10), "the test never opened the gate"
        if any("boom" in text for text in texts):
            raise ValueError("boom")
        self.calls.append((list(texts), options))
        return [f"{options.beam_size}:{text}" for text in texts]


def test_concurrent_jobs_share_one_batch_in_order() -> None:
    run = RecordingRun()

    async def main() -> tuple[list[list[str]], float]:
        batcher = Batcher(run, BatchingOptions(max_batch_size=6, max_wait_ms=5000))
        batcher.start()
        start = time.perf_counter()
        results = await asyncio.gather(
            batcher.submit(["a"], GREEDY),
            batcher.submit(["b", "c"], GREEDY),
            batcher.submit(["d"], GREEDY),
            batcher.submit(["e", "f"], GREEDY),
        )
        elapsed = time.perf_counter() - start
        await batcher.close()
        return results, elapsed

    results, elapsed = asyncio.run(main())
    assert results == [["1:a"], ["1:b", "1:c"], ["1:d"], ["1:e", "1:f"]]
    assert run.calls == [(["a", "b", "c", "d", "e", "f"], GREEDY)]
    assert elapsed < 2.5  # a full batch does not wait out max_wait_ms


def test_a_lone_job_runs_after_the_wait() -> None:
    run = RecordingRun()

    async def main() -> tuple[list[str], float]:
        batcher = Batcher(run, BatchingOptions(max_batch_size=8, max_wait_ms=100))
        batcher.start()
        start = time.perf_counter()
        result = await batcher.submit(["solo"], GREEDY)
        elapsed = time.perf_counter() - start
        await batcher.close()
        return result, elapsed

    result, elapsed = asyncio.run(main())
    assert result == ["1:solo"]
    assert run.calls == [(["solo"], GREEDY)]
    assert elapsed >= 0.09


def test_batches_hold_at_most_max_batch_size_texts() -> None:
    run = RecordingRun()

    async def main() -> list[list[str]]:
        batcher = Batcher(run, BatchingOptions(max_batch_size=2, max_wait_ms=50))
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([t], GREEDY) for t in "abcde"))
        await batcher.close()
        return results

    results = asyncio.run(main())
    assert results == [["1:a"], ["1:b"], ["1:c"], ["1:d"], ["1:e"]]
    assert [texts for texts, _ in run.calls] == [["a", "b"], ["c", "d"], ["e"]]


def test_different_search_options_are_never_mixed() -> None:
    run = RecordingRun()

    async def main() -> list[list[str]]:
        batcher = Batcher(run, BatchingOptions(max_batch_size=32, max_wait_ms=50))
        batcher.start()
        results = await asyncio.gather(
            batcher.submit(["g1"], GREEDY),
            batcher.submit(["b1", "b2"], BEAM),
            batcher.submit(["g2"], GREEDY),
            batcher.submit(["b3"], BEAM),
        )
        await batcher.close()
        return results

    results = asyncio.run(main())
    assert results == [["1:g1"], ["2:b1", "2:b2"], ["1:g2"], ["2:b3"]]
    assert run.calls == [(["g1", "g2"], GREEDY), (["b1", "b2", "b3"], BEAM)]


def test_a_full_queue_raises_overloaded() -> None:
    gate = threading.Event()
    run = RecordingRun(gate)

    async def main() -> tuple[list[str], list[str], int]:
        batcher = Batcher(run, BatchingOptions(max_batch_size=8, max_wait_ms=0, max_queue=3))
        batcher.start()
        first = asyncio.create_task(batcher.submit(["a", "b"], GREEDY))
        while batcher.queue_depth < 2:
            await asyncio.sleep(0.001)
        with pytest.raises(Overloaded, match="limit 3"):
            await batcher.submit(["c", "d"], GREEDY)
        assert batcher.queue_depth == 2  # the refused texts were not counted
        last = asyncio.create_task(batcher.submit(["c"], GREEDY))  # 2 + 1 fits
        while batcher.queue_depth < 3:
            await asyncio.sleep(0.001)
        with pytest.raises(Overloaded):
            await batcher.submit(["x"], BEAM)
        gate.set()
        results = [await first, await last]
        depth = batcher.queue_depth
        await batcher.close()
        return results[0], results[1], depth

    first, last, depth = asyncio.run(main())
    assert (first, last, depth) == (["1:a", "1:b"], ["1:c"], 0)


def test_close_drains_queued_work_and_refuses_more() -> None:
    run = RecordingRun()

    async def main() -> tuple[list[list[str]], float]:
        batcher = Batcher(run, BatchingOptions(max_batch_size=32, max_wait_ms=10_000))
        batcher.start()
        jobs = [
            asyncio.create_task(batcher.submit(["a"], GREEDY)),
            asyncio.create_task(batcher.submit(["b"], BEAM)),
            asyncio.create_task(batcher.submit(["c"], GREEDY)),
        ]
        while batcher.queue_depth < 3:
            await asyncio.sleep(0.001)
        assert not any(job.done() for job in jobs)
        start = time.perf_counter()
        await batcher.close()
        elapsed = time.perf_counter() - start
        assert all(job.done() for job in jobs)
        with pytest.raises(ShuttingDown):
            await batcher.submit(["late"], GREEDY)
        return [job.result() for job in jobs], elapsed

    results, elapsed = asyncio.run(main())
    assert results == [["1:a"], ["2:b"], ["1:c"]]
    assert sorted(texts for texts, _ in run.calls) == [["a", "c"], ["b"]]
    assert elapsed < 5  # closing does not wait out max_wait_ms


def test_a_failing_batch_fails_its_jobs_and_the_worker_goes_on() -> None:
    run = RecordingRun()

    async def main() -> list[str]:
        batcher = Batcher(run, BatchingOptions(max_batch_size=2, max_wait_ms=50))
        batcher.start()
        outcomes = await asyncio.gather(
            batcher.submit(["fine"], GREEDY),
            batcher.submit(["boom"], GREEDY),
            return_exceptions=True,
        )
        assert all(isinstance(o, ValueError) for o in outcomes)
        result = await batcher.submit(["again"], GREEDY)
        assert batcher.queue_depth == 0
        await batcher.close()
        return result

    assert asyncio.run(main()) == ["1:again"]


def test_cancelled_jobs_leave_the_queue_and_are_not_decoded() -> None:
    """A job cancelled while queued frees its room at once and never reaches ``run_batch``;
    later jobs are admitted in the room it left and decoded."""
    gate = threading.Event()
    run = RecordingRun(gate)

    async def main() -> tuple[list[str], list[str], int]:
        batcher = Batcher(run, BatchingOptions(max_batch_size=2, max_wait_ms=0, max_queue=4))
        batcher.start()
        running = asyncio.create_task(batcher.submit(["run"], GREEDY))
        while not gate.is_set() and batcher.queue_depth < 1:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.05)  # the worker has taken "run" and waits on the gate
        leaving = [asyncio.create_task(batcher.submit([f"gone{n}"], BEAM)) for n in range(3)]
        while batcher.queue_depth < 4:
            await asyncio.sleep(0.001)
        with pytest.raises(Overloaded):
            await batcher.submit(["refused"], BEAM)
        for job in leaving:
            job.cancel()
        await asyncio.gather(*leaving, return_exceptions=True)
        depth_after_cancel = batcher.queue_depth
        later = asyncio.create_task(batcher.submit(["later1", "later2"], BEAM))
        gate.set()
        results = [await running, await later]
        await batcher.close()
        return results[0], results[1], depth_after_cancel

    first, later, depth = asyncio.run(main())
    assert depth == 1  # only the running job still counts
    assert (first, later) == (["1:run"], ["2:later1", "2:later2"])
    decoded = [text for texts, _ in run.calls for text in texts]
    assert decoded == ["run", "later1", "later2"]
    assert not any(text.startswith("gone") for text in decoded)


def test_cancelling_the_only_waiting_job_leaves_the_worker_running() -> None:
    run = RecordingRun()

    async def main() -> list[str]:
        batcher = Batcher(run, BatchingOptions(max_batch_size=8, max_wait_ms=200))
        batcher.start()
        lone = asyncio.create_task(batcher.submit(["lone"], GREEDY))
        await asyncio.sleep(0.02)  # the worker waits for company
        lone.cancel()
        await asyncio.gather(lone, return_exceptions=True)
        result = await batcher.submit(["next"], GREEDY)
        await batcher.close()
        return result

    assert asyncio.run(main()) == ["1:next"]
    assert run.calls == [(["next"], GREEDY)]
