"""Soak: the real service under mixed traffic for a bounded number of minutes.

Greedy and beam translations, document fetches and heatmaps from concurrent clients,
with Redis stopped for a while in the middle when ``--redis`` is given. Prints, every
``--every`` seconds and at the end: requests by status, errors, latency percentiles,
the server's resident memory, and the write buffer's state.

    python -m bench.soak --model models/en-es --minutes 3 [--concurrency 16] [--redis]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np

from bench.load import SENTENCES, start_server


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start_redis() -> tuple[subprocess.Popen[bytes], str]:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("--redis needs redis-server (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return process, f"redis://127.0.0.1:{port}/0"


class Tally:
    def __init__(self) -> None:
        self.statuses: collections.Counter[str] = collections.Counter()
        self.latencies: list[float] = []
        self.ids: list[str] = []

    def report(self, label: str, pid: int, url: str) -> None:
        ms = np.array(self.latencies or [0.0]) * 1000
        ready = httpx.get(f"{url}/health/ready", timeout=5).json().get("store_details", {})
        print(
            f"{label}: {sum(self.statuses.values())} requests {dict(self.statuses)}; "
            f"p50 {np.percentile(ms, 50):.0f} ms, p95 {np.percentile(ms, 95):.0f} ms, "
            f"p99 {np.percentile(ms, 99):.0f} ms; RSS {_rss_mb(pid):.0f} MB; store "
            f"{ready.get('breaker')}, pending {ready.get('pending')}, "
            f"dropped {ready.get('dropped')}",
            flush=True,
        )


async def client(url: str, sentences: list[str], tally: Tally, stop_at: float) -> None:
    rng = random.Random()
    async with httpx.AsyncClient(timeout=60) as http:
        while time.monotonic() < stop_at:
            roll = rng.random()
            start = time.perf_counter()
            try:
                if roll < 0.15 and tally.ids:
                    doc_id = rng.choice(tally.ids)
                    suffix = rng.choice(["", "/alignment.svg", "/alignment.png"])
                    response = await http.get(f"{url}/v1/translations/{doc_id}{suffix}")
                else:
                    body = {
                        "text": rng.choice(sentences),
                        "beam_size": 1 if roll < 0.6 else 5,
                    }
                    response = await http.post(f"{url}/v1/translate", json=body)
                    if response.status_code == 200:
                        tally.ids.extend(t["id"] for t in response.json()["translations"])
                tally.statuses[str(response.status_code)] += 1
            except httpx.HTTPError as error:
                tally.statuses[type(error).__name__] += 1
                continue
            tally.latencies.append(time.perf_counter() - start)


async def soak(
    url: str, pid: int, args: argparse.Namespace, redis: subprocess.Popen[bytes] | None
) -> None:
    sentences = SENTENCES.read_text().splitlines()
    total = Tally()
    started = time.monotonic()
    stop_at = started + args.minutes * 60
    clients = [
        asyncio.create_task(client(url, sentences, total, stop_at)) for _ in range(args.concurrency)
    ]
    frozen = False
    outage = (started + args.minutes * 20, started + args.minutes * 20 + args.outage)
    while time.monotonic() < stop_at:
        await asyncio.sleep(min(args.every, max(0.1, stop_at - time.monotonic())))
        now = time.monotonic()
        if redis is not None and not frozen and outage[0] <= now < outage[1]:
            print("freezing Redis (SIGSTOP)", flush=True)
            redis.send_signal(signal.SIGSTOP)
            frozen = True
        if redis is not None and frozen and now >= outage[1]:
            print("Redis resumes (SIGCONT)", flush=True)
            redis.send_signal(signal.SIGCONT)
            frozen = False
        total.report(f"{now - started:5.0f} s", pid, url)
    await asyncio.gather(*clients)
    total.report("total", pid, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/en-es"))
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--every", type=float, default=15.0, help="seconds between reports")
    parser.add_argument("--redis", action="store_true", help="store in Redis, frozen a while")
    parser.add_argument("--outage", type=float, default=20.0, help="seconds Redis is frozen")
    args = parser.parse_args()
    redis, env = None, {}
    if args.redis:
        redis, redis_url = _start_redis()
        env["NMT_REDIS_URL"] = redis_url
    process, url = start_server(args.model, env)
    try:
        asyncio.run(soak(url, process.pid, args, redis))
    finally:
        process.terminate()
        process.wait(timeout=60)
        if redis is not None:
            redis.send_signal(signal.SIGCONT)
            redis.kill()


if __name__ == "__main__":
    main()
