"""The step-level scheduler over the real tiny model: requests join and leave the running
batch between steps, in any company each sentence decodes as alone, cancelled requests
leave at once, and a light request is not held up by heavy ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from service.inference.runtime import EncodedBatch, RuntimeOptions
from service.inference.scheduler import Overloaded, SchedulerOptions, ShuttingDown, StepScheduler
from service.inference.search import SearchOptions
from service.inference.step import Decoding
from service.inference.translation import Translation
from service.inference.translator import (
    AlignOptions,
    DecodeRequest,
    InputTooLong,
    Translator,
    Work,
)

SENTENCES = (Path(__file__).parents[2] / "bench" / "sentences_en.txt").read_text().splitlines()


class CountingTranslator(Translator):
    """The real translator, counting the texts it was asked to begin."""

    begun: int = 0

    def begin(self, requests: list[DecodeRequest], limit: int | None = None) -> list[Work]:
        self.begun += sum(len(r.items) for r in requests)
        return super().begin(requests, limit)


def load(directory: Path) -> CountingTranslator:
    translator = Translator.from_directory(
        directory, runtime=RuntimeOptions(device="cpu", intra_op_threads=1)
    )
    return CountingTranslator(
        translator.artifact, translator.model, translator.tokenizer, translator.max_source_tokens
    )


@pytest.fixture(scope="module")
def alone(tiny_artifact: Path) -> Translator:
    return load(tiny_artifact)


@pytest.fixture
def served(tiny_artifact: Path) -> CountingTranslator:
    return load(tiny_artifact)


Scheduler = StepScheduler[DecodeRequest, Work, Translation]
LIGHT = DecodeRequest(["Amen."], SearchOptions(beam_size=1))


def assert_same(got: Translation, expected: Translation) -> None:
    assert got.target_tokens == expected.target_tokens
    assert got.score == pytest.approx(expected.score, abs=1e-5)
    np.testing.assert_allclose(got.attention, expected.attention, atol=1e-6)
    if expected.token_scores is not None:
        assert got.token_scores is not None
        np.testing.assert_allclose(got.token_scores, expected.token_scores, atol=1e-5)


def test_requests_in_any_company_decode_as_alone(
    served: CountingTranslator, alone: Translator
) -> None:
    requests = [
        DecodeRequest(SENTENCES[0:3], SearchOptions(beam_size=1)),
        DecodeRequest(SENTENCES[3:5], SearchOptions(beam_size=5, n_best=3)),
        DecodeRequest([SENTENCES[5]], SearchOptions(beam_size=1, candidates=3)),
        DecodeRequest(SENTENCES[6:8], SearchOptions(beam_size=2)),
        DecodeRequest(list(zip(SENTENCES[8:10], SENTENCES[10:12], strict=True)), AlignOptions()),
    ]

    async def main() -> tuple[list[list[Translation]], int]:
        scheduler: Scheduler = StepScheduler(served, SchedulerOptions(max_rows=64))
        scheduler.start()
        tasks = []
        for request in requests:  # each joins a batch that is already decoding
            tasks.append(asyncio.ensure_future(scheduler.submit(request)))
            await asyncio.sleep(0.003)
        results = await asyncio.gather(*tasks)
        steps = scheduler.steps
        await scheduler.close()
        return results, steps

    results, steps = asyncio.run(main())
    one_after_another = sum(max(len(t.target_tokens) for t in got) for got in results)
    assert steps < one_after_another  # the requests shared steps
    for request, got in zip(requests, results, strict=True):
        if isinstance(request.options, AlignOptions):
            expected = alone.align(request.items, request.options)
        else:
            expected = [alone.translate([text], request.options)[0] for text in request.items]
        for g, e in zip(got, expected, strict=True):
            assert_same(g, e)
            assert [a.text for a in g.alternatives] == [a.text for a in e.alternatives]
            assert g.candidates == e.candidates
    assert results[4][0].token_scores is not None
    assert len(results[4][0].token_scores) == len(results[4][0].target_tokens)


def test_forced_decoding_scores_the_search_result(alone: Translator) -> None:
    [translation] = alone.translate([SENTENCES[20]], SearchOptions(beam_size=1))
    [forced] = alone.align([(SENTENCES[20], translation.text)], AlignOptions())
    if forced.target_tokens == translation.target_tokens:  # the pieces round-trip
        np.testing.assert_allclose(forced.attention, translation.attention, atol=1e-6)
        assert forced.score == pytest.approx(translation.score, abs=1e-5)
    assert forced.token_scores is not None and all(s <= 0 for s in forced.token_scores)
    assert forced.score == pytest.approx(sum(forced.token_scores) / len(forced.target_tokens))


def test_a_cancelled_request_leaves_the_queue_and_the_batch(served: CountingTranslator) -> None:
    heavy = DecodeRequest(SENTENCES[:16], SearchOptions(beam_size=10))

    async def main() -> None:
        # Room for one heavy request: the second one waits in the queue.
        scheduler: Scheduler = StepScheduler(served, SchedulerOptions(max_rows=160))
        scheduler.start()
        running = asyncio.ensure_future(scheduler.submit(heavy))
        waiting = asyncio.ensure_future(scheduler.submit(heavy))
        while scheduler.running_rows == 0:
            await asyncio.sleep(0.001)
        assert scheduler.queue_depth == 32
        waiting.cancel()
        running.cancel()
        for task in (running, waiting):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert scheduler.queue_depth == 0
        steps = scheduler.steps
        while scheduler.running_rows:
            await asyncio.sleep(0.001)
        assert scheduler.steps - steps <= 2  # gone at the next step, not at the end
        assert served.begun == 16  # the waiting request was never encoded
        short = await scheduler.submit(DecodeRequest(["Amen."], SearchOptions(beam_size=1)))
        assert len(short) == 1
        assert len(served.pool) == 0  # encoder outputs of cancelled work are released
        await scheduler.close()

    asyncio.run(main())


def test_a_light_request_finishes_while_heavy_work_runs(served: CountingTranslator) -> None:
    heavy = DecodeRequest(SENTENCES[:32], SearchOptions(beam_size=10))
    light = DecodeRequest([SENTENCES[40]], SearchOptions(beam_size=1))

    async def main() -> None:
        scheduler: Scheduler = StepScheduler(served, SchedulerOptions(max_rows=512))
        scheduler.start()
        big = asyncio.ensure_future(scheduler.submit(heavy))
        while scheduler.running_rows == 0:
            await asyncio.sleep(0.001)
        steps = scheduler.steps
        [result] = await scheduler.submit(light)
        assert not big.done()  # the light request did not wait for the batch
        # it advanced at every step, heavy or light-only, from the step after it arrived
        assert scheduler.steps - steps <= len(result.target_tokens) + 2
        assert len(await big) == 32
        await scheduler.close()

    asyncio.run(main())


def test_steps_beside_light_work_take_a_bounded_share_of_heavy_rows(
    served: CountingTranslator,
) -> None:
    heavy = DecodeRequest(SENTENCES[:16], SearchOptions(beam_size=10))  # 160 rows a step
    light = DecodeRequest([SENTENCES[40]], SearchOptions(beam_size=1))
    steps: list[tuple[int, bool]] = []  # (rows, whether the light request's row was in it)
    step = served.step

    def observed_step(decodings: list[Decoding]) -> None:
        steps.append((sum(d.rows for d in decodings), any(d.rows == 1 for d in decodings)))
        step(decodings)

    served.step = observed_step  # type: ignore[method-assign]

    async def main() -> None:
        options = SchedulerOptions(max_rows=512, heavy_step_rows=20)
        scheduler: Scheduler = StepScheduler(served, options)
        scheduler.start()
        big = asyncio.ensure_future(scheduler.submit(heavy))
        while scheduler.running_rows == 0:
            await asyncio.sleep(0.001)
        await scheduler.submit(light)
        assert len(await big) == 16
        await scheduler.close()

    asyncio.run(main())
    beside = [rows for rows, with_light in steps if with_light]
    alone = [rows for rows, with_light in steps if not with_light]
    assert max(alone) == 20  # alone, heavy work steps its earliest 20 rows at a time
    assert beside and max(beside) <= 20 + 1  # beside light work: 20 heavy rows + the light one
    assert max(beside) > 1  # and heavy work still advanced beside it


def test_heavy_work_alone_steps_at_most_heavy_step_rows(served: CountingTranslator) -> None:
    """Without light work a step takes the earliest heavy decodings up to the bound (a
    light request that arrives waits for one such step, not one over every row), and every
    sentence is still decoded, each as it would be in a full step."""
    heavy = DecodeRequest(SENTENCES[:16], SearchOptions(beam_size=4))  # 64 rows a step
    rows: list[int] = []
    step = served.step

    def observed_step(decodings: list[Decoding]) -> None:
        rows.append(sum(d.rows for d in decodings))
        step(decodings)

    served.step = observed_step  # type: ignore[method-assign]

    async def run(options: SchedulerOptions) -> list[Translation]:
        scheduler: Scheduler = StepScheduler(served, options)
        scheduler.start()
        results = await scheduler.submit(heavy)
        await scheduler.close()
        return results

    bounded = asyncio.run(run(SchedulerOptions(max_rows=512, heavy_step_rows=10)))
    assert rows and max(rows) == 8  # two beams of 4 rows: a third would pass 10
    rows.clear()
    whole = asyncio.run(run(SchedulerOptions(max_rows=512, heavy_step_rows=512)))
    assert max(rows) == 64
    assert len(bounded) == len(whole) == 16
    for got, expected in zip(bounded, whole, strict=True):
        assert_same(got, expected)


def test_a_heavy_request_is_encoded_in_parts_between_steps(
    served: CountingTranslator, alone: Translator
) -> None:
    """No encoder run over more than ``heavy_admit_texts`` texts of a heavy request: its
    first texts decode while the rest wait, one run between steps, and it decodes as alone."""
    texts = SENTENCES[:14]
    heavy = DecodeRequest(texts, SearchOptions(beam_size=2))  # 28 rows: heavy
    events: list[str] = []
    encode, step = served.model.encode, served.step

    def observed_encode(tokens: np.ndarray, lengths: np.ndarray) -> EncodedBatch:
        events.append(f"encode {len(tokens)}")
        return encode(tokens, lengths)

    def observed_step(decodings: list[Decoding]) -> None:
        if events[-1] != "step":
            events.append("step")
        step(decodings)

    served.model.encode = observed_encode  # type: ignore[method-assign]
    served.step = observed_step  # type: ignore[method-assign]

    async def main() -> list[Translation]:
        scheduler: Scheduler = StepScheduler(served, SchedulerOptions(heavy_admit_texts=4))
        scheduler.start()
        results = await scheduler.submit(heavy)
        await scheduler.close()
        return results

    results = asyncio.run(main())
    assert events == [
        "encode 4", "step", "encode 4", "step", "encode 4", "step", "encode 2", "step"
    ]  # fmt: skip
    for got, expected in zip(results, alone.translate(texts, heavy.options), strict=True):
        assert_same(got, expected)


def test_light_traffic_does_not_hold_back_a_heavy_request_begun_in_parts(
    served: CountingTranslator,
) -> None:
    """Light requests admitted at every pass must not keep a heavy request's remaining texts
    from being encoded: heavy work keeps its share, and the request is answered."""
    step = served.step

    def slow_step(decodings: list[Decoding]) -> None:
        time.sleep(0.002)  # light requests arrive several times a step
        step(decodings)

    served.step = slow_step  # type: ignore[method-assign]
    heavy = DecodeRequest(SENTENCES[:4], SearchOptions(beam_size=10))

    async def main() -> None:
        scheduler: Scheduler = StepScheduler(served, SchedulerOptions(heavy_admit_texts=1))
        scheduler.start()
        answered = asyncio.ensure_future(scheduler.submit(heavy))
        lights = []
        deadline = time.perf_counter() + 5
        while not answered.done() and time.perf_counter() < deadline:
            lights.append(asyncio.ensure_future(scheduler.submit(LIGHT)))
            await asyncio.sleep(0.0005)
        assert answered.done()  # while light traffic went on
        assert len(await answered) == 4
        await asyncio.gather(*lights)
        await scheduler.close()

    asyncio.run(main())


def test_admissions_are_observed_per_encoder_run(served: CountingTranslator) -> None:
    """The batch metric sees each encoder run with the texts it encoded: none for a request
    refused before encoding, one light and one heavy run for an admission of both."""
    observed: list[int] = []
    too_long = DecodeRequest([" ".join(["word"] * 400)], SearchOptions(beam_size=1))
    light = DecodeRequest(SENTENCES[:2], SearchOptions(beam_size=1))
    heavy = DecodeRequest(SENTENCES[2:8], SearchOptions(beam_size=10))

    async def main() -> None:
        # Idle, the first text waits for company up to 8 texts: light and heavy come in
        # one admission.
        options = SchedulerOptions(heavy_admit_texts=4, max_admit_texts=8, max_wait_ms=2000)
        scheduler: Scheduler = StepScheduler(
            served, options, on_admit=lambda texts, seconds: observed.append(texts)
        )
        scheduler.start()
        with pytest.raises(InputTooLong):
            await scheduler.submit(too_long)
        assert observed == []
        await asyncio.gather(scheduler.submit(light), scheduler.submit(heavy))
        await scheduler.close()

    asyncio.run(main())
    assert observed == [2, 4, 2]  # light whole, heavy in parts


def test_a_heavy_request_cancelled_before_all_its_texts_began(
    served: CountingTranslator,
) -> None:
    heavy = DecodeRequest(SENTENCES[:40], SearchOptions(beam_size=4))

    async def main() -> None:
        scheduler: Scheduler = StepScheduler(served, SchedulerOptions(heavy_admit_texts=2))
        scheduler.start()
        running = asyncio.ensure_future(scheduler.submit(heavy))
        while scheduler.running_rows == 0:
            await asyncio.sleep(0.001)
        assert 0 < len(served.pool) < 40  # begun in part
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        while scheduler.running_rows:
            await asyncio.sleep(0.001)
        [short] = await scheduler.submit(DecodeRequest(["Amen."], SearchOptions(beam_size=1)))
        assert short.text
        assert len(served.pool) == 0  # and none of its texts is encoded after it left
        await scheduler.close()

    asyncio.run(main())


def test_a_heavy_admission_counts_as_heavy_work_beside_light_work(
    served: CountingTranslator,
) -> None:
    """A heavy request admitted while light work runs has its encoder time counted against
    heavy work's share: light-only steps make up for it before heavy rows step again."""
    events: list[tuple[str, float]] = []  # (what, seconds)
    light_decodings: set[int] = set()  # ids of the light request's decodings
    begin, step = served.begin, served.step

    def observed_begin(requests: list[DecodeRequest], limit: int | None = None) -> list[Work]:
        if any(r.rows > 8 for r in requests) and served.begun >= 16:
            time.sleep(0.2)  # the second heavy request's encoder: as long as many steps
            events.append(("heavy admitted", 0.2))
        works = begin(requests, limit)
        for request, work in zip(requests, works, strict=True):
            if request.rows <= 8:
                light_decodings.update(id(d) for d in work.decodings)
        return works

    def observed_step(decodings: list[Decoding]) -> None:
        start = time.perf_counter()
        # A beam decoding down to its last live row is still heavy work's.
        heavy = any(id(d) not in light_decodings for d in decodings)
        with_light = any(id(d) in light_decodings for d in decodings)
        if heavy:
            time.sleep(0.002)  # heavy steps long enough to keep the light request going
        step(decodings)
        name = ("heavy" if heavy else "light") + (
            " step with light rows" if with_light else " step"
        )
        events.append((name, time.perf_counter() - start))

    served.begin = observed_begin  # type: ignore[method-assign]
    served.step = observed_step  # type: ignore[method-assign]
    first_heavy = DecodeRequest(SENTENCES[:16], SearchOptions(beam_size=10))
    second_heavy = DecodeRequest(SENTENCES[16:24], SearchOptions(beam_size=10))
    light = DecodeRequest(SENTENCES[40:48], SearchOptions(beam_size=1))  # 8 rows: light

    async def main() -> None:
        scheduler: Scheduler = StepScheduler(served, SchedulerOptions(max_rows=512))
        scheduler.start()
        heavy = [asyncio.ensure_future(scheduler.submit(first_heavy))]
        while scheduler.running_rows == 0:
            await asyncio.sleep(0.001)
        answered = asyncio.ensure_future(scheduler.submit(light))
        while served.begun < 24:  # the light request is decoding
            await asyncio.sleep(0.001)
        heavy.append(asyncio.ensure_future(scheduler.submit(second_heavy)))
        await answered
        await asyncio.gather(*heavy)
        await scheduler.close()

    asyncio.run(main())
    names = [name for name, _ in events]
    admitted = names.index("heavy admitted")
    last_light = max(n for n, name in enumerate(names) if name.endswith("with light rows"))
    assert admitted < last_light  # the second heavy request came while the light one decoded
    after = names[admitted + 1 : last_light + 1]
    assert after[0] == "light step with light rows"
    heavy_again = [n for n, name in enumerate(after) if name.startswith("heavy")]
    if heavy_again:  # heavy rows stepped again before the light request was done:
        light_only = sum(
            seconds for _, seconds in events[admitted + 1 : admitted + 1 + heavy_again[0]]
        )
        assert light_only >= 0.2 - 0.05  # only after light steps as long as the admission


