"""Markup carried from a source text onto its translation through a word alignment.

The approach is bergamot-translator's (``src/translator/html.cpp``) with TransIns's rule for
unaligned words. Block elements (and ``br``, ``hr``) cut the text into translation units; the
inline elements inside a unit are recorded as the stack of elements open over each piece of
text. After translation each target word takes the union of the stacks of the source words it
is linked to, and the unit is written by diffing consecutive stacks, so the answer is
well-formed by construction.

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

import html
import itertools
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from service.text.markup_tree import (
    VOID_ELEMENTS,
    Element,
    MarkupError,
    Node,
    Other,
    Text,
    parse_html,
    parse_xml,
)

__all__ = ["MarkupDocument", "MarkupError", "UnitTranslation", "parse_markup"]

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
class UnitTranslation:
    text: str  # plain translation of one unit
    links: Collection[tuple[int, int]]  # (source word, target word) over the split() words


@dataclass(frozen=True)
class _Slot:
    """A translated attribute value inside a tag."""

    unit: int
    quote: str  # '"', "'" or "" (unquoted)
    lead: str
    tail: str


Template = tuple[str | _Slot, ...]
Stack = tuple[Element, ...]


@dataclass(frozen=True)
class _Item:
    """A piece of a unit: text (``template`` is None) or an atom, under its open elements."""

    stack: Stack
    text: str = ""
    template: Template | None = None

    @property
    def is_space(self) -> bool:
        return self.template is None and self.text.isspace()


@dataclass(frozen=True)
class _Word:
    text: str
    items: tuple[_Item, ...]  # the word's text pieces and the atoms glued to it
    stack: Stack  # every element over a piece of its text, outermost first

    @property
    def atoms(self) -> tuple[_Item, ...]:
        return tuple(item for item in self.items if item.template is not None)


@dataclass(frozen=True)
class _Unit:
    index: int | None  # into MarkupDocument.units; None when not translated
    source: str  # written back as is when not translated
    lead: tuple[_Item, ...]
    words: tuple[_Word, ...]
    gaps: tuple[tuple[_Item, ...], ...]  # gaps[k] lies between words[k] and words[k + 1]
    tail: tuple[_Item, ...]
    carriers: frozenset[Element]  # the elements over some word


_Piece = Template | _Unit


@dataclass(frozen=True)
class MarkupDocument:
    units: list[str]  # plain text of each translation unit, in document order
    _pieces: tuple[_Piece, ...] = field(repr=False, compare=False, default=())
    _starts: dict[Element, Template] = field(repr=False, compare=False, default_factory=dict)

    def render(self, translations: Sequence[UnitTranslation]) -> str:
        """The document with unit ``i`` replaced by ``translations[i]``."""
        if len(translations) != len(self.units):
            raise ValueError(f"{len(translations)} translations for {len(self.units)} units")
        texts = [t.text for t in translations]
        out: list[str] = []
        for piece in self._pieces:
            if not isinstance(piece, _Unit):
                out.append(_fill(piece, texts))
            elif piece.index is None:
                out.append(piece.source)
            else:
                items = _place(piece, translations[piece.index])
                _write(items, self._starts, texts, out)
        return "".join(out)


def parse_markup(markup: str, kind: Literal["html", "xml"]) -> MarkupDocument:
    """The translation units of ``markup`` and what is needed to put their translations back."""
    if kind == "html":
        nodes = parse_html(markup)
    elif kind == "xml":
        nodes = parse_xml(markup)
    else:
        raise MarkupError(f"unknown markup kind {kind!r}")
    layout = _Layout(html=kind == "html")
    layout.blocks(nodes)
    return MarkupDocument(layout.units, tuple(layout.pieces), layout.starts)


# --- parsing: blocks, units, words ------------------------------------------------------


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


class _Layout:
    """Walks the tree, writing block markup as templates and inline runs as units."""

    def __init__(self, html: bool) -> None:
        self.html = html
        self.units: list[str] = []
        self.pieces: list[_Piece] = []
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
        parts: list[str | _Slot] = []
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
            parts += [raw[done : match.start(3)], _Slot(unit, quote, lead, tail)]
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
        items: list[_Item] = []
        self.flatten(run, (), items)
        unit = _split_words(items, "".join(node.source for node in run))
        text = _HTML_WHITESPACE.sub(" ", "".join(i.text for i in items)).strip()
        if not _HAS_WORD_CHARACTER.search(text):
            del self.units[index]
            self.pieces.append(_Unit(None, *unit))
            return
        self.units[index] = text
        self.pieces.append(_Unit(index, *unit))

    def flatten(self, nodes: list[Node], stack: Stack, items: list[_Item]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                items.extend(_Item(stack, piece) for piece in re.findall(r"\s+|\S+", node.text))
            elif isinstance(node, Other):
                items.append(_Item(stack, template=(node.source,)))
            elif _is_atom(node, self.html):
                items.append(_Item(stack, template=self.template(node.source, node, atom=True)))
            else:
                self.starts[node] = self.template(node.start, node)
                if node.children:
                    self.flatten(node.children, (*stack, node), items)
                else:  # an empty element: a zero-width marker under it
                    items.append(_Item((*stack, node), template=()))


def _split_words(
    items: list[_Item], source: str
) -> tuple[str, tuple[_Item, ...], tuple[_Word, ...], tuple[tuple[_Item, ...], ...],
           tuple[_Item, ...], frozenset[Element]]:  # fmt: skip
    """Cut a unit's items into words (runs between spaces that hold text) and the gaps."""
    runs: list[list[_Item]] = [[]]
    for item in items:
        if item.is_space:
            runs.append([item])
            runs.append([])
        else:
            runs[-1].append(item)
    words: list[_Word] = []
    gaps: list[list[_Item]] = [[]]
    for run in runs:
        texts = [item for item in run if item.template is None and not item.is_space]
        if not texts:
            gaps[-1].extend(run)
            continue
        elements = {element for item in texts for element in item.stack}
        stack = tuple(sorted(elements, key=lambda element: element.order))
        words.append(_Word("".join(item.text for item in texts), tuple(run), stack))
        gaps.append([])
    carriers = frozenset(element for word in words for element in word.stack)
    lead, *middle, tail = gaps if words else [gaps[0], []]
    return source, tuple(lead), tuple(words), tuple(map(tuple, middle)), tuple(tail), carriers


