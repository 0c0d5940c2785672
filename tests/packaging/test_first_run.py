"""A first run as a new user makes it: a wheel in a fresh virtual environment, and the
Makefile on a Python that refuses installs into itself (PEP 668). Both install the serving
dependencies for real (from pip's cache after the first run)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = Path("/usr/bin/python3")
pytestmark = pytest.mark.install


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return result


def clean_env() -> dict[str, str]:
    """The environment without this test run's settings and virtual environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NMT_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the project's wheel and its dependencies."""
    tmp = tmp_path_factory.mktemp("wheel")
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "-w", tmp / "dist", REPO, cwd=tmp,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("bahdanau_serve-*.whl")
    venv = tmp / "venv"
    assert run(sys.executable, "-m", "venv", venv, cwd=tmp).returncode == 0
    installed = run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=tmp)
    assert installed.returncode == 0, installed.stderr
    return venv


def test_the_wheel_runs_from_its_own_install_without_torch(wheel_venv: Path) -> None:
    probe = run(
        wheel_venv / "bin" / "python",
        "-c",
        "import importlib.util, service; print(service.__file__);"
        "print(importlib.util.find_spec('torch') is not None);"
        "from service.api.routes.explorer import PAGE, STATIC_DIR;"
        "print(PAGE.is_file() and (STATIC_DIR / 'explorer.js').is_file())",
        cwd=wheel_venv,
        env=clean_env(),
    )
    assert probe.returncode == 0, probe.stderr
    location, has_torch, has_explorer = probe.stdout.split()
    assert Path(location).is_relative_to(wheel_venv)
    assert has_torch == "False"
    assert has_explorer == "True"  # the page's files are package data
    usage = run(wheel_venv / "bin" / "bahdanau-serve", "--help", cwd=wheel_venv)
    assert usage.returncode == 0
    assert "{serve,translate" in usage.stdout


def test_without_a_model_the_message_says_what_to_set(wheel_venv: Path, tmp_path: Path) -> None:
    result = run(
        wheel_venv / "bin" / "bahdanau-serve", "translate", "Amen.", cwd=tmp_path, env=clean_env()
    )
    assert result.returncode != 0
    assert "NMT_MODEL_DIR" in result.stderr
    assert "--model-dir" in result.stderr
    assert "models/en-es" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_model_in_the_working_directory_is_found(
    wheel_venv: Path, tiny_artifact: Path, tmp_path: Path
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "en-es").symlink_to(tiny_artifact, target_is_directory=True)
    for command in (
        [wheel_venv / "bin" / "bahdanau-serve", "translate"],
        [wheel_venv / "bin" / "python", "-m", "service", "translate"],
    ):
        result = run(*command, "--beam-size", "2", "Amen.", cwd=tmp_path, env=clean_env())
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[1].startswith("score ")


@pytest.mark.skipif(
    not (DEBIAN_PYTHON / "../../lib/python3.11/EXTERNALLY-MANAGED").resolve().is_file()
    or shutil.which("make") is None,
    reason="needs make and Debian's /usr/bin/python3, which refuses system installs (PEP 668)",
)
def test_make_serve_on_a_python_that_refuses_system_installs(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    refused = run(DEBIAN_PYTHON, "-m", "pip", "install", "--dry-run", "six", cwd=tmp_path)
    assert refused.returncode != 0  # externally managed (or no pip at all): no system installs
    venv = tmp_path / "venv"
    port = free_port()
    env = {
        **clean_env(),
        "NMT_MODEL_DIR": str(tiny_artifact),
        "NMT_STORE_PATH": str(tmp_path / "alignments.sqlite3"),
        "NMT_INTRA_OP_THREADS": "1",
    }
    log = (tmp_path / "make.log").open("wb")
    make = subprocess.Popen(
        ["make", "serve", f"PYTHON={DEBIAN_PYTHON}", f"VENV={venv}", f"PORT={port}"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 540
        while time.monotonic() < deadline and make.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("make serve did not serve: " + (tmp_path / "make.log").read_text()[-3000:])
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5)
        assert models.json()["models"][0]["name"] == "tiny-en-es"
        explorer = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert "Alignment explorer" in explorer.text
        assert (venv / "bin" / "python").resolve().is_relative_to(DEBIAN_PYTHON.resolve().parent)
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=60)
        log.close()
