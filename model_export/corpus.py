"""Parallel corpora: the default English-Spanish Bible, or a user's own pairs.

The Bible is read verse by verse with pysword from the SWORD modules installed by
Debian's ``sword-text-web`` (World English Bible) and ``sword-text-sparv``
(Reina-Valera 1909). The split is by book, so that no verse leaks across splits.
"""

from __future__ import annotations

import csv
import html
import re
from collections import Counter
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


_NOTE_OR_TITLE = re.compile(r"<(note|title)\b[^>]*>.*?</\1>", re.S)
_ADDED = re.compile(r"<transChange\b[^>]*>(.*?)</transChange>", re.S)
_TAG = re.compile(r"<[^>]+>")
# Enclitic pronouns that a translator's addition may attach to a verb: "sáca<added>lo".
_CLITICS = frozenset(["lo", "la", "los", "las", "le", "les", "me", "te", "se", "nos", "os"])
_EDGE = "\x01"  # marks where an added word meets the text around it


def _mark_added(match: re.Match[str]) -> str:
    words = match.group(1)
    return (words if words.strip() in _CLITICS else _EDGE + words) + _EDGE


def _join_added(text: str) -> str:
    """A word the translators added (``<transChange>``) is written against its neighbours
    ("Y FUÉ<added>que</added>á los"): a marked edge between two letters becomes a space,
    except before an enclitic pronoun ("sácalo")."""
    pieces = text.split(_EDGE)
    out = [pieces[0]]
    for piece in pieces[1:]:
        if out[-1][-1:].isalnum() and piece[:1].isalnum():
            out.append(" ")
        out.append(piece)
    return "".join(out)


def osis_to_text(markup: str) -> str:
    """Plain text of one verse of OSIS markup.

    A footnote becomes a space (pysword's own clean text deletes it and glues the words on
    either side: "Godcreated"); a title is dropped, as pysword does; words the translators
    added are kept apart from their neighbours; every other tag is stripped and entities
    are unescaped.
    """
    text = _NOTE_OR_TITLE.sub(lambda match: " " if match.group(1) == "note" else "", markup)
    text = _TAG.sub("", _ADDED.sub(_mark_added, text))
    return _clean(html.unescape(_join_added(text)))


def _letters(word: str) -> str:
    return "".join(char for char in word if char.isalpha())


def _is_capitals(word: str) -> bool:
    letters = _letters(word)
    return bool(letters) and letters.isupper()


def _leading_capitals(words: list[str]) -> int:
    """How many words at the start are set in capitals (at least one of two letters or more)."""
    count = 0
    while count < len(words) and _is_capitals(words[count]):
        count += 1
    if not any(len(_letters(word)) > 1 for word in words[:count]):
        return 0
    return count


def _recase(word: str, capitalized: bool) -> str:
    lowered = word.lower()
    if not capitalized:
        return lowered
    for i, char in enumerate(lowered):
        if char.isalpha():
            return lowered[:i] + char.upper() + lowered[i + 1 :]
    return lowered


def truecase_leading_capitals(texts: list[str]) -> list[str]:
    """Undo the capitals a Bible sets on the first word(s) of a chapter: "EN el principio"
    becomes "En el principio", "Y BOOZ subió" becomes "Y Booz subió".

    The first word keeps an initial capital; any other word is lowercased unless it is
    mostly capitalized where it occurs elsewhere in ``texts`` (names are), counting only
    positions that do not start a sentence.
    """
    split = [text.split() for text in texts]
    capitalized: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for words in split:
        for i in range(_leading_capitals(words), len(words)):
            if i == 0 or words[i - 1][-1:] in ".!?¿¡:":
                continue
            key = _letters(words[i]).lower()
            seen[key] += 1
            capitalized[key] += words[i][:1].isupper()
    result = []
    for text, words in zip(texts, split, strict=True):
        count = _leading_capitals(words)
        if count == 0:
            result.append(text)
            continue
        for i in range(count):
            key = _letters(words[i]).lower()
            words[i] = _recase(words[i], i == 0 or 2 * capitalized[key] > seen[key])
        result.append(" ".join(words))
    return result


def read_bible(sword_path: Path = SWORD_PATH) -> Iterator[tuple[str, Pair]]:
    """Yield ``(book, pair)`` for every verse present and non-empty in both modules, as
    plain text read from the OSIS markup (see :func:`osis_to_text`)."""
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
                src, tgt = (
                    bible.get(
                        books=[book.name],
                        chapters=[chapter],
                        verses=verses,
                        join="\x00",
                        clean=False,
                    )
                    for bible in (source, target)
                )
                for verse, (s, t) in enumerate(
                    zip(src.split("\x00"), tgt.split("\x00"), strict=False), 1
                ):
                    s, t = osis_to_text(s), osis_to_text(t)
                    if s and t:
                        yield book.name, Pair(s, t, f"{book.name} {chapter}:{verse}")


def split_bible(sword_path: Path = SWORD_PATH) -> dict[str, list[Pair]]:
    """The Bible corpus split by book into train, dev and test, the Spanish side truecased
    (see :func:`truecase_leading_capitals`)."""
    verses = list(read_bible(sword_path))
    targets = truecase_leading_capitals([pair.target for _, pair in verses])
    splits: dict[str, list[Pair]] = {name: [] for name in SPLITS}
    for (book, pair), target in zip(verses, targets, strict=True):
        splits[split_of_book(book)].append(Pair(pair.source, target, pair.ref))
    return splits


def reverse_splits(splits: dict[str, list[Pair]]) -> dict[str, list[Pair]]:
    """The same splits translating the other way: each pair's source and target swapped,
    so that both directions share one corpus, one split and one truecasing."""
    return {
        name: [Pair(pair.target, pair.source, pair.ref) for pair in pairs]
        for name, pairs in splits.items()
    }


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
