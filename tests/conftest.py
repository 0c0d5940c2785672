"""Fixtures shared by every test package."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# --- redis_server: a real, throwaway redis-server for the session ----------------------------


def _redis_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL (``redis://127.0.0.1:PORT/0``) of a redis-server started for this test session.

    Nothing is persisted; the server is terminated when the session ends. Tests sharing it
    should use their own key prefix.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server not installed: apt-get install redis-server")
    workdir: Path = tmp_path_factory.mktemp("redis")
    port = _redis_free_port()
    log = (workdir / "redis.log").open("wb")
    process = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10.0
        while not _redis_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                output = (workdir / "redis.log").read_text(errors="replace")
                pytest.fail(f"redis-server on port {port} did not start:\n{output}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# --- end redis_server -------------------------------------------------------------------------


# --- tiny_artifact: a small model trained on the fixture corpus and exported -------------

FIXTURE_CORPUS = Path(__file__).parent / "fixtures" / "bible_en_es_400.tsv"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture corpus prepared like a real one: splits, SentencePiece models and the
    word aligner's links (``word-align``)."""
    from model_export.corpus import read_tsv, split_by_hash
    from model_export.dataset import prepare
    from model_export.word_alignment import align_corpus

    data_dir = tmp_path_factory.mktemp("tiny") / "data"
    splits = split_by_hash(read_tsv(FIXTURE_CORPUS), dev_fraction=0.05, test_fraction=0.05)
    prepare(
        splits,
        data_dir,
        vocab_size=400,
        description={"name": "fixture", "source_lang": "en", "target_lang": "es"},
    )
    align_corpus(data_dir)
    return data_dir


def _tiny_model_config() -> Any:
    """The sizes of the tiny models: 32 everywhere, with an alignment head."""
    from model_export.model import ModelConfig

    return ModelConfig(
        1,
        1,
        embedding_size=32,
        encoder_hidden_size=32,
        decoder_hidden_size=32,
        attention_size=32,
        output_size=32,
        dropout=0.0,
        alignment_head=True,
    )


@pytest.fixture(scope="session")
def tiny_run(tiny_data: Path) -> Path:
    """A run directory with a small attention model trained for a few epochs, with guided
    alignment and an alignment head."""
    from model_export.train import TrainConfig, train

    run_dir = tiny_data.parent / "run"
    train(
        tiny_data,
        run_dir,
        _tiny_model_config(),
        TrainConfig(
            epochs=4,
            batch_tokens=800,
            threads=1,
            learning_rate=5e-3,
            patience=10,
            guided_alignment=0.5,
        ),
    )
    return run_dir


@pytest.fixture(scope="session")
def tiny_artifact(tiny_run: Path, tiny_data: Path) -> Path:
    """The tiny model exported to an artifact directory, as the service loads it."""
    from model_export.export import write_artifact
    from model_export.train import load_model

    model, _ = load_model(tiny_run / "best.pt")
    out = tiny_run.parent / "model"
    write_artifact(
        model,
        tiny_data,
        out,
        {
            "name": "tiny-en-es",
            "version": "test",
            "source_lang": "en",
            "target_lang": "es",
            "scores": {"test": {"bleu_beam": 0.0}},
        },
    )
    return out


@pytest.fixture(scope="session")
def tiny_shortlist_artifact(tiny_artifact: Path, tiny_data: Path) -> Path:
    """A copy of the tiny artifact with a lexical shortlist built from the fixture
    corpus's word alignment (k 10, the 20 most frequent pieces)."""
    from model_export.shortlist import install_shortlist

    out = tiny_artifact.parent / "model-shortlist"
    shutil.copytree(tiny_artifact, out)
    install_shortlist(out, tiny_data, k=10, frequent=20)
    return out


