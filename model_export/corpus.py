"""Parallel corpora: the default English-Spanish Bible, or a user's own pairs.

The Bible is read verse by verse with pysword from the SWORD modules installed by
Debian's ``sword-text-web`` (World English Bible) and ``sword-text-sparv``
(Reina-Valera 1909). The split is by book, so that no verse leaks across splits.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SWORD_PATH = Path("/usr/share/sword")
SOURCE_MODULE = "engWEB2015eb"
TARGET_MODULE = "spaRV1909eb"

TEST_BOOKS = frozenset(
    [
        "Ruth",
        "Esther",
        "Joel",
        "Jonah",
        "Micah",
        "Philippians",
        "Colossians",
        "Titus",
        "James",
        "II Peter",
        "I John",
        "Jude",
    ]
)
DEV_BOOKS = frozenset(
    [
        "Lamentations",
        "Obadiah",
        "Nahum",
        "Habakkuk",
        "Zephaniah",
        "Haggai",
        "I Thessalonians",
        "II Thessalonians",
        "Philemon",
        "II John",
        "III John",
    ]
)
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Pair:
    """One aligned sentence pair; ``ref`` names its origin (``Book 3:16`` or a line number)."""

    source: str
    target: str
    ref: str = ""


def split_of_book(book: str) -> str:
    """The split a Bible book belongs to."""
    if book in TEST_BOOKS:
        return "test"
    if book in DEV_BOOKS:
        return "dev"
    return "train"


def _clean(text: str) -> str:
    return " ".join(text.split())


def read_bible(sword_path: Path = SWORD_PATH) -> Iterator[tuple[str, Pair]]:
    """Yield ``(book, pair)`` for every verse present and non-empty in both modules."""
    from pysword.modules import SwordModules

    if not (sword_path / "mods.d").is_dir():
        raise FileNotFoundError(
            f"no SWORD modules under {sword_path}: install the Debian packages "
            "sword-text-web and sword-text-sparv"
        )
    modules = SwordModules(str(sword_path))
    modules.parse_modules()
    source = modules.get_bible_from_module(SOURCE_MODULE)
    target = modules.get_bible_from_module(TARGET_MODULE)
    target_books = {
        book.name: book
        for testament in target.get_structure().get_books().values()
        for book in testament
    }
    for testament in ("ot", "nt"):
        for book in source.get_structure().get_books()[testament]:
            if book.name not in target_books:  # deuterocanonical books have no Spanish text
                continue
            target_lengths = target_books[book.name].chapter_lengths
            for chapter, (n_src, n_tgt) in enumerate(
                zip(book.chapter_lengths, target_lengths, strict=False), 1
            ):
                verses = list(range(1, min(n_src, n_tgt) + 1))
                src = source.get(books=[book.name], chapters=[chapter], verses=verses, join="\x00")
                tgt = target.get(books=[book.name], chapters=[chapter], verses=verses, join="\x00")
                for verse, (s, t) in enumerate(
                    zip(src.split("\x00"), tgt.split("\x00"), strict=False), 1
                ):
                    s, t = _clean(s), _clean(t)
                    if s and t:
                        yield book.name, Pair(s, t, f"{book.name} {chapter}:{verse}")


def split_bible(sword_path: Path = SWORD_PATH) -> dict[str, list[Pair]]:
    """The Bible corpus split by book into train, dev and test."""
    splits: dict[str, list[Pair]] = {name: [] for name in SPLITS}
    for book, pair in read_bible(sword_path):
        splits[split_of_book(book)].append(pair)
    return splits


def read_tsv(path: Path) -> list[Pair]:
    """Pairs from a tab-separated file: ``source<TAB>target[<TAB>ref]`` per line."""
    pairs = []
    with path.open(encoding="utf-8", newline="") as handle:
        for n, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not row or not "".join(row).strip():
                continue  # blank line
            if len(row) < 2:
                raise ValueError(f"{path}:{n}: expected at least two tab-separated fields")
            source, target = _clean(row[0]), _clean(row[1])
            if source and target:
                pairs.append(Pair(source, target, row[2] if len(row) > 2 else f"{path.name}:{n}"))
    return pairs


def read_parallel_files(source_path: Path, target_path: Path) -> list[Pair]:
    """Pairs from two line-aligned text files."""
    sources = source_path.read_text(encoding="utf-8").splitlines()
    targets = target_path.read_text(encoding="utf-8").splitlines()
    if len(sources) != len(targets):
        raise ValueError(
            f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}"
        )
    return [
        Pair(_clean(s), _clean(t), f"line {n}")
        for n, (s, t) in enumerate(zip(sources, targets, strict=True), 1)
        if _clean(s) and _clean(t)
    ]


def split_by_hash(
    pairs: Iterable[Pair], dev_fraction: float = 0.05, test_fraction: float = 0.05
) -> dict[str, list[Pair]]:
    """Deterministic split of a user corpus: a pair's split depends on its source text only,
    so duplicated sources never straddle two splits."""
    import hashlib

    splits: dict[str, list[Pair]] = {name: [] for name in SPLITS}
    for pair in pairs:
        digest = hashlib.sha256(pair.source.encode("utf-8")).digest()
        bucket = int.from_bytes(digest[:8], "big") / 2**64
        if bucket < test_fraction:
            splits["test"].append(pair)
        elif bucket < test_fraction + dev_fraction:
            splits["dev"].append(pair)
        else:
            splits["train"].append(pair)
    return splits


def write_tsv(pairs: Iterable[Pair], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(f"{pair.source}\t{pair.target}\t{pair.ref}\n")
