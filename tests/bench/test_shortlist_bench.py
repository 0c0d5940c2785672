"""The shortlist bench on the tiny model: one table row per precision and setting, BLEU and
candidates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_bench_prints_the_full_vocabulary_and_each_setting(
    tiny_shortlist_artifact: Path, tiny_data: Path
) -> None:
    command = [sys.executable, "-m", "bench.shortlist", "--model", str(tiny_shortlist_artifact)]
    command += ["--data", str(tiny_data), "--limit", "6", "--k", "2,5", "--frequent", "10"]
    command += ["--beams", "1,2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| ")]
    settings = [[cell.strip() for cell in row] for row in rows[1:]]
    names = [[p, k] for p in ("fp32", "int8") for k in ("full", "2/10", "5/10")]
    assert [row[:2] for row in settings] == names
    for precision in (settings[:3], settings[3:]):
        vocabulary, small, larger = (float(row[2]) for row in precision)
        assert small <= larger < vocabulary
    assert all(row[5].startswith(("+", "-")) and row[8].startswith(("+", "-")) for row in settings)
    assert settings[0][5] == settings[0][8] == "+0.00"  # the reference: fp32, full vocabulary
