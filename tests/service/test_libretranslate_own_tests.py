"""LibreTranslate's own API tests (``libretranslate/tests/test_api/test_api_*.py`` from the
pinned ``libretranslate`` wheel, installed with ``--no-deps`` by the test setup) run over
HTTP against the real server.

Their package imports LibreTranslate's translation engine, so they cannot be collected in
place: the modules are copied at test time into a temporary directory beside a conftest
whose ``client`` fixture talks HTTP to the server, and run by pytest in a subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import LiveServer

CONFTEST = '''
import json
import os

import httpx
import pytest


class Response:
    """What the tests read of a Flask test response."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.data = response.content
        try:
            self.json = json.loads(self.data)
        except ValueError:
            self.json = None


class Client:
    def __init__(self, url):
        self.http = httpx.Client(base_url=url, timeout=60)

    def get(self, path):
        return Response(self.http.get(path))

    def post(self, path, data=None, json=None):
        return Response(self.http.post(path, data=data, json=json))


@pytest.fixture()
def client():
    return Client(os.environ["LIBRETRANSLATE_URL"])
'''


def libretranslate_test_api() -> Path:
    spec = importlib.util.find_spec("libretranslate")  # finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("libretranslate not installed: bash scripts/install-test-services.sh")
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "test_api"


def test_libretranslate_api_tests_pass_over_http(shared_server: LiveServer, tmp_path: Path) -> None:
    modules = sorted(libretranslate_test_api().glob("test_api_*.py"))
    assert modules, "the libretranslate wheel ships no test_api modules"
    expected = 0
    for module in modules:
        shutil.copy(module, tmp_path / module.name)
        expected += len(re.findall(r"^def test_", module.read_text(), re.MULTILINE))
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    report = tmp_path / "report.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=tmp_path,
        env={**os.environ, "LIBRETRANSLATE_URL": shared_server.url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    cases = list(ET.parse(report).getroot().iter("testcase"))
    outcomes = {"failure", "error", "skipped"}
    failed = [case.get("name") for case in cases if any(c.tag in outcomes for c in case)]
    assert run.returncode == 0 and not failed, f"{failed}\n{run.stdout[-4000:]}{run.stderr}"
    assert len(cases) == expected >= 14, run.stdout
