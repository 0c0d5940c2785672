"""ONNX Runtime sessions: the process-wide thread pool gives what per-session pools give.

ONNX Runtime makes its global pool once per process and refuses sessions with pools of
their own after that, so the checks run in a fresh interpreter where no test has made one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]

SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from service.inference.runtime import RuntimeOptions
from service.inference.search import SearchOptions
from service.inference.translator import Translator

texts = Path("bench/sentences_en.txt").read_text().splitlines()[:6]
out, translators = {}, {}

def decode(name, translator):
    results = translator.translate(texts, SearchOptions(beam_size=3))
    out[name] = {
        "shared": translator.model.shared_threads,
        "tokens": [r.target_tokens for r in results],
        "scores": [r.score for r in results],
        "attention": [np.asarray(r.attention).tolist() for r in results],
    }

runs = {
    "own": RuntimeOptions(device="cpu", intra_op_threads=2, shared_threads=False),
    "shared": RuntimeOptions(device="cpu", intra_op_threads=1),  # makes the pool
    "another_size": RuntimeOptions(device="cpu", intra_op_threads=2),
    "own_after": RuntimeOptions(device="cpu", intra_op_threads=2, shared_threads=False),
}
for name, options in runs.items():
    translators[name] = Translator.from_directory(Path(sys.argv[1]), runtime=options)
    decode(name, translators[name])
decode("own_again", translators["own"])  # sessions made before the pool still run
print(json.dumps(out))
"""


def test_the_shared_pool_serves_every_session_once_made_and_decodes_as_own_pools(
    tiny_artifact: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_artifact)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads(done.stdout)
    assert runs["own"]["shared"] is False
    assert runs["shared"]["shared"] is True
    assert runs["another_size"]["shared"] is True  # one pool per process, of the first size
    assert runs["own_after"]["shared"] is True
    for name in ("shared", "another_size", "own_after", "own_again"):
        assert runs[name]["tokens"] == runs["own"]["tokens"]
        assert runs[name]["scores"] == runs["own"]["scores"]
        assert runs[name]["attention"] == runs["own"]["attention"]
