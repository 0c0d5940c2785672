"""Load benchmark: the real service under concurrent clients, against PyTorch eager and
against the machine's own limit.

1. Measures this machine's matrix-product rate at the decoder step's shapes (the faster of
   numpy and ONNX Runtime's MatMul) and, from the step's FLOP count, the ceiling in decoder
   rows/s at each batch size (``bench.ceiling``).
2. In process (no HTTP): ``Translator.translate`` on the bench sentences, greedy and beam 5
   at batch 1, 8, 32 and 64 (the best of three interleaved rounds), each as a fraction of
   the ceiling measured at its mean rows per step: for the whole decode (encoder, alignment
   head and results included) and for the decoder steps alone; and what the server adds per
   request around decoding (document + orjson body, SQLite store).
3. Starts ``python -m service serve`` on a free port, sends test-split sentences of 22 to
   28 words (median 25) at concurrency 1, 8 and 64 with greedy and beam-5 search from
   keep-alive connections of a lean client (``bench.http_client``), and prints requests/s,
   target tokens/s and latency percentiles; then the latency of lone greedy requests while
   clients keep 32-text beam-10 requests running (the scheduler's light/heavy policy).
4. Decodes the same sentences with PyTorch eager inference of the same weights (rebuilt
   from the ONNX artifact), one request at a time as a plain PyTorch server would.

    python -m bench.load --model models/en-es [--requests 64] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.ceiling import DecoderShapes, ceiling_rows_per_s
from bench.http_client import LeanConnection
from bench.in_process import decode_table, serving_costs
from bench.in_process import load as load_counting
from bench.torch_eager import torch_eager

SENTENCES = Path(__file__).with_name("sentences_en.txt")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    model: Path, env_extra: dict[str, str], code: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m service serve`` on a free port; ``code``: a source tree to run instead of
    this one (another commit's, for a comparison)."""
    port = _free_port()
    store = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    env = {
        **os.environ,
        "NMT_MODEL_DIR": str(model),
        "NMT_STORE_PATH": str(store),
        "NMT_LOG_LEVEL": "warning",
        **env_extra,
    }
    if code is not None:
        env["PYTHONPATH"] = str(code)  # ahead of this tree's editable install
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port)],
        cwd=code,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the service did not become ready")


