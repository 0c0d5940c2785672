"""Tag placement, the documents bench's second pass: in each verse one English content word
(not among the split's 100 most frequent words, chosen by a hash of the verse's reference) is
marked ``<b>word</b>`` and the verse aligned onto its Spanish reference with ``POST
/v1/align``, format html. The Spanish words that land inside ``<b>`` are compared with the
words eflomal links to the marked word. eflomal is a yardstick here, not the truth: the human
reference of the right words is kept outside the repository."""

from __future__ import annotations

import hashlib
import html
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from bench.http_client import LeanConnection
from bench.verses import Link, Verse
from service.text.words import whitespace_words


def normalize_word(word: str) -> str:
    """Lowercased, without punctuation (as the word aligner sees a word)."""
    stripped = "".join(c for c in word if not unicodedata.category(c).startswith("P"))
    return stripped.lower() or word.lower()


def frequent_words(texts: Sequence[str], count: int = 100) -> set[str]:
    counts = Counter(normalize_word(w) for text in texts for w in text.split())
    return {word for word, _ in counts.most_common(count)}


def choose_word(text: str, frequent: set[str], key: str) -> int | None:
    """Index of the whitespace word to mark: a word with a letter, not among ``frequent``,
    picked by a hash of ``key`` (so the choice is the same on every run)."""
    candidates = [
        n
        for n, word in enumerate(text.split())
        if any(c.isalpha() for c in word) and normalize_word(word) not in frequent
    ]
    if not candidates:
        return None
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return candidates[digest % len(candidates)]


def mark_word(text: str, index: int, tag: str = "b") -> str:
    """``text`` as HTML with the letters of its ``index``-th whitespace word inside ``tag``
    (punctuation around the word stays outside)."""
    start, end = whitespace_words(text)[index]
    word = text[start:end]
    inner = [n for n, c in enumerate(word) if c.isalnum()] or [0, len(word) - 1]
    a, b = start + inner[0], start + inner[-1] + 1
    escape = lambda s: html.escape(s, quote=False)  # noqa: E731
    return f"{escape(text[:a])}<{tag}>{escape(text[a:b])}</{tag}>{escape(text[b:])}"


class _Marked(HTMLParser):
    def __init__(self, tag: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tag, self.depth = tag, 0
        self.chars: list[str] = []
        self.inside: list[bool] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.depth += tag == self.tag

    def handle_endtag(self, tag: str) -> None:
        self.depth -= tag == self.tag

    def handle_data(self, data: str) -> None:
        self.chars.extend(data)
        self.inside.extend([self.depth > 0] * len(data))


def marked_words(markup: str, tag: str = "b") -> tuple[str, set[int]]:
    """The plain text of ``markup`` and the indices of its whitespace words that have a
    character inside ``tag``."""
    parser = _Marked(tag)
    parser.feed(markup)
    parser.close()
    plain = "".join(parser.chars)
    inside = {n for n, (a, b) in enumerate(whitespace_words(plain)) if any(parser.inside[a:b])}
    return plain, inside


def linked_words(links: frozenset[Link], source_word: int) -> set[int]:
    return {j for i, j in links if i == source_word}


@dataclass(frozen=True)
class Placement:
    service: set[int]  # target words inside <b> in the service's answer
    eflomal: set[int]  # target words eflomal links to the marked word
    target_kept: bool  # the answer's plain text is the given target
    pairing: str  # "sentences" or "whole"


def placement_table(placements: Sequence[Placement]) -> dict[str, Any]:
    """Shares of the verses (percent): the same words, at least one word in common, and
    where either side or both placed the mark on no word."""
    n = len(placements)

    def share(count: int) -> float:
        return 100 * count / n if n else 0.0

    return {
        "verses": n,
        "exact": share(sum(bool(p.service) and p.service == p.eflomal for p in placements)),
        "overlap": share(sum(bool(p.service & p.eflomal) for p in placements)),
        "service empty": share(sum(not p.service for p in placements)),
        "eflomal empty": share(sum(not p.eflomal for p in placements)),
        "both empty": share(sum(not p.service and not p.eflomal for p in placements)),
        "target changed": share(sum(not p.target_kept for p in placements)),
        "pairs whole": share(sum(p.pairing == "whole" for p in placements)),
    }


async def place_tags(
    url: str,
    verses: Sequence[Verse],
    frequent: set[str],
    link_rule: str | None = None,
    per_request: int = 32,
) -> tuple[list[Placement], str]:
    """Every verse with one marked word, aligned onto its reference through POST /v1/align
    (format html, the service's own link rule when None). Returns the placements and the
    link rule used."""
    chosen = [
        (v, n)
        for v in verses
        if (n := choose_word(v.source, frequent, f"{v.book}|{v.source}")) is not None
    ]
    connection = LeanConnection(url)
    placements: list[Placement] = []
    rule = ""
    for i in range(0, len(chosen), per_request):
        chunk = chosen[i : i + per_request]
        body = {
            "source": [mark_word(v.source, n) for v, n in chunk],
            "target": [v.target for v, _ in chunk],
            "format": "html",
            **({} if link_rule is None else {"link_rule": link_rule}),
        }
        reply = await connection.send(connection.request_bytes("POST", "/v1/align", body))
        if reply.status != 200:
            raise RuntimeError(f"POST /v1/align: {reply.status} {reply.body[:300]!r}")
        for (verse, n), out in zip(chunk, reply.json()["alignments"], strict=True):
            plain, inside = marked_words(out["target_markup"])
            rule = out["alignment"]["link_rule"]
            placements.append(
                Placement(
                    inside,
                    linked_words(verse.links, n),
                    plain.split() == verse.target.split(),
                    out["sentence_pairing"],
                )
            )
    await connection.close()
    return placements, rule
