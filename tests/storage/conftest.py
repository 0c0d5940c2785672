"""Fixtures for the alignment store tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def document() -> dict[str, Any]:
    """A document shaped like a translation's alignment: unicode text and float matrices."""
    return {
        "source": ["En", "el", "principio", "creó", "Dios", "los", "cielos", "—", "ñandú"],
        "target": ["In", "the", "beginning", "God", "created", "✓", "日本語"],
        "attention": [[0.1, 0.2, 0.7], [1e-12, 0.333333333333333, 0.6666666666666667]],
        "alignment": [[0, 1], [2, 2]],
        "meta": {"model": "bahdanau", "beam": 5, "nested": [[[0.5]], []], "ok": True, "x": None},
    }