def test_a_heavy_answer_does_not_hold_up_light_work(served: CountingTranslator) -> None:
    """A heavy request's results (alignment head, words) are built off the decoding thread:
    a light request arriving meanwhile decodes and is answered while they take their time."""
    events: list[str] = []
    prepare_results = served.prepare_results

    def observed_prepare_results(works: list[Work]) -> Callable[[], list[list[Translation]]]:
        build = prepare_results(works)
        if not any(w.request.rows > 8 for w in works):
            return build

        def slow_build() -> list[list[Translation]]:
            events.append("heavy results")
            time.sleep(0.5)  # as long as many steps
            events.append("heavy results built")
            return build()

        return slow_build

    served.prepare_results = observed_prepare_results  # type: ignore[method-assign]
    heavy = DecodeRequest(SENTENCES[:16], SearchOptions(beam_size=10, max_length_extra=5))
    light = DecodeRequest(SENTENCES[40:48], SearchOptions(beam_size=1))  # 8 rows: light

    async def main() -> None:
        scheduler: Scheduler = StepScheduler(served, SchedulerOptions(max_rows=512))
        scheduler.start()
        answer = asyncio.ensure_future(scheduler.submit(heavy))
        while "heavy results" not in events:
            await asyncio.sleep(0.001)
        assert len(await scheduler.submit(light)) == 8
        events.append("light answered")
        assert len(await answer) == 16
        await scheduler.close()

    asyncio.run(main())
    assert events == ["heavy results", "light answered", "heavy results built"]


