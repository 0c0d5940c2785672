"""Builds the CPU image with podman on a locally made base and runs it (slow; not in CI).

Runs scripts/container-smoke.sh: debootstrap a Debian base, build the project's Dockerfile
on it, start the container, wait for /health/ready, translate one sentence over HTTP,
fetch its alignment and stop the container with SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "container-smoke.sh"

pytestmark = pytest.mark.container


def test_container_smoke() -> None:
    if os.environ.get("NMT_CONTAINER_TESTS") != "1":
        pytest.skip("set NMT_CONTAINER_TESTS=1 to build and run the image with podman")
    if shutil.which("podman") is None:
        pytest.skip("podman not installed: apt-get install podman buildah runc debootstrap")
    if os.geteuid() != 0:
        pytest.skip("the podman recipe (chroot isolation, debootstrap) needs root")
    if not (ROOT / "models" / "en-es" / "model_config.json").is_file():
        pytest.skip("no bundled model in models/en-es to put in the image")
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "PASS build_seconds=" in result.stdout, output[-4000:]
