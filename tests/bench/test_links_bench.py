"""The links bench over the two tiny models: both rows printed, and the ratio line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_bench_prints_forward_and_agreement(tiny_models_dir: Path) -> None:
    command = [sys.executable, "-m", "bench.links", "--models", str(tiny_models_dir)]
    command += ["--rounds", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows[1:]] == ["forward", "agreement"]
    assert "agreement costs" in result.stdout
