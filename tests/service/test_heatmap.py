"""Attention heatmaps as SVG and PNG: structure, escaping, geometry and grey levels."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from service.inference.heatmap import MAX_SIDE, layout, render_png, render_svg

SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def example() -> tuple[np.ndarray, list[str], list[str]]:
    """A (3 target, 4 source) attention matrix with its labels."""
    matrix = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 0.25, 0.75, 0.0],
            [0.0, 0.0, 0.5, 0.5],
        ]
    )
    return matrix, ["▁the", "▁black", "▁cat", "</s>"], ["▁el", "▁gato", "</s>"]


def _open_png(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("L")


# --- SVG --------------------------------------------------------------------------------------


def test_svg_has_a_grey_rect_with_a_tooltip_per_cell(example: tuple) -> None:
    matrix, source, target = example
    root = ET.fromstring(render_svg(matrix, source, target, title="en → es"))
    assert root.tag == f"{SVG}svg"
    geo = layout(matrix, source, target, title="en → es")
    assert (root.get("width"), root.get("height")) == (str(geo.width), str(geo.height))
    assert root.get("viewBox") == f"0 0 {geo.width} {geo.height}"
    rects = root.findall(f"{SVG}rect")
    assert len(rects) == matrix.size + 1  # the cells and the background
    cells = [r for r in rects if r.find(f"{SVG}title") is not None]
    assert len(cells) == matrix.size
    fills = [r.get("fill") for r in cells]
    assert fills[0] == "rgb(255,255,255)" and fills[1] == "rgb(0,0,0)"
    assert fills[5] == "rgb(64,64,64)"  # weight 0.25
    assert cells[6].findtext(f"{SVG}title") == "▁gato → ▁cat: 0.750"
    x0, y0, _, _ = geo.cell_box(1, 2)
    assert (cells[6].get("x"), cells[6].get("y")) == (str(x0), str(y0))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ["en → es", *source, *target]


def test_svg_escapes_labels_that_are_not_plain_text() -> None:
    source = ['<b>&"x"', "naïve", "</s>"]
    target = ["'quoted'", "日本語", "</s>"]
    document = render_svg(np.full((3, 3), 1 / 3), source, target, title="a < b & c")
    assert "<b>" not in document
    root = ET.fromstring(document)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ["a < b & c", *source, *target]
    tooltip = root.findall(f"{SVG}rect")[1].findtext(f"{SVG}title")
    assert tooltip == """'quoted' → <b>&"x": 0.333"""


def test_svg_replaces_characters_xml_cannot_hold() -> None:
    root = ET.fromstring(render_svg(np.ones((1, 1)), ["a\x00b"], ["c\x1bd"]))
    assert [t.text for t in root.iter(f"{SVG}text")] == ["a\ufffdb", "c\ufffdd"]


# --- PNG --------------------------------------------------------------------------------------


def test_png_is_a_png_of_the_layout_size(example: tuple) -> None:
    matrix, source, target = example
    data = render_png(matrix, source, target, title="en → es")
    assert data.startswith(PNG_SIGNATURE)
    geo = layout(matrix, source, target, title="en → es")
    assert Image.open(io.BytesIO(data)).size == (geo.width, geo.height)


def test_png_cells_are_white_for_one_and_black_for_zero(example: tuple) -> None:
    matrix, source, target = example
    image = _open_png(render_png(matrix, source, target))
    geo = layout(matrix, source, target)
    assert image.getpixel(geo.cell_center(0, 0)) == 255
    assert image.getpixel(geo.cell_center(0, 1)) == 0
    assert image.getpixel(geo.cell_center(1, 2)) == round(0.75 * 255)
    assert image.getpixel(geo.cell_center(2, 3)) == round(0.5 * 255)


def test_png_draws_labels_outside_the_grid(example: tuple) -> None:
    matrix, source, target = example
    image = np.asarray(_open_png(render_png(matrix, source, target)))
    geo = layout(matrix, source, target)
    assert image[geo.top :, : geo.left].min() < 128  # target labels on the left
    assert image[: geo.top, geo.left :].min() < 128  # source labels along the top


def test_png_grows_with_the_matrix() -> None:
    small = _open_png(render_png(np.eye(2), ["▁a", "</s>"], ["▁b", "</s>"]))
    labels = ["▁a", "▁b", "▁c", "▁d", "</s>"]
    large = _open_png(render_png(np.eye(5), labels, labels))
    assert large.width > small.width and large.height > small.height


def test_png_survives_labels_the_font_lacks() -> None:
    data = render_png(np.eye(2), ["日本語", "</s>"], ["Привет 🙂", "\x00"], title="ελληνικά")
    assert _open_png(data).size[0] > 0


# --- validation and geometry ------------------------------------------------------------------


@pytest.mark.parametrize("render", [render_svg, render_png])
def test_renderers_refuse_mismatched_labels(render: Callable[..., object]) -> None:
    with pytest.raises(ValueError, match="expected"):
        render(np.eye(2), ["a", "b", "c"], ["x", "y"])


@pytest.mark.parametrize("render", [render_svg, render_png])
def test_renderers_refuse_matrices_over_the_limit(render: Callable[..., object]) -> None:
    labels = ["w"] * (MAX_SIDE + 1)
    with pytest.raises(ValueError, match="too large"):
        render(np.zeros((MAX_SIDE + 1, 2)), ["a", "b"], labels)


def test_layout_refuses_non_finite_weights() -> None:
    with pytest.raises(ValueError, match="NaN"):
        layout(np.array([[np.nan]]), ["a"], ["b"])


def test_layout_keeps_large_matrices_bounded() -> None:
    labels = ["▁word"] * MAX_SIDE
    geo = layout(np.zeros((MAX_SIDE, MAX_SIDE)), labels, labels)
    assert geo.cell >= 6
    assert geo.width < 3000 and geo.height < 3000
    assert geo.cell_box(MAX_SIDE - 1, MAX_SIDE - 1)[2] <= geo.width


def test_layout_places_square_cells_row_major(example: tuple) -> None:
    matrix, source, target = example
    geo = layout(matrix, source, target)
    x0, y0, x1, y1 = geo.cell_box(2, 3)
    assert x1 - x0 == y1 - y0 == geo.cell
    assert (x0, y0) == (geo.left + 3 * geo.cell, geo.top + 2 * geo.cell)
    assert (geo.rows, geo.cols) == matrix.shape


def test_long_labels_are_cut_but_the_title_is_kept_whole() -> None:
    long = "▁" + "x" * 60
    title = "a title that is longer than any label is allowed to be, kept in full"
    root = ET.fromstring(render_svg(np.ones((1, 1)), [long], ["y"], title=title))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert texts[0] == title
    assert texts[1].endswith("…") and long.startswith(texts[1][:-1]) and len(texts[1]) < 30
    assert layout(np.ones((1, 1)), [long], ["y"], title=title).width > len(title) * 5
