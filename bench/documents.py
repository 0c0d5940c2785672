"""Documents: paragraphs translated sentence by sentence, and tags placed on a given
translation, measured on the prepared data's verses.

1. Paragraph BLEU. Consecutive verses of one book, five to a paragraph (joined with a space),
   are sent to the real server (``python -m service serve``, started as ``bench.load`` does)
   over HTTP with the bench's lean client: it splits every text into sentences, decodes each
   as its own row and joins them back. Four paragraphs go to a text, joined with a blank line,
   and the translation is cut back at its blank lines, which checks that they come back. Every
   word of both sides is looked up at its offsets in its text. The same paragraphs are then
   decoded in process verse by verse (the model's training unit, the verses' translations
   joined with a space) and as one input each (the behaviour before sentence splitting, with a
   larger token limit), each scored with sacrebleu against the reference verses joined the
   same way, greedy and beam 5.
2. Tag placement. In each verse one English content word (not among the split's 100 most
   frequent words, chosen by a hash of the verse's reference) is marked ``<b>word</b>`` and
   the verse aligned onto its Spanish reference with ``POST /v1/align``, format html. The
   Spanish words that land inside ``<b>`` are compared with the words eflomal links to the
   marked word (``{split}.align``). eflomal is a yardstick here, not the truth: the human
   reference of the right words is kept outside the repository.

    python -m bench.documents --model models/en-es --data work/data --split dev
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import sacrebleu

from bench.http_client import LeanConnection
from service.inference.runtime import RuntimeOptions
from service.inference.search import SearchOptions
from service.inference.translator import Translator
from service.text.document import join_text
from service.text.sentences import split_sentences
from service.text.words import Span, whitespace_words

Link = tuple[int, int]
PARAGRAPH_BREAK = "\n\n"


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


def group_paragraphs(books: Sequence[str], size: int = 5) -> list[list[int]]:
    """Indices of consecutive verses of one book, ``size`` to a group (fewer at a book's end)."""
    groups: list[list[int]] = []
    for n, book in enumerate(books):
        if groups and len(groups[-1]) < size and books[groups[-1][0]] == book:
            groups[-1].append(n)
        else:
            groups.append([n])
    return groups


def join_groups(translations: Sequence[str], groups: Sequence[Sequence[int]]) -> list[str]:
    """Consecutive translations joined with a space, as many to a paragraph as it has verses."""
    cursor = iter(translations)
    return [" ".join(next(cursor) for _ in group) for group in groups]


def crossing_sentences(paragraphs: Sequence[Sequence[str]], lang: str) -> tuple[int, int]:
    """(sentences found in the paragraphs, those among them that span a verse boundary):
    a verse that ends without a sentence end runs on into the next one's sentence."""
    total = crossing = 0
    for verses in paragraphs:
        boundaries, position = [], 0
        for verse in verses[:-1]:
            position += len(verse) + 1
            boundaries.append(position)
        for start, end in split_sentences(" ".join(verses), lang):
            total += 1
            crossing += any(start < b < end for b in boundaries)
    return total, crossing


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


# --- paragraphs over HTTP ------------------------------------------------------------------


@dataclass
class ParagraphRun:
    translations: list[str]  # one per paragraph, in order
    texts: int = 0
    blank_line_failures: int = 0  # texts whose translation did not come back with its breaks
    words: int = 0
    offset_failures: int = 0  # words not found at their offsets in their text
    seconds: float = 0.0


def offset_failures(text: str, words: Sequence[str], spans: Sequence[Span | None]) -> int:
    """How many words (``</s>`` left out) are not ``text[start:end]``, plus one when the
    words are not the text's whitespace words."""
    failures = sum(
        span is None or text[span[0] : span[1]] != word
        for word, span in zip(words[:-1], spans[:-1], strict=True)
    )
    return failures + (list(words[:-1]) != text.split())


def split_paragraphs(translation: str, count: int) -> list[str] | None:
    """The translation cut at its blank lines, or None when it has not ``count`` of them."""
    parts = translation.split(PARAGRAPH_BREAK)
    return parts if len(parts) == count and all(p.strip() for p in parts) else None


async def translate_paragraphs(
    url: str, paragraphs: Sequence[str], beam: int, per_text: int = 4, per_request: int = 4
) -> ParagraphRun:
    """Paragraphs ``per_text`` to a text joined with blank lines, through POST /v1/translate."""
    texts = [list(paragraphs[i : i + per_text]) for i in range(0, len(paragraphs), per_text)]
    run = ParagraphRun([])
    connection = LeanConnection(url)
    start = time.perf_counter()
    for i in range(0, len(texts), per_request):
        chunk = texts[i : i + per_request]
        joined = [PARAGRAPH_BREAK.join(t) for t in chunk]
        body = {"text": joined, "beam_size": beam}
        reply = await connection.send(connection.request_bytes("POST", "/v1/translate", body))
        if reply.status != 200:
            raise RuntimeError(f"POST /v1/translate: {reply.status} {reply.body[:300]!r}")
        for parts, out, source in zip(chunk, reply.json()["translations"], joined, strict=True):
            words = out["alignment"]["words"]
            run.words += len(words["source"]) + len(words["target"]) - 2
            run.offset_failures += offset_failures(source, words["source"], words["source_spans"])
            run.offset_failures += offset_failures(
                out["text"], words["target"], words["target_spans"]
            )
            back = split_paragraphs(out["text"], len(parts))
            run.texts += 1
            if back is None:
                run.blank_line_failures += 1
                back = [out["text"], *[""] * (len(parts) - 1)]  # scored, but as it came
            run.translations.extend(back)
    run.seconds = time.perf_counter() - start
    await connection.close()
    return run


# --- in process: verse by verse, and a paragraph as one input -------------------------------


def translate_split(
    translator: Translator, texts: Sequence[str], lang: str, beam: int, batch: int
) -> list[str]:
    """Each text split into sentences, every sentence decoded as its own row and the text
    joined back with its own whitespace (the server's path, in process)."""
    spans = [split_sentences(text, lang) or [(0, len(text))] for text in texts]
    sentences = [
        text[a:b] for text, text_spans in zip(texts, spans, strict=True) for a, b in text_spans
    ]
    translated = iter(translate_in_process(translator, sentences, beam, batch))
    return [
        join_text(text, text_spans, [next(translated) for _ in text_spans])[0]
        for text, text_spans in zip(texts, spans, strict=True)
    ]


def translate_in_process(
    translator: Translator, inputs: Sequence[str], beam: int, batch: int
) -> list[str]:
    out: list[str] = []
    for i in range(0, len(inputs), batch):
        out.extend(
            t.text for t in translator.translate(list(inputs[i : i + batch]), SearchOptions(beam))
        )
    return out


# --- tag placement ---------------------------------------------------------------------------


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


# --- the run ---------------------------------------------------------------------------------


def print_table(title: str, rows: Sequence[dict[str, Any]]) -> None:
    print(f"\n{title}")
    columns = list(rows[0])
    cells = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in r.values()] for r in rows]
    widths = [max(len(c), *(len(row[k]) for row in cells)) for k, c in enumerate(columns)]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/en-es"))
    parser.add_argument("--data", type=Path, required=True, help="a prepared data directory")
    parser.add_argument("--split", choices=["dev", "test"], default="dev")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--paragraph-size", type=int, default=5)
    parser.add_argument("--limit", type=int, default=0, help="first N paragraphs (0 = all)")
    parser.add_argument("--no-tags", action="store_true", help="skip the tag placement")
    parser.add_argument(
        "--link-rules",
        nargs="*",
        default=["argmax", "threshold"],
        help="placement with these link rules too, besides the service's default",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    from bench.load import start_server

    verses = read_split(args.data, args.split)
    groups = group_paragraphs([v.book for v in verses], args.paragraph_size)
    if args.limit:
        groups = groups[: args.limit]
    used = [verses[n] for group in groups for n in group]
    sources = [" ".join(verses[n].source for n in g) for g in groups]
    references = [" ".join(verses[n].target for n in g) for g in groups]
    total, crossing = crossing_sentences([[verses[n].source for n in g] for g in groups], "en")
    print(
        f"{args.split}: {len(used)} verses in {len(groups)} paragraphs of up to "
        f"{args.paragraph_size} (one book each), model {args.model}; the paragraphs have "
        f"{total} sentences, {crossing} of them across a verse boundary"
    )

    # A sentence that runs across verses can pass the default 256-token limit; the server
    # here takes it (and the count of such sentences is printed), the default one says 413.
    env = {
        "NMT_MAX_CHARS": "100000",
        "NMT_MAX_SOURCE_TOKENS": "4096",
        "NMT_INTRA_OP_THREADS": str(args.threads),
    }
    process, url = start_server(args.model, env)
    try:
        runs = {beam: asyncio.run(translate_paragraphs(url, sources, beam)) for beam in args.beams}
        tag_rows: list[dict[str, Any]] = []
        if not args.no_tags:
            frequent = frequent_words([v.source for v in verses])
            for asked in [None, *args.link_rules]:
                started = time.perf_counter()
                placements, rule = asyncio.run(place_tags(url, used, frequent, asked))
                tag_rows.append(
                    {
                        "link rule": rule + (" (default)" if asked is None else ""),
                        **placement_table(placements),
                        "s": time.perf_counter() - started,
                    }
                )
    finally:
        process.terminate()
        process.wait(timeout=30)

    translator = Translator.from_directory(
        args.model,
        runtime=RuntimeOptions(intra_op_threads=args.threads),
        max_source_tokens=4096,
    )
    over = [
        len(translator.encode_sources([text[a:b]])[0].ids)
        for text in sources
        for a, b in split_sentences(text, "en")
    ]
    print(
        f"{sum(n > 256 for n in over)} of the paragraphs' sentences have more than 256 source "
        f"tokens (the server's default limit: 413 input_too_long), the longest {max(over)}"
    )
    bleu_rows, check_rows = [], []
    for beam, run in runs.items():
        started = time.perf_counter()
        by_verse = translate_in_process(translator, [v.source for v in used], beam, 32)
        verse_seconds = time.perf_counter() - started
        started = time.perf_counter()
        by_verse_split = translate_split(translator, [v.source for v in used], "en", beam, 32)
        split_seconds = time.perf_counter() - started
        joined = join_groups(by_verse, groups)
        started = time.perf_counter()
        whole = translate_in_process(translator, sources, beam, 8)
        whole_seconds = time.perf_counter() - started
        paragraph_bleu, verse_bleu = bleu(run.translations, references), bleu(joined, references)
        bleu_rows.append(
            {
                "search": "greedy" if beam == 1 else f"beam {beam}",
                "sentences (server)": paragraph_bleu,
                "verse by verse": verse_bleu,
                "ratio": f"{paragraph_bleu / verse_bleu:.3f}",
                "ratio >= 0.97": "yes" if paragraph_bleu >= 0.97 * verse_bleu else "NO",
                "each verse split": bleu(join_groups(by_verse_split, groups), references),
                "one input (old)": bleu(whole, references),
                "seconds": (
                    f"{run.seconds:.0f} / {verse_seconds:.0f} / {split_seconds:.0f} / "
                    f"{whole_seconds:.0f}"
                ),
            }
        )
        check_rows.append(
            {
                "search": "greedy" if beam == 1 else f"beam {beam}",
                "texts": run.texts,
                "blank lines lost": run.blank_line_failures,
                "words": run.words,
                "offset failures": run.offset_failures,
            }
        )
    print_table(
        f"Paragraph BLEU ({args.split}, sacrebleu, each paragraph against its reference "
        "verses joined with a space). sentences (server): the paragraphs over HTTP; verse by "
        "verse: each verse one input; each verse split: each verse split into sentences on "
        "its own, in process; one input (old): the paragraph as one input, no splitting",
        bleu_rows,
    )
    print_table(
        f"Texts of 4 paragraphs joined with a blank line ({args.split}): breaks kept, "
        "every word at its offsets in the source and in the translation",
        check_rows,
    )
    if tag_rows:
        print_table(
            f"Tag placement onto the reference ({args.split}, POST /v1/align format html): the "
            "Spanish words inside <b> against the words eflomal links to the marked English "
            "word, percent of verses. eflomal is a yardstick here, not the truth: the human "
            "reference of the right words is kept outside the repository.",
            tag_rows,
        )


if __name__ == "__main__":
    main()
