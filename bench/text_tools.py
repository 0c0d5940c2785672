"""Sentence segmenters and language identifiers measured on the dev books.

Sentences: dev verses joined with a space, 3 to 5 consecutive verses of one book to a
paragraph, and each segmenter scored on the verse boundaries it recovers. A verse may hold
several sentences, so the verse boundaries are a lower bound on the real ones: recall is the
figure that counts, and the extra splits are shown so they can be judged.

Languages: every dev verse of both sides, and its prefixes of 1, 2, 3, 5 and 10 words, given to
each identifier restricted to English and Spanish. Load time and memory are measured in a fresh
interpreter per identifier.

    python -m bench.text_tools --dev /work/es-en/data/dev.tsv
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from service.text.sentences import align_pieces

Segmenter = Callable[[str], list[tuple[int, int]]]
Detector = Callable[[str], str]

CASES: list[tuple[str, str, list[str]]] = [
    ("en", "Dr. Smith arrived. He sat down.", ["Dr. Smith arrived.", "He sat down."]),
    ("en", "It costs 3.50 dollars. That is cheap.", ["It costs 3.50 dollars.", "That is cheap."]),
    (
        "en",
        "Mr. and Mrs. Jones live in the U.S. now.",
        ["Mr. and Mrs. Jones live in the U.S. now."],
    ),
    ("en", '"Who are you?" he said. "A friend."', ['"Who are you?" he said.', '"A friend."']),
    ("en", "Is it true? Yes! It is.", ["Is it true?", "Yes!", "It is."]),
    ("en", "See p. 5 for details. Thanks.", ["See p. 5 for details.", "Thanks."]),
    ("es", "El Sr. García llegó. Se sentó.", ["El Sr. García llegó.", "Se sentó."]),
    ("es", "Sr. García, bienvenido. Pase.", ["Sr. García, bienvenido.", "Pase."]),
    ("es", "Cuesta 3,50 euros. Es barato.", ["Cuesta 3,50 euros.", "Es barato."]),
    ("es", "¿Cómo estás? ¡Muy bien! Gracias.", ["¿Cómo estás?", "¡Muy bien!", "Gracias."]),
    (
        "es",
        "Dijo: «¿Vienes?» y se fue. Luego volvió.",
        ["Dijo: «¿Vienes?» y se fue.", "Luego volvió."],
    ),
    (
        "es",
        "La Dra. Pérez y el Dr. Ruiz. Nadie más.",
        ["La Dra. Pérez y el Dr. Ruiz.", "Nadie más."],
    ),
]


@dataclass(frozen=True)
class Paragraph:
    text: str
    verses: list[tuple[int, int]]


def read_dev(path: Path) -> tuple[list[str], list[str], list[str]]:
    """Spanish, English and book of each dev verse."""
    es, en, books = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        spanish, english, ref = line.split("\t")
        es.append(spanish.strip())
        en.append(english.strip())
        books.append(ref.rsplit(" ", 1)[0])
    return es, en, books


def paragraphs(verses: Sequence[str], books: Sequence[str]) -> list[Paragraph]:
    """Consecutive verses of one book joined with a space, 3, 4, 5, 3, ... at a time."""
    out: list[Paragraph] = []
    i = size_index = 0
    while i < len(verses):
        size = 3 + size_index % 3
        group = [j for j in range(i, min(i + size, len(verses))) if books[j] == books[i]]
        spans, start = [], 0
        for j in group:
            spans.append((start, start + len(verses[j])))
            start += len(verses[j]) + 1
        out.append(Paragraph(" ".join(verses[j] for j in group), spans))
        i += len(group)
        size_index += 1
    return out


def segmenters(lang: str) -> dict[str, Segmenter]:
    import blingfire
    import pysbd
    import sentencex

    from service.text.sentences import split_sentences

    pysbd_segmenter = pysbd.Segmenter(language=lang, clean=False)
    return {
        "pysbd": lambda text: align_pieces(text, pysbd_segmenter.segment(text)),
        "sentencex": lambda text: align_pieces(text, sentencex.segment(lang, text)),
        "blingfire": lambda text: align_pieces(text, blingfire.text_to_sentences(text).split("\n")),
        "split_sentences": lambda text: split_sentences(text, lang),
    }


def score_segmenter(segment: Segmenter, paras: Sequence[Paragraph]) -> dict[str, float]:
    gold_total = found = extra = exact_verses = verses = ends = ends_found = 0
    started = time.perf_counter()
    predictions = [segment(p.text) for p in paras]
    elapsed = time.perf_counter() - started
    for para, spans in zip(paras, predictions, strict=True):
        gold = {start for start, _ in para.verses[1:]}
        predicted = {start for start, _ in spans[1:]}
        gold_total += len(gold)
        found += len(gold & predicted)
        extra += len(predicted - gold)
        verses += len(para.verses)
        for (start, end), (following, _) in zip(para.verses, para.verses[1:], strict=False):
            if _SENTENCE_END.search(para.text[start:end]):
                ends += 1
                ends_found += following in predicted
        exact_verses += len(set(para.verses) & set(spans))
    recall = found / gold_total
    precision = found / (found + extra)
    return {
        "recall": 100 * recall,
        "recall_at_ends": 100 * ends_found / ends,
        "precision": 100 * precision,
        "f1": 100 * 2 * precision * recall / (precision + recall),
        "extra_per_100_verses": 100 * extra / verses,
        "verse_exact": 100 * exact_verses / verses,
        "ms_per_paragraph": 1000 * elapsed / len(paras),
    }


_SENTENCE_END = re.compile(r"[.?!][\"'»”’)]*$")
_SENTENCE_START = re.compile(r"^[\"'«“‘(¿¡]*[A-ZÁÉÍÓÚÑ]")


def extra_splits(segment: Segmenter, paras: Sequence[Paragraph]) -> Iterator[tuple[str, str]]:
    """(left, right) context of each split that is not a verse boundary."""
    for para in paras:
        gold = {start for start, _ in para.verses[1:]}
        for start, _ in segment(para.text)[1:]:
            if start not in gold:
                yield para.text[max(0, start - 30) : start].rstrip(), para.text[start : start + 30]


def plausible(left: str, right: str) -> bool:
    """A split after ".", "?" or "!" (and closing quotes) before a capital letter."""
    return bool(_SENTENCE_END.search(left) and _SENTENCE_START.match(right))


def print_sentences(es: list[str], en: list[str], books: list[str], samples: int) -> None:
    print("## Sentence segmenters: verse boundaries of the dev books\n")
    print(
        "| lang | segmenter | recall | recall at . ? ! | precision | F1 | extra/100 verses "
        "| plausible extra | verse exact | ms/paragraph |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    shown: dict[str, list[tuple[str, str]]] = {}
    for lang, verses in (("en", en), ("es", es)):
        paras = paragraphs(verses, books)
        for name, segment in segmenters(lang).items():
            score = score_segmenter(segment, paras)
            extras = list(extra_splits(segment, paras))
            ok = sum(plausible(left, right) for left, right in extras)
            print(
                f"| {lang} | {name} | {score['recall']:.1f} | {score['recall_at_ends']:.1f} "
                f"| {score['precision']:.1f} "
                f"| {score['f1']:.1f} | {score['extra_per_100_verses']:.1f} "
                f"| {100 * ok / max(1, len(extras)):.0f} % | {score['verse_exact']:.1f} "
                f"| {score['ms_per_paragraph']:.3f} |"
            )
            shown[f"{lang} {name}"] = [e for e in extras if not plausible(*e)][:samples]
    print(
        f"\n({len(paragraphs(en, books))} paragraphs of {len(en)} verses a side; recall at . ? !:"
        " at the verse boundaries after a verse that ends with one; plausible extra: extra"
        " splits after . ? ! before a capital)\n"
    )
    print("Extra splits not after terminal punctuation before a capital (first few):\n")
    for key, extras in shown.items():
        for left, right in extras:
            print(f"- {key}: …{left} ‖ {right}…")
    print("\n## Sentence segmenters: cases\n")
    names = list(segmenters("en"))
    print("| lang | text | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for lang, text, expected in CASES:
        cells = []
        for segment in segmenters(lang).values():
            got = [text[a:b] for a, b in segment(text)]
            cells.append("ok" if got == expected else " ‖ ".join(got))
        print(f"| {lang} | {text} | " + " | ".join(cells) + " |")


def detectors() -> dict[str, Callable[[], Detector]]:
    """Builders of each identifier, restricted to English and Spanish."""

    def lingua(low: bool) -> Detector:
        from lingua import Language, LanguageDetectorBuilder

        builder = LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SPANISH)
        if low:
            builder = builder.with_low_accuracy_mode()
        detector = builder.with_preloaded_language_models().build()

        def detect(text: str) -> str:
            found = detector.detect_language_of(text)
            return found.iso_code_639_1.name.lower() if found else "?"

        return detect

    def langid() -> Detector:
        from langid.langid import LanguageIdentifier, model

        identifier = LanguageIdentifier.from_modelstring(model, norm_probs=True)
        identifier.set_languages(["en", "es"])
        return lambda text: str(identifier.classify(text)[0])

    def service() -> Detector:
        from service.text.language import LanguageIdentifier

        identifier = LanguageIdentifier({"en", "es"})
        return lambda text: identifier.detect(text)[0][0]

    return {
        "lingua high": lambda: lingua(low=False),
        "lingua low": lambda: lingua(low=True),
        "langid": langid,
        "LanguageIdentifier": service,
    }


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def probe_load(name: str) -> None:
    """Print the load time and resident memory of one identifier (in a fresh interpreter)."""
    before = _rss_kib()
    started = time.perf_counter()
    detect = detectors()[name]()
    detect("a first text to load whatever is loaded lazily")
    elapsed = time.perf_counter() - started
    print(json.dumps({"load_s": elapsed, "rss_mib": (_rss_kib() - before) / 1024}))


LENGTHS = (1, 2, 3, 5, 10)


def print_languages(es: list[str], en: list[str]) -> None:
    samples: dict[str, list[tuple[str, str]]] = {str(n): [] for n in LENGTHS}
    samples["verse"] = []
    for lang, verses in (("es", es), ("en", en)):
        for verse in verses:
            words = verse.split()
            for n in LENGTHS:
                if len(words) >= n:
                    samples[str(n)].append((" ".join(words[:n]), lang))
            samples["verse"].append((verse, lang))
    print("\n## Language identification (en, es): accuracy % by length in words\n")
    columns = [*samples]
    print("| identifier | " + " | ".join(columns) + " | µs/verse | load s | RSS MiB |")
    print("|---|" + "---|" * (len(columns) + 3))
    for name, build in detectors().items():
        detect = build()
        cells = []
        for column in columns:
            right = sum(detect(text) == lang for text, lang in samples[column])
            cells.append(f"{100 * right / len(samples[column]):.1f}")
        started = time.perf_counter()
        for text, _ in samples["verse"]:
            detect(text)
        per_text = 1e6 * (time.perf_counter() - started) / len(samples["verse"])
        probe = subprocess.run(
            [sys.executable, "-m", "bench.text_tools", "--probe-load", name],
            capture_output=True,
            text=True,
            check=True,
        )
        load = json.loads(probe.stdout)
        print(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {per_text:.0f} | {load['load_s']:.2f} | {load['rss_mib']:.0f} |"
        )
    counts = ", ".join(f"{column}: {len(samples[column])}" for column in columns)
    print(f"\n(texts per column, both languages: {counts})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", type=Path, default=Path("/work/es-en/data/dev.tsv"))
    parser.add_argument("--samples", type=int, default=4, help="extra splits shown per row")
    parser.add_argument("--only", choices=["sentences", "languages"])
    parser.add_argument("--probe-load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_load:
        probe_load(args.probe_load)
        return
    es, en, books = read_dev(args.dev)
    if args.only != "languages":
        print_sentences(es, en, books, args.samples)
    if args.only != "sentences":
        print_languages(es, en)


if __name__ == "__main__":
    main()
