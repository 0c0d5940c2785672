"""What the links from both directions cost a translation: ``/v1/translate`` with
``links: "forward"`` (the default) against ``links: "agreement"`` (the reverse model run
teacher-forced over each (translation, source) pair through its own scheduler), on the same
server serving both directions, alternating, the best of ``--rounds`` rounds each: a lone
greedy request's p50, and greedy requests/s at concurrency 8.

    python -m bench.links [--models models] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bench.load import SENTENCES, run_load, start_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=Path("models"), help="both directions")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sentences = SENTENCES.read_text().splitlines()
    process, url = start_server(args.models / "en-es", {"NMT_MODELS_DIR": str(args.models)})
    best: dict[str, dict[str, float]] = {}
    try:
        for round_ in range(args.rounds):
            order = ["forward", "agreement"] if round_ % 2 == 0 else ["agreement", "forward"]
            for links in order:
                extra = {"links": links, "source_lang": "en", "target_lang": "es"}
                lone = asyncio.run(run_load(url, sentences, 1, 1, 40, extra))
                busy = asyncio.run(run_load(url, sentences, 8, 1, 160, extra))
                if lone["errors"] or busy["errors"]:
                    raise RuntimeError(f"links {links}: requests failed")
                kept = best.setdefault(links, {"p50_ms": float("inf"), "rps": 0.0})
                kept["p50_ms"] = min(kept["p50_ms"], lone["p50_ms"])
                kept["rps"] = max(kept["rps"], busy["requests_per_s"])
    finally:
        process.terminate()
        process.wait(timeout=30)
    forward, agreement = best["forward"], best["agreement"]
    print(f"greedy, en-es, best of {args.rounds} alternated rounds")
    print("| links | lone request p50 ms | requests/s at concurrency 8 |")
    print("|---|---|---|")
    for name, row in best.items():
        print(f"| {name} | {row['p50_ms']:.1f} | {row['rps']:.1f} |")
    print(
        f"agreement costs {agreement['p50_ms'] / forward['p50_ms']:.2f}x the lone latency and "
        f"leaves {agreement['rps'] / forward['rps']:.2f}x the throughput"
    )


if __name__ == "__main__":
    main()