@pytest.fixture(scope="session")
def tiny_reverse_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture corpus the other way round, Spanish to English, trained and exported
    like the tiny model: the second direction of a two-model service."""
    from model_export.corpus import read_tsv, reverse_splits, split_by_hash
    from model_export.dataset import prepare
    from model_export.export import write_artifact
    from model_export.train import TrainConfig, load_model, train
    from model_export.word_alignment import align_corpus

    root = tmp_path_factory.mktemp("tiny-es-en")
    data_dir, run_dir = root / "data", root / "run"
    splits = split_by_hash(read_tsv(FIXTURE_CORPUS), dev_fraction=0.05, test_fraction=0.05)
    prepare(
        reverse_splits(splits),
        data_dir,
        vocab_size=400,
        description={"name": "fixture", "source_lang": "es", "target_lang": "en"},
    )
    align_corpus(data_dir)
    train(
        data_dir,
        run_dir,
        _tiny_model_config(),
        TrainConfig(epochs=3, batch_tokens=800, threads=1, learning_rate=5e-3, patience=10),
    )
    model, _ = load_model(run_dir / "best.pt")
    out = root / "model"
    metadata = {"name": "tiny-es-en", "version": "test", "source_lang": "es", "target_lang": "en"}
    write_artifact(model, data_dir, out, metadata)
    return out


@pytest.fixture(scope="session")
def tiny_models_dir(
    tiny_artifact: Path, tiny_reverse_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A models directory holding both tiny directions (``NMT_MODELS_DIR``)."""
    root = tmp_path_factory.mktemp("models")
    (root / "en-es").symlink_to(tiny_artifact, target_is_directory=True)
    (root / "es-en").symlink_to(tiny_reverse_artifact, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def headless_artifact(tiny_artifact: Path) -> Path:
    """The tiny model without its alignment head graph, as an older artifact is."""
    import json

    out = tiny_artifact.parent / "model-without-head"
    shutil.copytree(tiny_artifact, out)
    config = json.loads((out / "model_config.json").read_text())
    (out / config.pop("alignment_head")).unlink()
    config["model"]["alignment_head"] = False
    (out / "model_config.json").write_text(json.dumps(config, indent=2))
    return out


# --- live_server: the real service, started with uvicorn on a free port -------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """A ``python -m service serve`` subprocess; ``url`` is its base address."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        args: list[str] | None = None,
        port: int | None = None,
    ) -> None:
        import os
        import sys

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *(args or []),
            ],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready in {timeout} s: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> int:
        """SIGTERM, as an orchestrator sends it; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return int(self.process.returncode)


@pytest.fixture
def start_server(tiny_artifact: Path, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start servers with extra ``NMT_*`` settings; all are stopped after the test.

    By default each server uses the tiny model and a SQLite store in the test's tmp dir.
    """
    servers: list[LiveServer] = []

    def start(
        args: list[str] | None = None, port: int | None = None, **settings: str
    ) -> LiveServer:
        env = {
            "NMT_MODEL_DIR": str(tiny_artifact),
            "NMT_STORE_PATH": str(tmp_path / "alignments.sqlite3"),
            "NMT_INTRA_OP_THREADS": "1",
            "NMT_LOG_LEVEL": "info",
            # A healthy store answers "stored" within this, however busy the machine.
            "NMT_STORE_WAIT_MS": "1000",
        }
        env.update({f"NMT_{key.upper()}": value for key, value in settings.items()})
        server = LiveServer(env, tmp_path / f"server-{len(servers)}.log", args, port)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def module_server(tmp_path_factory: pytest.TempPathFactory, **models: str) -> LiveServer:
    """A server with default settings on the models given (``NMT_MODEL_DIR=...`` or
    ``NMT_MODELS_DIR=...``) and a SQLite store of its own."""
    tmp = tmp_path_factory.mktemp("server")
    return LiveServer(
        {
            **models,
            "NMT_STORE_PATH": str(tmp / "alignments.sqlite3"),
            "NMT_INTRA_OP_THREADS": "1",
            "NMT_STORE_WAIT_MS": "1000",
        },
        tmp / "server.log",
    )


@pytest.fixture(scope="module")
def shared_server(
    tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server with default settings for all tests of a module."""
    server = module_server(tmp_path_factory, NMT_MODEL_DIR=str(tiny_artifact))
    yield server
    server.stop()
