"""Markup read into a tree whose every node keeps its exact source text.

HTML is tokenized with the standard library's ``html.parser``: it is the only candidate that
tells where each token starts in the input, so every tag, comment and doctype is kept byte for
byte (attribute quoting included). It builds no tree, so the tree is built here and only
accepted when every element is closed explicitly and in order; anything else (an unclosed
``<p>``, a stray ``</b>``, ``<b><i>x</b></i>``) is first repaired by lexbor through
selectolax, which parses it as browsers do (a fragment as a fragment, a document as a
document), and the repaired serialization is read again. XML is read with expat, whose byte
offsets give the same exact source text; malformed XML is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from xml.parsers import expat

from selectolax.lexbor import LexborHTMLParser

VOID_ELEMENTS = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta",
        "param", "source", "track", "wbr",
    }
)  # fmt: skip


class MarkupError(ValueError):
    """The markup is refused (malformed XML, or HTML that cannot be repaired)."""


@dataclass(eq=False)
class Element:
    """An element; ``start`` and ``end`` are its tags as written (``end`` is "" when void)."""

    name: str
    attrs: dict[str, str | None]
    start: str
    end: str = ""
    children: list[Node] = field(default_factory=list)
    order: int = 0  # position of the start tag among all start tags

    @property
    def source(self) -> str:
        return self.start + "".join(child.source for child in self.children) + self.end


@dataclass(eq=False)
class Text:
    source: str
    text: str  # entities decoded


@dataclass(eq=False)
class Other:
    """A comment, doctype, processing instruction or CDATA section, kept verbatim."""

    source: str


Node = Element | Text | Other

# A token: (kind, name, attrs, offset, decoded text); kinds are start, startend, end, text, other.
_Token = tuple[str, str, dict[str, str | None], int, str]


class _Malformed(Exception):
    pass


class _HTMLTokens(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._line_starts = [0, *(m.end() for m in re.finditer("\n", source))]
        self.tokens: list[_Token] = []

    def _add(self, kind: str, name: str = "", attrs: dict[str, str | None] | None = None,
             text: str = "") -> None:  # fmt: skip
        line, column = self.getpos()
        self.tokens.append((kind, name, attrs or {}, self._line_starts[line - 1] + column, text))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._add("start", tag, dict(attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._add("startend", tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        self._add("end", tag)

    def handle_data(self, data: str) -> None:
        self._add("text", text=data)

    def handle_comment(self, data: str) -> None:
        self._add("other")

    def handle_decl(self, decl: str) -> None:
        self._add("other")

    def handle_pi(self, data: str) -> None:
        self._add("other")

    def unknown_decl(self, data: str) -> None:
        self._add("other")


def _build(tokens: list[_Token], source: str, html: bool) -> list[Node]:
    """The tree of ``tokens``; raises _Malformed unless every element is closed in order."""
    root: list[Node] = []
    open_elements: list[Element] = []
    order = 0
    ends = [offset for _, _, _, offset, _ in tokens[1:]] + [len(source)] * bool(tokens)
    for (kind, name, attrs, offset, text), end in zip(tokens, ends, strict=True):
        raw = source[offset:end]
        siblings = open_elements[-1].children if open_elements else root
        if kind == "text":
            if siblings and isinstance(siblings[-1], Text):
                siblings[-1] = Text(siblings[-1].source + raw, siblings[-1].text + text)
            else:
                siblings.append(Text(raw, text))
        elif kind == "other":
            if siblings and isinstance(siblings[-1], Other):
                siblings[-1] = Other(siblings[-1].source + raw)
            else:
                siblings.append(Other(raw))
        elif kind in ("start", "startend"):
            if kind == "startend" and html and name not in VOID_ELEMENTS:
                raise _Malformed(f"<{name}/> does not close in HTML")
            element = Element(name, attrs, raw, order=order)
            order += 1
            siblings.append(element)
            if kind == "start" and not (html and name in VOID_ELEMENTS):
                open_elements.append(element)
        elif not open_elements or open_elements[-1].name != name:
            raise _Malformed(f"stray </{name}>")
        else:
            open_elements.pop().end = raw
    if open_elements:
        raise _Malformed(f"<{open_elements[-1].name}> is not closed")
    return root


def _read_html(source: str) -> list[Node]:
    parser = _HTMLTokens(source)
    parser.feed(source)
    parser.close()
    return _build(parser.tokens, source, html=True)


_DOCUMENT_START = re.compile(r"\s*(?:<!--.*?-->\s*)*<(?:!doctype|html[\s>])", re.I | re.S)


def repair_html(source: str) -> str:
    """``source`` parsed as browsers parse it and written back, a fragment as a fragment."""
    if _DOCUMENT_START.match(source):
        return LexborHTMLParser(source).html or ""
    root = LexborHTMLParser(source, is_fragment=True).root
    return (root.html or "") if root is not None else ""


def parse_html(source: str) -> list[Node]:
    try:
        return _read_html(source)
    except _Malformed:
        pass
    repaired = repair_html(source)
    try:
        return _read_html(repaired)
    except _Malformed as error:
        raise MarkupError(f"HTML could not be repaired: {error}") from error


_XML_DOCUMENT_START = re.compile(r"\s*<(?:\?xml|!DOCTYPE)")
_WRAPPER = "bahdanau-fragment"


def parse_xml(source: str) -> list[Node]:
    """The tree of XML ``source``; text with several top-level elements (or none) is allowed."""
    wrapped = not _XML_DOCUMENT_START.match(source)
    data = source.encode("utf-8")
    if wrapped:
        data = f"<{_WRAPPER}>".encode() + data + f"</{_WRAPPER}>".encode()
    parser = expat.ParserCreate()
    tokens: list[_Token] = []
    in_cdata = False

    def add(kind: str, name: str = "", attrs: dict[str, str | None] | None = None,
            text: str = "") -> None:  # fmt: skip
        tokens.append((kind, name, attrs or {}, parser.CurrentByteIndex, text))

    def start(name: str, attrs: dict[str, str]) -> None:
        add("start", name, dict(attrs))

    def chars(text: str) -> None:
        if not in_cdata:
            add("text", text=text)

    def cdata(opening: bool) -> None:
        nonlocal in_cdata
        in_cdata = opening
        if opening:
            add("other")

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: add("end", name)
    parser.CharacterDataHandler = chars
    parser.CommentHandler = lambda data: add("other")
    parser.ProcessingInstructionHandler = lambda target, data: add("other")
    parser.StartCdataSectionHandler = lambda: cdata(True)
    parser.EndCdataSectionHandler = lambda: cdata(False)
    parser.DefaultHandlerExpand = lambda data: add("other")
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise MarkupError(f"malformed XML: {error}") from error
    text = data.decode("utf-8")
    # Offsets are in bytes: turn them into character offsets of the decoded text.
    char_offsets = _byte_to_char_offsets(data)
    tokens = [(k, n, a, char_offsets[o], t) for k, n, a, o, t in tokens]
    if wrapped:
        text = text[: tokens[-1][3]]
        tokens = tokens[1:-1]
    try:
        return _build(tokens, text, html=False)
    except _Malformed as error:  # pragma: no cover - expat already refused it
        raise MarkupError(f"malformed XML: {error}") from error


def _byte_to_char_offsets(data: bytes) -> dict[int, int]:
    offsets: dict[int, int] = {}
    chars = 0
    for index, byte in enumerate(data):
        if byte & 0xC0 != 0x80:
            offsets[index] = chars
            chars += 1
    offsets[len(data)] = chars
    return offsets
