"""Load benchmark: the real service under concurrent clients, against PyTorch eager.

Starts ``python -m service serve`` on a free port, sends test-split sentences of 22 to
28 words (median 25) at concurrency 1, 8 and 64 with greedy and beam-5 search, and
prints requests/s, target tokens/s and latency percentiles. Then decodes the same
sentences with PyTorch eager inference of the same weights (rebuilt from the ONNX
artifact), one request at a time as a plain PyTorch server would, and prints the ratios.

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

SENTENCES = Path(__file__).with_name("sentences_en.txt")
# Ceiling from the FLOP count of one decoder step (about 7 MFLOP per row for embedding 256,
# hidden 256 and 8,000 pieces) on 2 cores: about 11,000 decoder rows/s at batch 1 and
# 35,000 at batch 64. "ceiling" in the table is the fraction of it reached.
CEILING_TOKENS_PER_S = {1: 11_000, 8: 25_000, 64: 35_000}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model: Path, env_extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    store = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    env = {
        **os.environ,
        "NMT_MODEL_DIR": str(model),
        "NMT_STORE_PATH": str(store),
        "NMT_LOG_LEVEL": "warning",
        **env_extra,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port)],
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
    url: str, sentences: list[str], concurrency: int, beam: int, requests: int
) -> dict[str, Any]:
    latencies: list[float] = []
    tokens = 0
    errors = 0
    counter = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal tokens, errors
        for n in counter:
            body = {"text": sentences[n % len(sentences)], "beam_size": beam}
            start = time.perf_counter()
            response = await client.post(f"{url}/v1/translate", json=body)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                errors += 1
                continue
            tokens += len(response.json()["translations"][0]["alignment"]["target_tokens"])

    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(min(4, concurrency))))  # warm
        latencies.clear()
        tokens, errors = 0, 0
        counter = iter(range(requests))
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
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


def torch_eager(
    model_dir: Path, sentences: list[str], beam: int, requests: int, threads: int
) -> dict[str, Any]:
    """The same weights in PyTorch eager mode, one request at a time."""
    import torch

    from model_export.export import rebuild_torch_model
    from model_export.parity import torch_encode, torch_step_function
    from service.inference.artifact import load_artifact
    from service.inference.search import SearchOptions, beam_search, top_k_step
    from service.inference.tokenizer import Tokenizer

    torch.set_num_threads(threads)
    artifact = load_artifact(model_dir)
    tokenizer = Tokenizer(
        artifact.source_tokenizer_path, artifact.target_tokenizer_path, artifact.special_tokens.eos
    )
    model = rebuild_torch_model(model_dir)
    special = artifact.special_tokens
    latencies, tokens = [], 0
    for n in range(requests):
        start = time.perf_counter()
        ids = tokenizer.encode_source(sentences[n % len(sentences)]).ids
        encoded = torch_encode(model, np.array([ids]), np.array([len(ids)]))
        hyps = beam_search(
            top_k_step(torch_step_function(model, encoded)),
            encoded.init_state,
            [len(ids)],
            special.bos,
            special.eos,
            SearchOptions(beam_size=beam),
        )
        tokenizer.decode_target(hyps[0][0].tokens)
        latencies.append(time.perf_counter() - start)
        tokens += len(hyps[0][0].tokens)
    total = sum(latencies)
    return {
        "beam": beam,
        "requests_per_s": requests / total,
        "target_tokens_per_s": tokens / total,
        "p50_ms": statistics.median(latencies) * 1000,
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
    parser.add_argument("--precision", choices=["fp32", "int8"], default="fp32")
    parser.add_argument("--skip-torch", action="store_true", help="no PyTorch comparison")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    sentences = SENTENCES.read_text().splitlines()
    process, url = start_server(
        args.model,
        {
            "NMT_INTRA_OP_THREADS": str(args.threads),
            "NMT_MAX_BATCH_SIZE": str(args.max_batch_size),
            "NMT_MAX_WAIT_MS": str(args.max_wait_ms),
            "NMT_MAX_QUEUE": "4096",
            "NMT_PRECISION": args.precision,
        },
    )
    provider = httpx.get(f"{url}/v1/models").json()["models"][0]["execution_provider"]
    results = []
    try:
        for beam in args.beams:
            for concurrency in args.concurrency:
                requests = args.requests or max(40, 4 * concurrency)
                results.append(asyncio.run(run_load(url, sentences, concurrency, beam, requests)))
    finally:
        process.terminate()
        process.wait(timeout=30)
    eager = (
        {}
        if args.skip_torch
        else {
            beam: torch_eager(args.model, sentences, beam, 40, args.threads) for beam in args.beams
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
        ceiling = CEILING_TOKENS_PER_S.get(row["concurrency"], 35_000)
        row["speedup_vs_concurrency_1"] = row["requests_per_s"] / base["requests_per_s"]
        torch_rate = eager[row["beam"]]["requests_per_s"] if eager else float("nan")
        row["speedup_vs_torch_eager"] = row["requests_per_s"] / torch_rate
        # Beam search runs beam_size decoder rows per output token.
        row["fraction_of_ceiling"] = row["target_tokens_per_s"] * row["beam"] / ceiling
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
    if args.json:
        args.json.write_text(
            json.dumps({"service": results, "torch_eager": eager, "provider": provider}, indent=2)
        )


if __name__ == "__main__":
    main()
