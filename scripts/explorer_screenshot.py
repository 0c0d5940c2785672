"""Draws docs/explorer.png: the explorer over the bundled model, in Debian's chromium.

python scripts/explorer_screenshot.py [--out docs/explorer.png] [--model-dir models/en-es]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

SENTENCE = "In the beginning God created the heaven and the earth."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/explorer.png"))
    parser.add_argument("--model-dir", type=Path, default=Path("models/en-es"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "NMT_MODEL_DIR": str(args.model_dir),
            "NMT_STORE_PATH": f"{tmp}/alignments.sqlite3",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(port)], env=env
        )
        try:
            deadline = time.monotonic() + 60
            while not _ready(url):
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("the server did not start")
                time.sleep(0.2)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(
                    executable_path=args.chromium, args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(url + "/")
                page.fill("#source", SENTENCE)
                page.click("#submit")
                page.wait_for_selector("#result:not([hidden])", timeout=30_000)
                page.check("#show-links")
                page.click("#step-next")
                page.click("#step-next")
                page.hover('#target-words [data-t="2"]')
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"wrote {args.out}")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
