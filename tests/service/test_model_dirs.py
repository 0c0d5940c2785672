"""Which artifact directories the settings serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import Settings


def test_one_model_dir_serves_that_model_alone(tiny_artifact: Path) -> None:
    assert Settings(model_dir=tiny_artifact).artifact_dirs == [tiny_artifact]


def test_a_models_dir_serves_every_artifact_under_it(tiny_models_dir: Path) -> None:
    dirs = Settings(models_dir=tiny_models_dir).artifact_dirs
    assert [d.name for d in dirs] == ["en-es", "es-en"]


def test_a_models_dir_without_artifacts_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    with pytest.raises(ValueError, match="no artifact directory"):
        Settings(models_dir=tmp_path)


def test_by_default_every_model_beside_the_bundled_one_is_served() -> None:
    dirs = Settings().artifact_dirs
    assert [d.name for d in dirs][:1] == ["en-es"]
    assert all((d / "model_config.json").is_file() for d in dirs)
