"""This tree's service against another commit's, over HTTP, on the same machine in one run.

The other commit's tree is extracted with ``git archive`` into a temporary directory and
served from there (its own code and its own bundled model); both servers run at once, idle
while the other is measured, and every round measures both, alternating which goes first,
so that a slow spell of a shared machine falls on both. Each figure keeps its best round:

- a lone greedy request (25-word test sentences, one client): p50 latency;
- 64 clients of greedy and of beam-5 requests: requests/s;
- the same lone greedy request while two clients keep 8-text beam-10 requests decoding:
  its p50 latency and the ratio to its time alone (the scheduler means it to stay within
  about 2x plus a step).

Each server runs with its own defaults unless ``--env NAME=VALUE`` (this tree only) says
otherwise. The last column is this tree's figure over the other's: above 1 is better.

    python -m bench.versus --baseline f0665cd [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import httpx

from bench.load import SENTENCES, light_next_to_heavy, run_load, start_server

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def checkout(commit: str) -> Iterator[Path]:
    """The tree of ``commit``, extracted into a temporary directory."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix=f"versus-{commit[:10]}-") as directory:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            # The archive is this repository's own; the "data" filter where the Python has
            # it (3.11.4 on: Debian 12's 3.11.2 has not).
            if hasattr(tarfile, "data_filter"):
                tar.extractall(directory, filter="data")
            else:
                tar.extractall(directory)
        yield Path(directory)


def measure(url: str, sentences: list[str], requests: int) -> dict[str, float]:
    lone = asyncio.run(run_load(url, sentences, 1, 1, 40))
    greedy = asyncio.run(run_load(url, sentences, 64, 1, requests))
    beam = asyncio.run(run_load(url, sentences, 64, 5, requests))
    mixed = asyncio.run(light_next_to_heavy(url, sentences, 2, 20, heavy_texts=8))
    if lone["errors"] or greedy["errors"] or beam["errors"]:
        raise RuntimeError(f"{url}: requests failed")
    return {
        "lone_p50_ms": lone["p50_ms"],
        "greedy_c64_rps": greedy["requests_per_s"],
        "beam5_c64_rps": beam["requests_per_s"],
        "alone_p50_ms": mixed["alone_p50_ms"],
        "beside_heavy_p50_ms": mixed["beside_heavy_p50_ms"],
        "beside_heavy_ratio": mixed["beside_heavy_p50_ms"] / mixed["alone_p50_ms"],
    }


LOWER_IS_BETTER = {"lone_p50_ms", "alone_p50_ms", "beside_heavy_p50_ms", "beside_heavy_ratio"}
LABELS = {
    "lone_p50_ms": "lone greedy request, p50 ms",
    "greedy_c64_rps": "greedy at concurrency 64, requests/s",
    "beam5_c64_rps": "beam 5 at concurrency 64, requests/s",
    "beside_heavy_p50_ms": "lone greedy beside 8-text beam-10 batches, p50 ms",
    "beside_heavy_ratio": "... over its time alone",
}


def best(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {
        key: (min if key in LOWER_IS_BETTER else max)(r[key] for r in rounds) for key in rounds[0]
    }


def served_paths(url: str) -> int:
    return len(httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default="f0665cd", help="the commit to compare with")
    parser.add_argument("--model", default="models/en-es", help="relative to each tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=256, help="per concurrency-64 run")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE, this tree")
    args = parser.parse_args()
    sentences = SENTENCES.read_text().splitlines()
    ours_env = dict(item.split("=", 1) for item in args.env)

    with checkout(args.baseline) as old_tree:
        servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        try:
            servers["baseline"] = start_server(old_tree / args.model, {}, code=old_tree)
            servers["this tree"] = start_server(ROOT / args.model, ours_env)
            for name, (_, url) in servers.items():
                print(f"{name}: {served_paths(url)} API paths at {url}", flush=True)
            figures: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            for round_ in range(args.rounds):
                order = list(servers) if round_ % 2 == 0 else list(servers)[::-1]
                for name in order:
                    figures[name].append(measure(servers[name][1], sentences, args.requests))
                    print(f"round {round_ + 1}, {name}: {figures[name][-1]}", flush=True)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=30)

    old, new = best(figures["baseline"]), best(figures["this tree"])
    print(
        f"\nBest of {args.rounds} alternated rounds; baseline {args.baseline}"
        f"{', this tree with ' + ' '.join(args.env) if args.env else ''}"
    )
    print(f"| figure | {args.baseline} | this tree | this tree's gain |")
    print("|---|---|---|---|")
    for key, label in LABELS.items():
        gain = old[key] / new[key] if key in LOWER_IS_BETTER else new[key] / old[key]
        print(f"| {label} | {old[key]:.2f} | {new[key]:.2f} | {gain:.2f}x |")
    for name, rounds in figures.items():
        lone = [r["lone_p50_ms"] for r in rounds]
        print(f"{name}: lone p50 over the rounds {min(lone):.2f} to {max(lone):.2f} ms")


if __name__ == "__main__":
    main()