# --- rendering: target words, their stacks, and the written markup -----------------------


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _common(stack: Stack, other: Stack) -> Stack:
    return tuple(element for element in stack if element in other)


def _place(unit: _Unit, translation: UnitTranslation) -> list[_Item]:
    """The unit's translation as items: target words under their stacks, atoms among them."""
    matches = list(re.finditer(r"\S+", translation.text))
    targets = [match.group() for match in matches]
    separators = [translation.text[a.end() : b.start()] for a, b in itertools.pairwise(matches)]
    words = unit.words
    sources_of: list[set[int]] = [set() for _ in targets]
    targets_of: list[set[int]] = [set() for _ in words]
    for source, target in translation.links:
        if not (0 <= source < len(words) and 0 <= target < len(targets)):
            raise ValueError(f"link {(source, target)} is outside {len(words)}x{len(targets)}")
        sources_of[target].add(source)
        targets_of[source].add(target)

    stacks: list[Stack] = []
    for linked in sources_of:
        elements = {element for source in linked for element in words[source].stack}
        stacks.append(tuple(sorted(elements, key=lambda element: element.order)))
    aligned = [j for j, linked in enumerate(sources_of) if linked]
    for j, linked in enumerate(sources_of):
        if not linked:  # TransIns: the tags its aligned neighbours share
            left = [k for k in aligned if k < j]
            right = [k for k in aligned if k > j]
            stacks[j] = _common(stacks[left[-1]], stacks[right[0]]) if left and right else ()
    carriers = unit.carriers

    def keep(item: _Item, *around: Stack) -> _Item:
        shown = {element for stack in around for element in stack}
        stack = tuple(e for e in item.stack if e in shown or e not in carriers)
        return _Item(stack, item.text, item.template)

    def under(item: _Item, anchor: int | None) -> _Item:
        base = stacks[anchor] if anchor is not None else ()
        return _Item(
            (*base, *(e for e in item.stack if e not in carriers)), item.text, item.template
        )

    def anchor_before(source: int) -> int | None:
        """The last target word of the nearest linked source word before ``source``."""
        for earlier in range(source - 1, -1, -1):
            if targets_of[earlier]:
                return max(targets_of[earlier])
        return None

    verbatim = [
        len(linked) == 1
        and len(targets_of[i := next(iter(linked))]) == 1
        and targets[j] == words[i].text
        for j, linked in enumerate(sources_of)
    ]
    owner = [min(linked) if linked else None for linked in targets_of]
    reused: dict[int, int] = {}  # target gap -> source gap
    for k in range(len(unit.gaps)):
        for j in range(len(targets) - 1):
            if j not in reused and k in sources_of[j] and k + 1 in sources_of[j + 1]:
                reused[j] = k
                break
    shown = {element for stack in stacks for element in stack}
    extras: dict[int | None, list[_Item]] = {}  # atoms and empty elements displaced
    empties: dict[int | None, list[_Item]] = {}  # elements none of whose words is linked
    for i, word in enumerate(words):
        if owner[i] is None:
            extras.setdefault(anchor_before(i), []).extend(word.atoms)
        missing = tuple(e for e in word.stack if e not in shown)
        if missing:
            shown.update(missing)
            anchor = anchor_before(i)
            base = stacks[anchor] if anchor is not None else ()
            empties.setdefault(anchor, []).append(_Item((*base, *missing), template=()))
        if i < len(unit.gaps) and i not in reused.values():
            kept = [it for it in unit.gaps[i] if not it.is_space or set(it.stack) - carriers]
            extras.setdefault(anchor_before(i + 1), []).extend(kept)

    first = stacks[0] if stacks else ()
    out = [keep(item, first) for item in unit.lead]
    out += [under(item, None) for item in extras.get(None, [])]
    out += empties.get(None, [])
    for j, word_text in enumerate(targets):
        owned = [words[i] for i, o in enumerate(owner) if o == j]
        if verbatim[j]:
            out += owned[0].items
        else:
            before = [item for word in owned for item in _atoms_before_text(word)]
            after = [a for w in owned for a in w.atoms if all(a is not b for b in before)]
            out += [keep(item, stacks[j]) for item in before]
            out.append(_Item(stacks[j], word_text))
            out += [keep(item, stacks[j]) for item in after]
        out += [under(item, j) for item in extras.get(j, [])]
        out += empties.get(j, [])
        if j in reused:
            out += [keep(item, stacks[j], stacks[j + 1]) for item in unit.gaps[reused[j]]]
        elif j < len(separators):
            out.append(_Item(_common(stacks[j], stacks[j + 1]), separators[j]))
    last = stacks[-1] if stacks else ()
    out += [keep(item, last) for item in unit.tail]
    return out


