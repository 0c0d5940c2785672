"""Attention heatmaps drawn like Figure 3 of Bahdanau et al. (2015), as SVG or PNG.

One square grey cell per weight (0 = black, 1 = white), source tokens along the top
(vertical text), target tokens down the left. Both renderers share one `HeatmapLayout`,
so a cell sits at the same pixel in either format. No matplotlib: SVG is written by hand
and PNG is drawn with Pillow.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["MAX_SIDE", "HeatmapLayout", "layout", "render_png", "render_svg"]

MAX_SIDE = 400  # more tokens than this on either axis is refused
MAX_LABEL_CHARS = 24  # longer labels are cut, so the label bands stay bounded
PAD = 4  # pixels between labels and the grid, and around the picture
EM_PER_CHAR = 0.68  # estimated label width per character (DejaVu Sans averages ~0.63)
PREFERRED_FONT = "DejaVuSans.ttf"  # looked up in the system font folders


@dataclass(frozen=True)
class HeatmapLayout:
    """Pixel geometry of a heatmap; cell (row, col) is at ``cell_box(row, col)``."""

    rows: int
    cols: int
    cell: int  # side of one square cell
    font_size: int
    left: int  # x of the grid's left edge (the target-label band is to its left)
    top: int  # y of the grid's top edge (title and source-label band are above it)
    width: int
    height: int

    def cell_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of a cell, ``x1``/``y1`` exclusive."""
        x0, y0 = self.left + col * self.cell, self.top + row * self.cell
        return x0, y0, x0 + self.cell, y0 + self.cell

    def cell_center(self, row: int, col: int) -> tuple[int, int]:
        """The pixel in the middle of a cell."""
        x0, y0, _, _ = self.cell_box(row, col)
        return x0 + self.cell // 2, y0 + self.cell // 2


def _printable(text: str) -> str:
    """``text`` with control, surrogate and unassigned characters (XML cannot hold them) as �."""
    bad = ("Cc", "Cs", "Cn")
    return "".join(
        "\N{REPLACEMENT CHARACTER}" if unicodedata.category(c) in bad else c for c in text
    )


def _clean_label(label: str) -> str:
    """A printable label, cut to `MAX_LABEL_CHARS`."""
    kept = _printable(str(label))
    return kept if len(kept) <= MAX_LABEL_CHARS else kept[: MAX_LABEL_CHARS - 1] + "…"


def _text_width(text: str, font_size: int) -> int:
    """Estimated width in pixels; wide (CJK) characters take a full em."""
    ems = sum(1.0 if unicodedata.east_asian_width(c) in "WF" else EM_PER_CHAR for c in text)
    return int(np.ceil(ems * font_size))


def _validated(matrix: np.ndarray, n_source: int, n_target: int) -> np.ndarray:
    weights = np.asarray(matrix, dtype=np.float64)
    if weights.ndim != 2 or weights.shape != (n_target, n_source):
        raise ValueError(
            f"matrix has shape {weights.shape}; expected (len(target_labels), "
            f"len(source_labels)) = {(n_target, n_source)}"
        )
    if max(weights.shape) > MAX_SIDE:
        raise ValueError(f"matrix {weights.shape} is too large to draw (limit {MAX_SIDE})")
    if not np.all(np.isfinite(weights)):
        raise ValueError("matrix holds NaN or infinite weights")
    return np.clip(weights, 0.0, 1.0)


