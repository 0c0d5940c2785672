"""The command line: ``python -m service translate`` and start-up validation."""

import os
import subprocess
import sys
from pathlib import Path

from service.inference.search import SearchOptions
from service.inference.translator import AlignOptions, Translator


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_translate_prints_the_translation_and_its_word_alignment(tiny_artifact: Path) -> None:
    result = run_cli("translate", "--model-dir", str(tiny_artifact), "--beam-size", "3", "Amen.")
    assert result.returncode == 0, result.stderr
    expected = Translator.from_directory(tiny_artifact).translate(
        ["Amen."], SearchOptions(beam_size=3)
    )[0]
    lines = result.stdout.splitlines()
    assert lines[0] == expected.text
    assert lines[1].startswith("score ")
    assert lines[2] == f"links from {expected.pharaoh_source} ({expected.link_rule})"
    assert len(lines[3:]) == len(expected.pharaoh.split())
    assert all("->" in line for line in lines[3:])


def test_align_prints_the_score_pieces_and_links(tiny_artifact: Path) -> None:
    result = run_cli("align", "--model-dir", str(tiny_artifact), "Amen.", "Amén.")
    assert result.returncode == 0, result.stderr
    expected = Translator.from_directory(tiny_artifact).align([("Amen.", "Amén.")], AlignOptions())[
        0
    ]
    lines = result.stdout.splitlines()
    assert lines[0] == f"score {expected.score:.3f}"
    pieces = lines[1].split()
    assert pieces[0] == "pieces"
    assert [p.rsplit(":", 1)[0] for p in pieces[1:]] == expected.target_tokens
    assert lines[2] == f"links from {expected.pharaoh_source} ({expected.link_rule})"
    assert len(lines[3:]) == len(expected.pharaoh.split())


def test_align_refuses_an_empty_target(tiny_artifact: Path) -> None:
    result = run_cli("align", "--model-dir", str(tiny_artifact), "Amen.", "  ")
    assert result.returncode != 0
    assert "must not be empty" in result.stderr


def test_a_missing_model_directory_is_named_at_start_up(tmp_path: Path) -> None:
    missing = tmp_path / "no-model"
    result = run_cli("serve", "--port", "1", env={"NMT_MODEL_DIR": str(missing)})
    assert result.returncode != 0
    assert "invalid configuration" in result.stderr
    assert str(missing) in result.stderr


def test_a_broken_model_file_is_named_at_start_up(tiny_artifact: Path, tmp_path: Path) -> None:
    broken = tmp_path / "model"
    broken.mkdir()
    for path in tiny_artifact.iterdir():
        if path.is_file() and path.name != "decoder_step.onnx":
            (broken / path.name).write_bytes(path.read_bytes())
    result = run_cli("serve", "--port", "1", env={"NMT_MODEL_DIR": str(broken)})
    assert result.returncode != 0
    assert "decoder_step" in result.stderr


def test_bad_settings_are_refused_with_their_name(tiny_artifact: Path) -> None:
    result = run_cli(
        "serve", env={"NMT_MODEL_DIR": str(tiny_artifact), "NMT_MAX_BATCH_SIZE": "zero"}
    )
    assert result.returncode != 0
    assert "max_batch_size" in result.stderr
