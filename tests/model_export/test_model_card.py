"""The model card describes the artifact it sits beside, read from that artifact's files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model_export.model_card import write_model_card

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.mark.parametrize(
    ("bundled", "direction"), [("en-es", "English to Spanish"), ("es-en", "Spanish to English")]
)
def test_card_names_the_direction_of_its_own_artifact(
    tmp_path: Path, bundled: str, direction: str
) -> None:
    for name in ("model_config.json", "evaluation.json"):
        shutil.copy(MODELS / bundled / name, tmp_path / name)
    report = json.loads((tmp_path / "evaluation.json").read_text())
    card = write_model_card(tmp_path, report, report["training_log"], report["baseline_log"])
    text = card.read_text()
    assert f"translating {direction}," in text
    assert f"translating {direction}," in (MODELS / bundled / "MODEL_CARD.md").read_text()


def test_swapped_languages_change_the_card(tmp_path: Path) -> None:
    config = json.loads((MODELS / "en-es" / "model_config.json").read_text())
    config.update(source_lang="es", target_lang="en")
    (tmp_path / "model_config.json").write_text(json.dumps(config))
    report = json.loads((MODELS / "en-es" / "evaluation.json").read_text())
    text = write_model_card(tmp_path, report, [], []).read_text()
    assert "translating Spanish to English," in text
    assert "English to Spanish" not in text


def test_a_retrained_head_is_described_after_the_run_before_it(tmp_path: Path) -> None:
    config = json.loads((MODELS / "en-es" / "model_config.json").read_text())
    first = {"seconds": 480, "epochs": 5, "best_dev_f1": 0.81, "freeze_model": True}
    config["alignment_head_training"] = {
        "seconds": 300,
        "epochs": 3,
        "best_dev_f1": 0.8123,
        "freeze_model": True,
        "training_links": {"method": "aligner intersection, the rest of the union masked"},
        "previous": first,
    }
    (tmp_path / "model_config.json").write_text(json.dumps(config))
    report = json.loads((MODELS / "en-es" / "evaluation.json").read_text())
    text = write_model_card(tmp_path, report, [], []).read_text()
    original = text.index("The alignment head was trained on the frozen weights for 8.0 minutes")
    retrained = text.index("The alignment head was then retrained on the frozen weights for 5.0")
    assert original < retrained
    assert "links: eflomal's grow-diag-final-and; best dev F1 against eflomal 0.810" in text
    assert "training links: aligner intersection, the rest of the union masked; best dev" in text