def test_light_traffic_is_admitted_and_answered_in_groups(
    served: CountingTranslator, alone: Translator
) -> None:
    # The tiny model never stops early: lengths are set by the limits.
    long = DecodeRequest([SENTENCES[0]], SearchOptions(beam_size=1, max_length_extra=2000))
    five = SearchOptions(beam_size=1, max_length_ratio=0, max_length_extra=5)
    short = [DecodeRequest([text], five) for text in SENTENCES[1:4]]
    admitted: list[int] = []
    finishes: list[int] = []
    prepare_results = served.prepare_results

    def observed_finish(works: list[Work]) -> Callable[[], list[list[Translation]]]:
        finishes.append(len(works))
        return prepare_results(works)

    served.prepare_results = observed_finish  # type: ignore[method-assign]

    async def main() -> list[list[Translation]]:
        options = SchedulerOptions(group_texts=3, group_steps=10_000)
        scheduler: Scheduler = StepScheduler(
            served, options, on_admit=lambda texts, seconds: admitted.append(texts)
        )
        scheduler.start()
        running = asyncio.ensure_future(scheduler.submit(long))
        while scheduler.running_rows == 0:
            await asyncio.sleep(0.001)
        tasks = []
        for request in short:  # one at a time, steps apart
            tasks.append(asyncio.ensure_future(scheduler.submit(request)))
            steps = scheduler.steps
            while scheduler.steps < steps + 2:
                await asyncio.sleep(0.001)
        results = await asyncio.gather(*tasks)
        assert not running.done()
        await running  # alone at the end, it is answered without waiting for company
        await scheduler.close()
        return results

    results = asyncio.run(main())
    assert admitted == [1, 3]  # the three short texts were encoded together
    assert finishes == [3, 1]  # answered together, and the long one alone
    for request, [got] in zip(short, results, strict=True):
        [expected] = alone.translate(request.items, request.options)
        assert_same(got, expected)


