"""The pipeline's command line, run as a user runs it: prepare, train, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]
FIXTURE_CORPUS = REPO / "tests" / "fixtures" / "bible_en_es_400.tsv"


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "model_export", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    return result


def test_prepare_train_export(tmp_path: Path) -> None:
    data, run, artifact = tmp_path / "data", tmp_path / "run", tmp_path / "artifact"

    run_cli("prepare", "--tsv", FIXTURE_CORPUS, "--out", data, "--vocab-size", "300")
    for name in ("train.tsv", "dev.tsv", "test.tsv", "source.model", "target.model"):
        assert (data / name).is_file(), name
    corpus = json.loads((data / "corpus.json").read_text())
    assert sum(corpus["pairs"].values()) == 400
    assert corpus["pairs"]["train"] > corpus["pairs"]["dev"] > 0

    run_cli(
        "train",
        "--data",
        data,
        "--run",
        run,
        "--embedding-size",
        "16",
        "--hidden-size",
        "16",
        "--epochs",
        "1",
        "--threads",
        "1",
    )
    assert (run / "best.pt").is_file()
    assert (run / "last.pt").is_file()
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in log] == [1]

    result = run_cli("export", "--checkpoint", run / "best.pt", "--out", artifact)
    parity = json.loads(result.stdout.strip().splitlines()[-1])
    assert parity["ok"] is True
    assert parity["cases"] > 0
    for name in (
        "encoder.onnx",
        "decoder_step.onnx",
        "int8/encoder.onnx",
        "int8/decoder_step.onnx",
        "source.spm",
        "target.spm",
    ):
        assert (artifact / name).is_file(), name
    config = json.loads((artifact / "model_config.json").read_text())
    assert config["model"]["embedding_size"] == 16
    assert config["model"]["encoder_hidden_size"] == 16
    assert config["training"]["epochs"] == 1
    assert config["training_data"]["pairs"] == corpus["pairs"]
    assert not list(artifact.rglob("*.pt"))