async def run_load(
    url: str,
    sentences: list[str],
    concurrency: int,
    beam: int,
    requests: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``requests`` translations of ``sentences`` from ``concurrency`` keep-alive clients;
    ``extra``: more fields of every request body."""
    latencies: list[float] = []
    tokens = 0
    errors = 0
    counter = iter(range(concurrency))  # one request each to open the connections
    connections = [LeanConnection(url) for _ in range(concurrency)]
    bodies = [
        connections[0].request_bytes(
            "POST", "/v1/translate", {"text": s, "beam_size": beam, **(extra or {})}
        )
        for s in sentences
    ]

    async def worker(connection: LeanConnection) -> None:
        nonlocal tokens, errors
        for n in counter:
            start = time.perf_counter()
            reply = await connection.send(bodies[n % len(bodies)])
            latencies.append(time.perf_counter() - start)
            if reply.status != 200:
                errors += 1
                continue
            tokens += len(reply.json()["translations"][0]["alignment"]["target_tokens"])

    await asyncio.gather(*(worker(c) for c in connections))
    latencies.clear()
    tokens, errors = 0, 0
    counter = iter(range(requests))
    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - start
    for connection in connections:
        await connection.close()
    ms = np.array(latencies) * 1000
    return {
        "concurrency": concurrency,
        "beam": beam,
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": len(latencies) / elapsed,
        "target_tokens_per_s": tokens / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


async def light_next_to_heavy(
    url: str, sentences: list[str], heavy_clients: int, probes: int, heavy_texts: int = 32
) -> dict[str, float]:
    """p50 latency of lone greedy requests, alone and while ``heavy_clients`` clients keep
    ``heavy_texts``-text beam-10 requests decoding."""

    async def probe(connection: LeanConnection) -> list[float]:
        latencies = []
        for n in range(probes):
            body = {"text": sentences[n % len(sentences)], "beam_size": 1}
            request = connection.request_bytes("POST", "/v1/translate", body)
            start = time.perf_counter()
            reply = await connection.send(request)
            latencies.append(time.perf_counter() - start)
            if reply.status != 200:
                raise RuntimeError(f"probe answered {reply.status}: {reply.body[:200]!r}")
        return latencies

    stop = asyncio.Event()

    async def heavy(offset: int) -> None:
        connection = LeanConnection(url)
        texts = [sentences[(offset + i) % len(sentences)] for i in range(heavy_texts)]
        body = {"text": texts, "beam_size": 10, "return_attention": False}
        request = connection.request_bytes("POST", "/v1/translate", body)
        while not stop.is_set():
            await connection.send(request)
        await connection.close()

    prober = LeanConnection(url)
    alone = await probe(prober)
    loads = [asyncio.ensure_future(heavy(heavy_texts * n)) for n in range(heavy_clients)]
    await asyncio.sleep(2.0)  # the heavy batch is running
    beside = await probe(prober)
    stop.set()
    await asyncio.gather(*loads)
    await prober.close()
    return {
        "alone_p50_ms": statistics.median(alone) * 1000,
        "beside_heavy_p50_ms": statistics.median(beside) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=Path("models/en-es"))
    parser.add_argument(
        "--requests", type=int, default=0, help="requests per run (default: 40, or 4 x concurrency)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime / torch threads")
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--max-wait-ms", type=float, default=0.0)
    parser.add_argument("--max-batch-rows", type=int, default=1024, help="decoder rows a step")
    parser.add_argument("--precision", choices=["fp32", "int8"], default="fp32")
    parser.add_argument("--skip-torch", action="store_true", help="no PyTorch comparison")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=3, help="in-process rounds; each figure keeps its best"
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="service and PyTorch device"
    )
    parser.add_argument("--skip-mixed", action="store_true", help="no light-beside-heavy run")
    args = parser.parse_args()
    sentences = SENTENCES.read_text().splitlines()
    config = json.loads((args.model / "model_config.json").read_text())
    shapes = DecoderShapes.from_config(config["model"])
    ceilings = {b: ceiling_rows_per_s(shapes, b) for b in sorted({1, *args.batches, 256})}
    print(
        f"decoder step: {shapes.flops_per_row() / 1e6:.2f} MFLOP per row "
        f"(source length {shapes.source_length})"
    )
    for batch, (rate, rows) in ceilings.items():
        print(
            f"  matrix products at the step's shapes, {batch:>3} rows: {rate / 1e9:6.1f} GFLOP/s "
            f"-> ceiling {rows:8.0f} decoder rows/s"
        )

    def ceiling(rows_per_step: float) -> float:
        """The ceiling at the mean rows of a step, measured for that many rows."""
        rows = max(1, round(rows_per_step))
        if rows not in ceilings:
            ceilings[rows] = ceiling_rows_per_s(shapes, rows)
        return ceilings[rows][1]

    in_process: list[dict[str, Any]] = []
    costs: dict[str, float] = {}
    if not args.skip_in_process:
        translator = load_counting(args.model, args.precision, args.threads, args.device)
        in_process = decode_table(translator, sentences, args.beams, args.batches, args.rounds)
        costs = serving_costs(translator, sentences[0], Path(tempfile.mkdtemp()) / "s.sqlite3")
        print("in process (Translator.translate, no HTTP):")
        print(
            f"{'beam':>4} {'batch':>5} {'sent/s':>8} {'tok/s':>8} {'rows/s':>8} "
            f"{'rows/step':>9} {'ceiling':>8} {'in steps':>8} {'x batch1':>8}"
        )
        for row in in_process:
            base = next(r for r in in_process if r["beam"] == row["beam"] and r["batch"] == 1)
            limit = ceiling(row["rows_per_step"])
            row["fraction_of_ceiling"] = row["decoder_rows_per_s"] / limit
            row["steps_fraction_of_ceiling"] = row["step_rows_per_s"] / limit
            row["speedup_vs_batch_1"] = row["sentences_per_s"] / base["sentences_per_s"]
            print(
                f"{row['beam']:>4} {row['batch']:>5} {row['sentences_per_s']:>8.1f} "
                f"{row['target_tokens_per_s']:>8.0f} {row['decoder_rows_per_s']:>8.0f} "
                f"{row['rows_per_step']:>9.1f} {row['fraction_of_ceiling']:>8.2f} "
                f"{row['steps_fraction_of_ceiling']:>8.2f} "
                f"{row['speedup_vs_batch_1']:>8.2f}"
            )
        print(
            f"per request around decoding: document + orjson body "
            f"{costs['document_and_json_ms']:.2f} ms, SQLite store {costs['store_ms']:.2f} ms"
        )
    process, url = start_server(
        args.model,
        {
            "NMT_INTRA_OP_THREADS": str(args.threads),
            "NMT_MAX_BATCH_SIZE": str(args.max_batch_size),
            "NMT_MAX_BATCH_ROWS": str(args.max_batch_rows),
            "NMT_MAX_WAIT_MS": str(args.max_wait_ms),
            "NMT_MAX_QUEUE": "4096",
            "NMT_PRECISION": args.precision,
            "NMT_DEVICE": args.device,
        },
    )
    provider = httpx.get(f"{url}/v1/models").json()["models"][0]["execution_provider"]
    results = []
    mixed: dict[str, float] = {}
    try:
        for beam in args.beams:
            for concurrency in args.concurrency:
                requests = args.requests or max(40, 4 * concurrency)
                results.append(asyncio.run(run_load(url, sentences, concurrency, beam, requests)))
        if not args.skip_mixed:
            mixed = asyncio.run(light_next_to_heavy(url, sentences, 2, 20))
    finally:
        process.terminate()
        process.wait(timeout=30)
    eager = (
        {}
        if args.skip_torch
        else {
            beam: torch_eager(args.model, sentences, beam, 40, args.threads, args.device)
            for beam in args.beams
        }
    )

    print(
        f"service: {provider}, {args.precision}, {args.threads} threads, "
        f"max batch {args.max_batch_size}, "
        f"max wait {args.max_wait_ms} ms; sentences of 22-28 words (median 25)"
    )
    print(
        f"{'beam':>4} {'conc':>5} {'req/s':>8} {'tok/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'x conc1':>8} {'x torch':>8} {'ceiling':>8}"
    )
    for row in results:
        base = next(r for r in results if r["beam"] == row["beam"] and r["concurrency"] == 1)
        row["speedup_vs_concurrency_1"] = row["requests_per_s"] / base["requests_per_s"]
        torch_rate = eager[row["beam"]]["requests_per_s"] if eager else float("nan")
        row["speedup_vs_torch_eager"] = row["requests_per_s"] / torch_rate
        # Beam search runs about beam_size decoder rows per output token.
        rows_per_s = row["target_tokens_per_s"] * row["beam"]
        row["fraction_of_ceiling"] = rows_per_s / ceiling(min(64, row["concurrency"]) * row["beam"])
        print(
            f"{row['beam']:>4} {row['concurrency']:>5} {row['requests_per_s']:>8.1f} "
            f"{row['target_tokens_per_s']:>8.0f} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} "
            f"{row['p99_ms']:>8.1f} {row['speedup_vs_concurrency_1']:>8.2f} "
            f"{row['speedup_vs_torch_eager']:>8.2f} {row['fraction_of_ceiling']:>8.2f}"
        )
    for beam, row in eager.items():
        print(
            f"torch eager, beam {beam}, one request at a time: {row['requests_per_s']:.1f} "
            f"req/s, {row['target_tokens_per_s']:.0f} tok/s, p50 {row['p50_ms']:.1f} ms"
        )
    for row in results:
        same = [r for r in in_process if r["beam"] == row["beam"] and r["batch"] == 32]
        if same and row["concurrency"] == max(args.concurrency):
            row["fraction_of_in_process_batch_32"] = (
                row["requests_per_s"] / same[0]["sentences_per_s"]
            )
            print(
                f"HTTP beam {row['beam']} at concurrency {row['concurrency']}: "
                f"{row['fraction_of_in_process_batch_32']:.2f} of the in-process batch-32 rate"
            )
    if mixed:
        print(
            f"lone greedy requests: p50 {mixed['alone_p50_ms']:.1f} ms alone, "
            f"{mixed['beside_heavy_p50_ms']:.1f} ms beside two clients of 32-text beam-10 "
            f"requests ({mixed['beside_heavy_p50_ms'] / mixed['alone_p50_ms']:.2f}x)"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "ceilings": {
                        b: {"flops_per_s": r, "rows_per_s": c} for b, (r, c) in ceilings.items()
                    },
                    "in_process": in_process,
                    "serving_costs": costs,
                    "service": results,
                    "light_next_to_heavy": mixed,
                    "torch_eager": eager,
                    "provider": provider,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