def test_a_failing_step_fails_the_decoding_requests_not_the_finished_ones(
    served: CountingTranslator, alone: Translator
) -> None:
    long = DecodeRequest([SENTENCES[0]], SearchOptions(beam_size=1, max_length_extra=2000))
    short = DecodeRequest([SENTENCES[1]], SearchOptions(beam_size=1, max_length_ratio=0))
    step = served.step
    together = False

    def step_that_fails(decodings: list[Decoding]) -> None:
        nonlocal together
        together = together or len(decodings) == 2
        if together and len(decodings) == 1:  # the short one is done, held for company
            raise RuntimeError("the step failed")
        step(decodings)

    served.step = step_that_fails  # type: ignore[method-assign]

    async def main() -> tuple[BaseException | list[Translation], ...]:
        scheduler: Scheduler = StepScheduler(served, SchedulerOptions(group_steps=4))
        scheduler.start()
        tasks = [asyncio.ensure_future(scheduler.submit(long))]
        while scheduler.running_rows == 0:
            await asyncio.sleep(0.001)
        tasks.append(asyncio.ensure_future(scheduler.submit(short)))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await scheduler.close()
        return tuple(results)

    failed, answered = asyncio.run(main())
    assert isinstance(failed, RuntimeError)
    assert not isinstance(answered, BaseException)
    [expected] = alone.translate(short.items, short.options)
    assert_same(answered[0], expected)


def test_the_queue_is_bounded_and_close_drains_it(served: CountingTranslator) -> None:
    async def main() -> None:
        scheduler: Scheduler = StepScheduler(served, SchedulerOptions(max_queue=4))
        scheduler.start()
        first = asyncio.ensure_future(
            scheduler.submit(DecodeRequest(SENTENCES[:3], SearchOptions(beam_size=2)))
        )
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await scheduler.submit(DecodeRequest(SENTENCES[3:5], SearchOptions()))
        await scheduler.close()
        assert len(await first) == 3  # queued work is finished on close
        with pytest.raises(ShuttingDown):
            await scheduler.submit(DecodeRequest(["Amen."], SearchOptions()))

    asyncio.run(main())
