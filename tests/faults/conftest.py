"""A redis-server of the test's own (the faults freeze and stop it) and a load driver."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import _redis_answers, _redis_free_port


class RedisProcess:
    """redis-server with an append-only file, so a restart keeps what was written."""

    def __init__(self, workdir: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.skip("redis-server not installed: apt-get install redis-server")
        self.executable = executable
        self.workdir = workdir
        self.port = _redis_free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _redis_answers(self.port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    redis = RedisProcess(tmp_path)
    yield redis
    if redis.process is not None and redis.process.poll() is None:
        redis.process.send_signal(18)  # SIGCONT, in case the test froze it
        redis.process.kill()
        redis.process.wait()


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    storage: dict[str, str] = field(default_factory=dict)  # id -> stored/pending/dropped
    errors: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return sum(1 for s in self.statuses if s == 200) / self.seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)


def run_load(url: str, clients: int, seconds: float, text: str = "Amen.") -> LoadResult:
    """``clients`` threads posting greedy translations back to back for ``seconds``."""
    result = LoadResult(seconds)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    response = http.post(f"{url}/v1/translate", json={"text": text, "beam_size": 1})
                except httpx.HTTPError as error:
                    with lock:
                        result.errors.append(repr(error))
                    continue
                elapsed = time.perf_counter() - started
                with lock:
                    result.statuses.append(response.status_code)
                    if response.status_code == 200:
                        result.latencies.append(elapsed)
                        for t in response.json()["translations"]:
                            result.storage[t["id"]] = t["storage"]

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result
