"""The prepared data's verses: each split's rows (``{split}.tsv``) with their book and the
word links eflomal found for them (``{split}.align``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

Link = tuple[int, int]


@dataclass(frozen=True)
class Verse:
    source: str
    target: str
    book: str
    links: frozenset[Link]  # eflomal's (source word, target word) over whitespace words


def parse_links(line: str) -> frozenset[Link]:
    pairs = (item.split("-") for item in line.split())
    return frozenset((int(i), int(j)) for i, j in pairs)


def read_split(data: Path, split: str) -> list[Verse]:
    """The split's verses (``source<TAB>target<TAB>book chapter:verse``) with their links."""
    rows = (data / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
    links = (data / f"{split}.align").read_text(encoding="utf-8").splitlines()
    if len(rows) != len(links):
        raise ValueError(f"{split}.tsv has {len(rows)} lines but {split}.align {len(links)}")
    verses = []
    for row, line in zip(rows, links, strict=True):
        source, target, ref = row.split("\t")[:3]
        verses.append(
            Verse(source.strip(), target.strip(), ref.rsplit(" ", 1)[0], parse_links(line))
        )
    return verses