def layout(
    matrix: np.ndarray,
    source_labels: Sequence[str],
    target_labels: Sequence[str],
    title: str | None = None,
) -> HeatmapLayout:
    """The geometry both renderers use for a (len(target_labels), len(source_labels)) matrix.

    Cells are 20 px for up to 60 tokens a side, then shrink (to 6 px at most) to keep the
    picture near 1200 px.
    """
    rows, cols = _validated(matrix, len(source_labels), len(target_labels)).shape
    longest = max(rows, cols, 1)
    cell = 20 if longest <= 60 else max(6, 1200 // longest)
    font_size = max(6, min(13, cell - 6))

    def band(labels: Sequence[str]) -> int:
        widths = [_text_width(_clean_label(label), font_size) for label in labels]
        return max(widths, default=0) + 2 * PAD

    title_height = font_size + 2 * PAD if title else 0
    left, top = band(target_labels), title_height + band(source_labels)
    width = max(left + cols * cell + PAD, _text_width(_printable(title or ""), font_size) + 2 * PAD)
    return HeatmapLayout(
        rows=rows,
        cols=cols,
        cell=cell,
        font_size=font_size,
        left=left,
        top=top,
        width=width,
        height=top + rows * cell + PAD,
    )


def _grey(weights: np.ndarray) -> np.ndarray:
    return np.rint(weights * 255).astype(np.uint8)


def render_svg(
    matrix: np.ndarray,
    source_labels: Sequence[str],
    target_labels: Sequence[str],
    title: str | None = None,
) -> str:
    """A standalone SVG document; each cell is a ``<rect>`` with a ``<title>`` tooltip."""
    geo = layout(matrix, source_labels, target_labels, title)
    weights = _validated(matrix, len(source_labels), len(target_labels))
    sources = [escape(_clean_label(s)) for s in source_labels]
    targets = [escape(_clean_label(t)) for t in target_labels]
    w, h, fs = geo.width, geo.height, geo.font_size
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="{fs}">',
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>',
    ]
    if title:
        out.append(f'<text x="{PAD}" y="{PAD + fs}">{escape(_printable(title))}</text>')
    for col, label in enumerate(sources):
        x, y = geo.cell_center(0, col)[0], geo.top - PAD
        out.append(
            f'<text transform="translate({x} {y}) rotate(-90)" '
            f'dominant-baseline="central">{label}</text>'
        )
    for row, label in enumerate(targets):
        x, y = geo.left - PAD, geo.cell_center(row, 0)[1]
        out.append(
            f'<text x="{x}" y="{y}" text-anchor="end" dominant-baseline="central">{label}</text>'
        )
    for (row, col), g in np.ndenumerate(_grey(weights)):
        x0, y0, _, _ = geo.cell_box(row, col)
        out.append(
            f'<rect x="{x0}" y="{y0}" width="{geo.cell}" height="{geo.cell}" '
            f'fill="rgb({g},{g},{g})"><title>{targets[row]} → {sources[col]}: '
            f"{weights[row, col]:.3f}</title></rect>"
        )
    out.append("</svg>")
    return "\n".join(out)


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans where installed (it has accents and most scripts), else Pillow's own font.

    Pillow's built-in font is scalable since Pillow 10.1 and a fixed bitmap before; it lacks
    most non-ASCII glyphs, which then draw as boxes.
    """
    try:
        return ImageFont.truetype(PREFERRED_FONT, size)
    except OSError:
        pass
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _drawable(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """``text``, or a Latin-1 stand-in when the font cannot encode it (bitmap fonts)."""
    try:
        font.getbbox(text)
    except UnicodeError:
        return text.encode("latin-1", "replace").decode("latin-1")
    return text


def render_png(
    matrix: np.ndarray,
    source_labels: Sequence[str],
    target_labels: Sequence[str],
    title: str | None = None,
) -> bytes:
    """A greyscale PNG of the heatmap; glyphs missing from the built-in font draw as boxes."""
    geo = layout(matrix, source_labels, target_labels, title)
    grey = _grey(_validated(matrix, len(source_labels), len(target_labels)))
    font = _font(geo.font_size)
    _, ref_top, _, ref_bottom = font.getbbox("Ag")
    centre = (ref_top + ref_bottom) / 2
    image = Image.new("L", (geo.width, geo.height), 255)
    draw = ImageDraw.Draw(image)
    if title:
        draw.text((PAD, PAD), _drawable(_printable(title), font), fill=0, font=font)
    for row, label in enumerate(target_labels):
        text = _drawable(_clean_label(label), font)
        x = geo.left - PAD - draw.textlength(text, font=font)
        draw.text((x, geo.cell_center(row, 0)[1] - centre), text, fill=0, font=font)
    band = geo.top - PAD - (geo.font_size + 2 * PAD if title else 0)
    if geo.cols and band > 0:
        # Source labels: drawn left to right on a strip, one per cell-high row, then turned
        # a quarter counter-clockwise so they read upwards from the grid.
        strip = Image.new("L", (band, geo.cols * geo.cell), 255)
        strip_draw = ImageDraw.Draw(strip)
        for col, label in enumerate(source_labels):
            y = col * geo.cell + geo.cell / 2 - centre
            strip_draw.text((0, y), _drawable(_clean_label(label), font), fill=0, font=font)
        image.paste(strip.rotate(90, expand=True), (geo.left, geo.top - PAD - band))
    if grey.size:
        cells = np.repeat(np.repeat(grey, geo.cell, axis=0), geo.cell, axis=1)
        image.paste(Image.fromarray(cells), (geo.left, geo.top))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
