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
2. Tag placement (:mod:`bench.tag_placement`). In each verse one English content word (not
   among the split's 100 most frequent words, chosen by a hash of the verse's reference) is
   marked ``<b>word</b>`` and the verse aligned onto its Spanish reference with ``POST
   /v1/align``, format html. The Spanish words that land inside ``<b>`` are compared with the
   words eflomal links to the marked word (``{split}.align``). eflomal is a yardstick here,
   not the truth: the human reference of the right words is kept outside the repository.
   The verses and their links are read by :mod:`bench.verses`.

    python -m bench.documents --model models/en-es --data work/data --split dev
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sacrebleu

from bench.http_client import LeanConnection
from bench.tag_placement import frequent_words, place_tags, placement_table
from bench.verses import read_split
from service.config import Settings
from service.inference.runtime import RuntimeOptions
from service.inference.search import SearchOptions
from service.inference.translator import Translator
from service.text.document import join_text
from service.text.sentences import split_sentences
from service.text.words import Span

PARAGRAPH_BREAK = "\n\n"


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
        # The server's shortlist setting (on by default), so both sides decode alike.
        runtime=RuntimeOptions(
            intra_op_threads=args.threads, shortlist=Settings(**{"model_dir": args.model}).shortlist
        ),
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
