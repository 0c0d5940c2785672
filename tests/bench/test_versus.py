"""The A/B bench's parts that need no server: another commit's tree and the best round."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.versus import ROOT, best, checkout


def test_checkout_extracts_the_commits_tree() -> None:
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    with checkout(head) as tree:
        assert (tree / "service" / "__main__.py").exists()
        assert (tree / "models" / "en-es" / "model_config.json").exists()
        kept = tree
    assert not Path(kept).exists()


def test_best_keeps_the_lowest_latency_and_the_highest_rate() -> None:
    rounds = [
        {"lone_p50_ms": 12.0, "greedy_c64_rps": 150.0, "beside_heavy_ratio": 2.5},
        {"lone_p50_ms": 10.0, "greedy_c64_rps": 140.0, "beside_heavy_ratio": 3.0},
    ]
    assert best(rounds) == {"lone_p50_ms": 10.0, "greedy_c64_rps": 150.0, "beside_heavy_ratio": 2.5}