def _atoms_before_text(word: _Word) -> list[_Item]:
    prefix = []
    for item in word.items:
        if item.template is None:
            break
        prefix.append(item)
    return prefix


def _write(
    items: list[_Item], starts: dict[Element, Template], texts: list[str], out: list[str]
) -> None:
    """Write ``items``, opening and closing elements where consecutive stacks differ."""
    current: Stack = ()
    for item in [*items, _Item(())]:
        common = 0
        while common < min(len(current), len(item.stack)) and current[common] is item.stack[common]:
            common += 1
        out.extend(element.end for element in reversed(current[common:]))
        out.extend(_fill(starts.get(e, (e.start,)), texts) for e in item.stack[common:])
        current = item.stack
        out.append(_escape(item.text) if item.template is None else _fill(item.template, texts))


def _fill(template: Template, texts: list[str]) -> str:
    parts: list[str] = []
    for part in template:
        if isinstance(part, str):
            parts.append(part)
            continue
        value = part.lead + texts[part.unit].strip() + part.tail
        value = value.replace("&", "&amp;").replace("<", "&lt;")
        if part.quote == "'":
            parts.append("'" + value.replace("'", "&#39;") + "'")
        elif part.quote == "" and re.fullmatch(r"[^\s\"'=<>`]+", value):
            parts.append(value)
        else:
            parts.append('"' + value.replace('"', "&quot;") + '"')
    return "".join(parts)
