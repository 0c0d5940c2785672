"""Markup cut into translation units: blocks written back as templates, and inside each
unit its pieces of text and its atoms, each under the stack of elements open over it, grouped
into words and the gaps between them. The rules are listed in :mod:`service.text.markup`."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from service.text.markup_tree import VOID_ELEMENTS, Element, Node, Other, Text

BLOCK_ELEMENTS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "details",
        "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
        "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hgroup", "html", "legend", "li",
        "main", "menu", "nav", "ol", "optgroup", "option", "p", "pre", "section", "summary",
        "table", "tbody", "td", "tfoot", "th", "thead", "title", "tr", "ul",
    }
)  # fmt: skip
BREAK_ELEMENTS = frozenset({"br", "hr"})
IGNORED_ELEMENTS = frozenset(
    {"code", "kbd", "samp", "var", "pre", "script", "style", "textarea", "template"}
)
TRANSLATED_ATTRIBUTES = frozenset({"alt", "title"})

_HAS_WORD_CHARACTER = re.compile(r"[^\W_]")
_HTML_WHITESPACE = re.compile(r"[ \t\n\f\r]+")
_TAG_NAME = re.compile(r"<[^\s/>]+")
_ATTRIBUTE = re.compile(r"""[\s/]*([^\s/>"'=]+)(\s*=\s*)?("[^"]*"|'[^']*'|[^\s>]+)?""")


@dataclass(frozen=True)
class Slot:
    """A translated attribute value inside a tag."""

    unit: int
    quote: str  # '"', "'" or "" (unquoted)
    lead: str
    tail: str


Template = tuple[str | Slot, ...]
Stack = tuple[Element, ...]


@dataclass(frozen=True)
class Item:
    """A piece of a unit: text (``template`` is None) or an atom, under its open elements."""

    stack: Stack
    text: str = ""
    template: Template | None = None

    @property
    def is_space(self) -> bool:
        return self.template is None and self.text.isspace()


@dataclass(frozen=True)
class Word:
    text: str
    items: tuple[Item, ...]  # the word's text pieces and the atoms glued to it
    stack: Stack  # every element over a piece of its text, outermost first

    @property
    def atoms(self) -> tuple[Item, ...]:
        return tuple(item for item in self.items if item.template is not None)


@dataclass(frozen=True)
class Unit:
    index: int | None  # into MarkupDocument.units; None when not translated
    source: str  # written back as is when not translated
    lead: tuple[Item, ...]
    words: tuple[Word, ...]
    gaps: tuple[tuple[Item, ...], ...]  # gaps[k] lies between words[k] and words[k + 1]
    tail: tuple[Item, ...]
    carriers: frozenset[Element]  # the elements over some word


Piece = Template | Unit


def _is_ignored(element: Element) -> bool:
    classes = (element.attrs.get("class") or "").split()
    return (
        element.name in IGNORED_ELEMENTS
        or (element.attrs.get("translate") or "").lower() == "no"
        or "notranslate" in classes
    )


def _is_atom(element: Element, html: bool) -> bool:
    void = element.name in VOID_ELEMENTS if html else not element.end
    return void or _is_ignored(element)


def _has_text(nodes: Iterable[Node]) -> bool:
    return any(isinstance(node, Text) and not node.text.isspace() for node in nodes)


class Layout:
    """Walks the tree, writing block markup as templates and inline runs as units."""

    def __init__(self, html: bool) -> None:
        self.html = html
        self.units: list[str] = []
        self.pieces: list[Piece] = []
        self.starts: dict[Element, Template] = {}  # start tags of inline elements
        self._block_cache: dict[Element, bool] = {}

    def is_block(self, element: Element, mixed: bool) -> bool:
        if element.name in BREAK_ELEMENTS or element.name in BLOCK_ELEMENTS:
            return True
        if not self.html and not mixed and not _is_ignored(element):
            return True
        if _is_atom(element, self.html):
            return False
        if element not in self._block_cache:
            inside = _has_text(element.children)
            self._block_cache[element] = any(
                isinstance(child, Element) and self.is_block(child, inside or mixed)
                for child in element.children
            )
        return self._block_cache[element]

    def blocks(self, nodes: list[Node]) -> None:
        mixed = _has_text(nodes)
        run: list[Node] = []
        for node in nodes:
            if isinstance(node, Element) and self.is_block(node, mixed):
                self.unit(run)
                run = []
                if _is_atom(node, self.html):
                    self.pieces.append(self.template(node.source, node, atom=True))
                else:
                    self.pieces.append(self.template(node.start, node))
                    self.blocks(node.children)
                    self.pieces.append((node.end,))
            else:
                run.append(node)
        self.unit(run)

    def template(self, raw: str, element: Element, atom: bool = False) -> Template:
        """``raw`` with the values of translated attributes of its first tag as slots."""
        if atom and _is_ignored(element):
            return (raw,)
        name = _TAG_NAME.match(raw)
        if name is None:
            return (raw,)
        parts: list[str | Slot] = []
        position, done = name.end(), 0
        while (match := _ATTRIBUTE.match(raw, position)) and match.end() > position:
            position = match.end()
            value = match.group(3)
            if value is None or match.group(1).lower() not in TRANSLATED_ATTRIBUTES:
                continue
            quote = value[0] if value[0] in "\"'" else ""
            text = html.unescape(value[1:-1] if quote else value)
            unit = self.add_unit(text)
            if unit is None:
                continue
            stripped = text.strip()
            lead, tail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
            assert stripped  # add_unit refuses blank text
            parts += [raw[done : match.start(3)], Slot(unit, quote, lead, tail)]
            done = match.end(3)
        parts.append(raw[done:])
        return tuple(parts)

    def add_unit(self, text: str) -> int | None:
        text = _HTML_WHITESPACE.sub(" ", text).strip()
        if not _HAS_WORD_CHARACTER.search(text):
            return None
        self.units.append(text)
        return len(self.units) - 1

    def unit(self, run: list[Node]) -> None:
        if not run:
            return
        index = len(self.units)
        self.units.append("")  # reserved, so the unit comes before the attributes inside it
        items: list[Item] = []
        self.flatten(run, (), items)
        unit = _split_words(items, "".join(node.source for node in run))
        text = _HTML_WHITESPACE.sub(" ", "".join(i.text for i in items)).strip()
        if not _HAS_WORD_CHARACTER.search(text):
            del self.units[index]
            self.pieces.append(Unit(None, *unit))
            return
        self.units[index] = text
        self.pieces.append(Unit(index, *unit))

    def flatten(self, nodes: list[Node], stack: Stack, items: list[Item]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                items.extend(Item(stack, piece) for piece in re.findall(r"\s+|\S+", node.text))
            elif isinstance(node, Other):
                items.append(Item(stack, template=(node.source,)))
            elif _is_atom(node, self.html):
                items.append(Item(stack, template=self.template(node.source, node, atom=True)))
            else:
                self.starts[node] = self.template(node.start, node)
                if node.children:
                    self.flatten(node.children, (*stack, node), items)
                else:  # an empty element: a zero-width marker under it
                    items.append(Item((*stack, node), template=()))


def _split_words(
    items: list[Item], source: str
) -> tuple[str, tuple[Item, ...], tuple[Word, ...], tuple[tuple[Item, ...], ...],
           tuple[Item, ...], frozenset[Element]]:  # fmt: skip
    """Cut a unit's items into words (runs between spaces that hold text) and the gaps."""
    runs: list[list[Item]] = [[]]
    for item in items:
        if item.is_space:
            runs.append([item])
            runs.append([])
        else:
            runs[-1].append(item)
    words: list[Word] = []
    gaps: list[list[Item]] = [[]]
    for run in runs:
        texts = [item for item in run if item.template is None and not item.is_space]
        if not texts:
            gaps[-1].extend(run)
            continue
        elements = {element for item in texts for element in item.stack}
        stack = tuple(sorted(elements, key=lambda element: element.order))
        words.append(Word("".join(item.text for item in texts), tuple(run), stack))
        gaps.append([])
    carriers = frozenset(element for word in words for element in word.stack)
    lead, *middle, tail = gaps if words else [gaps[0], []]
    return source, tuple(lead), tuple(words), tuple(map(tuple, middle)), tuple(tail), carriers
