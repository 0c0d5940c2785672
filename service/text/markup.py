"""Markup carried from a source text onto its translation through a word alignment.

The approach is bergamot-translator's (``src/translator/html.cpp``) with TransIns's rule for
unaligned words. Block elements (and ``br``, ``hr``) cut the text into translation units; the
inline elements inside a unit are recorded as the stack of elements open over each piece of
text. After translation each target word takes the union of the stacks of the source words it
is linked to, and the unit is written by diffing consecutive stacks, so the answer is
well-formed by construction. The tree is read in :mod:`service.text.markup_tree`, cut into
units in :mod:`service.text.markup_units` and a unit's translation written back in
:mod:`service.text.markup_render`; this module joins them.

Parsers (measured on a 58 kB page, a loaded 2-core machine): selectolax/lexbor 3.9 ms,
lxml 5.8 ms, ``html.parser`` 26 ms (tokens only), html5lib 220 ms. Lexbor, lxml and html5lib
all rewrite attribute quoting (``class='a'`` comes back ``class="a"``) and none tells where a
node was in the input, so the identity round trip could not be byte for byte with them; only
``html.parser`` gives each token's source text. So well-formed HTML is read with
``html.parser`` (see :mod:`service.text.markup_tree`), and only malformed HTML goes through
lexbor first, which repairs it as browsers do, 50 times faster than html5lib and keeping the
doctype that html5lib's serializer drops. XML is read with expat and refused when malformed.

Rules decided here:

* XML has no known tag names, so an XML element is inline when its siblings include text
  with something other than whitespace (mixed content) or its parent is inline, unless it is
  named like an HTML block; otherwise it is a block. ``<p><b>a</b> <i>b</i></p>`` in XML is
  thus two units (the paragraph holds no text of its own).
* ``alt`` and ``title`` values are units of their own (in XML too); other attributes are kept.
* Void elements, comments, the doctype and ignored elements (``code``, ``pre``, ``script``,
  ..., ``translate="no"``, ``class="notranslate"``) are zero-width atoms kept verbatim. An
  atom touching a word travels with the first target word linked to it (inside the elements
  of that target word that held it in the source); an atom between
  spaces keeps its place when the words on both sides are translated by adjacent target
  words, and otherwise follows the target word of the nearest preceding linked source word.
  An ignored element that is itself a block (``pre``, ``<div translate="no">``) separates
  units.
* An element none of whose words got a linked target word is written empty (``<b></b>``)
  right after the target word of the nearest preceding linked source word, or at the start of
  the unit when there is none.
* An inline element whose target words come out apart is written once per run of words, so
  it may appear more than once; nothing else is ever repeated or dropped.
* A target word translated to exactly itself, one to one, keeps the source word's inner
  markup (``un<b>break</b>able``); any other target word takes whole-word tags.
* HTML that does not close every element explicitly (optional end tags included) is repaired
  first, so the identity round trip is byte for byte for explicitly closed markup whose text
  whitespace is collapsed and whose entities are ``&amp;``, ``&lt;`` and ``&gt;``; other
  entities come back as the characters they stand for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from service.text.markup_render import UnitTranslation, fill, place, write
from service.text.markup_tree import Element, MarkupError, parse_html, parse_xml
from service.text.markup_units import Layout, Piece, Template, Unit

__all__ = ["MarkupDocument", "MarkupError", "UnitTranslation", "parse_markup"]


@dataclass(frozen=True)
class MarkupDocument:
    units: list[str]  # plain text of each translation unit, in document order
    _pieces: tuple[Piece, ...] = field(repr=False, compare=False, default=())
    _starts: dict[Element, Template] = field(repr=False, compare=False, default_factory=dict)

    def render(self, translations: Sequence[UnitTranslation]) -> str:
        """The document with unit ``i`` replaced by ``translations[i]``."""
        if len(translations) != len(self.units):
            raise ValueError(f"{len(translations)} translations for {len(self.units)} units")
        texts = [t.text for t in translations]
        out: list[str] = []
        for piece in self._pieces:
            if not isinstance(piece, Unit):
                out.append(fill(piece, texts))
            elif piece.index is None:
                out.append(piece.source)
            else:
                items = place(piece, translations[piece.index])
                write(items, self._starts, texts, out)
        return "".join(out)


def parse_markup(markup: str, kind: Literal["html", "xml"]) -> MarkupDocument:
    """The translation units of ``markup`` and what is needed to put their translations back."""
    if kind == "html":
        nodes = parse_html(markup)
    elif kind == "xml":
        nodes = parse_xml(markup)
    else:
        raise MarkupError(f"unknown markup kind {kind!r}")
    layout = Layout(html=kind == "html")
    layout.blocks(nodes)
    return MarkupDocument(layout.units, tuple(layout.pieces), layout.starts)
