"""Static checks of the Dockerfile and .dockerignore (building the image is test_container)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [arg for name, arg in self.instructions if name == instruction]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return _instructions(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def stages(instructions: list[tuple[str, str]]) -> list[Stage]:
    result: list[Stage] = []
    for name, arg in instructions:
        if name == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", arg, re.IGNORECASE)
            assert match, arg
            result.append(Stage(match[1], match[2]))
        elif result:
            result[-1].instructions.append((name, arg))
    return result


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


def _global_args(instructions: list[tuple[str, str]]) -> dict[str, str]:
    before_from = instructions[: [n for n, _ in instructions].index("FROM")]
    args = {}
    for name, arg in before_from:
        if name == "ARG":
            key, _, default = arg.partition("=")
            args[key] = default
    return args


def test_base_image_and_variant_are_build_arguments(
    instructions: list[tuple[str, str]], stages: list[Stage]
) -> None:
    args = _global_args(instructions)
    assert args["VARIANT"] == "gpu", "the GPU image is the default"
    assert "BASE" in args
    bases = {stage.name: stage.base for stage in stages}
    assert re.fullmatch(
        r"\$\{BASE:-docker\.io/nvidia/cuda:[\d.]+-cudnn-runtime-ubuntu[\d.]+\}", bases["base-gpu"]
    )
    assert bases["base-cpu"] == "${BASE:-docker.io/library/python:3.11-slim}"
    assert bases["base-gpu-pip"] == "${BASE:-docker.io/library/python:3.11-slim}"
    assert any(stage.base == "base-${VARIANT}" for stage in stages)


def test_is_multi_stage_and_runtime_copies_only_the_venv(
    stages: list[Stage], runtime: Stage
) -> None:
    build = next(stage for stage in stages if stage.name == "build")
    assert any("python3 -m venv /opt/venv" in run for run in build.args("RUN"))
    assert runtime.name == "runtime"
    copies = runtime.args("COPY")
    assert "--from=build /opt/venv /opt/venv" in copies
    assert "models /app/models" in copies
    assert any(c.startswith("service ") for c in copies)
    assert not [r for r in runtime.args("RUN") if "pip install" in r]


def test_installs_no_torch_no_compilers_and_keeps_no_pip_cache(
    instructions: list[tuple[str, str]],
) -> None:
    text = " ".join(arg for _, arg in instructions)
    assert not re.search(r"\b(gcc|g\+\+|build-essential|clang)\b", text)
    assert "PIP_NO_CACHE_DIR=1" in text
    assert "pip show torch" in text, "the build fails if torch slips in"


def test_runs_as_a_numeric_non_root_user(runtime: Stage) -> None:
    users = runtime.args("USER")
    assert users, "the runtime stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric, so that runAsNonRoot can verify it"


def test_healthcheck_serving_and_shutdown(runtime: Stage) -> None:
    (healthcheck,) = runtime.args("HEALTHCHECK")
    assert "/health/ready" in healthcheck
    assert "urllib" in healthcheck and "curl" not in healthcheck
    assert runtime.args("EXPOSE") == ["8000"]
    assert runtime.args("STOPSIGNAL") == ["SIGTERM"]
    (cmd,) = runtime.args("CMD")
    assert cmd.startswith("[") and '"-m", "service", "serve"' in cmd
    assert '"--host", "0.0.0.0"' in cmd and '"--port", "8000"' in cmd
    env = " ".join(runtime.args("ENV"))
    assert "NMT_MODELS_DIR=/app/models" in env
    assert "NMT_STORE_PATH=/var/lib/nmt/" in env


def _requirements_script(instructions: list[tuple[str, str]]) -> str:
    run = next(arg for name, arg in instructions if name == "RUN" and "tomllib" in arg)
    match = re.search(r'python3 -c "(.*?)" "\$VARIANT"', run)
    assert match, run
    return match[1]


@pytest.mark.parametrize(
    ("variant", "runtime_package"),
    [
        ("cpu", "onnxruntime>="),
        ("gpu", "onnxruntime-gpu>="),
        ("gpu-pip", "onnxruntime-gpu[cuda,cudnn]>="),
    ],
)
def test_each_variant_installs_one_onnxruntime_and_no_torch(
    instructions: list[tuple[str, str]], variant: str, runtime_package: str
) -> None:
    """Runs the Dockerfile's own requirements step against pyproject.toml."""
    result = subprocess.run(
        [sys.executable, "-c", _requirements_script(instructions), variant],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    requirements = result.stdout.split()
    assert [r for r in requirements if r.startswith("onnxruntime")] == [
        r for r in requirements if r.startswith(runtime_package)
    ]
    assert len([r for r in requirements if r.startswith("onnxruntime")]) == 1
    assert not [r for r in requirements if r.startswith("torch")]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert len(requirements) == len(project["dependencies"])


# --- .dockerignore ------------------------------------------------------------------------


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a directory
    matches everything below it; `!` re-includes."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        regex = (
            re.escape(pattern)
            .replace(r"\*\*/", "(?:.*/)?")
            .replace(r"\*\*", ".*")
            .replace(r"\*", "[^/]*")
            .replace(r"\?", "[^/]")
        )
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


@pytest.fixture(scope="module")
def ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        "tests/conftest.py",
        "model_export/train.py",
        "bench/results.json",
        "data/corpus.tsv",
        "runs/en-es/best.pt",
        "work/tmp.bin",
        "checkpoint.pt",
        "models/en-es/last.pt",
        "service/__pycache__/app.cpython-311.pyc",
        ".venv/bin/python",
        ".mypy_cache/x",
    ],
)
def test_dockerignore_keeps_out(path: str, ignore_patterns: list[str]) -> None:
    assert _ignored(path, ignore_patterns)


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "service/app.py",
        "service/api/routes/translate.py",
        "models/en-es/model_config.json",
        "models/en-es/int8/decoder_step.onnx",
    ],
)
def test_dockerignore_lets_in(path: str, ignore_patterns: list[str]) -> None:
    assert not _ignored(path, ignore_patterns)
