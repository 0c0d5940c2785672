"""The documents bench's own parts on a few fixture verses: paragraphs, the marked word and
reading back where the mark landed, the checks on offsets and blank lines; and both HTTP
passes against the real server on the tiny model."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.documents import (
    crossing_sentences,
    group_paragraphs,
    join_groups,
    offset_failures,
    split_paragraphs,
    translate_in_process,
    translate_paragraphs,
    translate_split,
)
from bench.tag_placement import (
    Placement,
    choose_word,
    frequent_words,
    mark_word,
    marked_words,
    place_tags,
    placement_table,
)
from bench.verses import Verse, parse_links, read_split
from service.inference.translator import Translator
from tests.conftest import LiveServer

VERSES = [
    ("In the beginning, God created the heavens and the earth.", "Genesis"),
    ("The earth was formless and empty.", "Genesis"),
    ("God said, “Let there be light,” and there was light.", "Genesis"),
    ("Jesus wept.", "John"),
    ("The Word became flesh & lived among us.", "John"),
]


def test_paragraphs_are_consecutive_verses_of_one_book() -> None:
    books = ["Genesis"] * 7 + ["John"] * 2 + ["Genesis"]
    assert group_paragraphs(books, 3) == [[0, 1, 2], [3, 4, 5], [6], [7, 8], [9]]
    assert group_paragraphs([], 5) == []


def test_join_groups_puts_each_paragraphs_verses_together() -> None:
    assert join_groups(["a", "b", "c", "d"], [[0, 1, 2], [3]]) == ["a b c", "d"]


def test_a_verse_split_into_sentences_is_joined_with_its_own_whitespace(
    tiny_artifact: Path,
) -> None:
    translator = Translator.from_directory(tiny_artifact)
    texts = ["Jesus wept.", "God is love.  Amen."]
    alone = translate_in_process(translator, ["Jesus wept.", "God is love.", "Amen."], 1, 2)
    split = translate_split(translator, texts, "en", 1, 2)
    assert split == [alone[0], f"{alone[1]}  {alone[2]}"]


def test_sentences_across_a_verse_boundary_are_counted() -> None:
    paragraphs = [["Jesus wept.", "God is love."], ["He said to them,", "“Follow me.”"]]
    assert crossing_sentences(paragraphs, "en") == (3, 1)


def test_read_split_pairs_each_verse_with_its_links(tmp_path: Path) -> None:
    (tmp_path / "dev.tsv").write_text(
        "Jesus wept.\tJesús lloró.\tJohn 11:35\nAmen.\tAmén.\tPsalms 41:13\n", encoding="utf-8"
    )
    (tmp_path / "dev.align").write_text("0-0 1-1\n0-0\n", encoding="utf-8")
    first, second = read_split(tmp_path, "dev")
    assert first == Verse("Jesus wept.", "Jesús lloró.", "John", frozenset({(0, 0), (1, 1)}))
    assert second.book == "Psalms" and second.links == parse_links("0-0")


def test_the_marked_word_is_a_content_word_and_the_same_every_time() -> None:
    frequent = frequent_words([text for text, _ in VERSES], count=3)
    assert frequent == {"the", "god", "and"}
    for text, book in VERSES:
        n = choose_word(text, frequent, f"{book}|{text}")
        assert n is not None
        assert n == choose_word(text, frequent, f"{book}|{text}")
        word = text.split()[n].strip(",.“”").lower()
        assert word not in frequent
    assert choose_word("The and the.", {"the", "and"}, "x") is None


def test_marking_keeps_punctuation_outside_and_escapes_the_text() -> None:
    text = VERSES[4][0]
    assert mark_word(text, 5) == "The Word became flesh &amp; <b>lived</b> among us."
    assert (
        mark_word(VERSES[2][0], 5) == "God said, “Let there be <b>light</b>,” and there was light."
    )
    plain, inside = marked_words(mark_word(text, 6))
    assert plain == text and inside == {6}


def test_marked_words_reads_every_run_and_an_empty_mark() -> None:
    plain, inside = marked_words("<b>En</b> el <b>principio</b> creó &amp; Dios<b></b>.")
    assert plain == "En el principio creó & Dios."
    assert inside == {0, 2}
    assert marked_words("Jesús <b></b>lloró.") == ("Jesús lloró.", set())
    assert marked_words("Jes<b>ús</b> lloró.")[1] == {0}


def test_placement_table_counts_agreement_overlap_and_empty_marks() -> None:
    placements = [
        Placement({1}, {1}, True, "sentences"),  # exact
        Placement({1, 2}, {2, 3}, True, "whole"),  # overlap only
        Placement(set(), {4}, True, "sentences"),  # the service placed nothing
        Placement(set(), set(), False, "sentences"),  # neither did eflomal
    ]
    table = placement_table(placements)
    assert table["verses"] == 4
    assert (table["exact"], table["overlap"]) == (25.0, 50.0)
    assert (table["service empty"], table["eflomal empty"], table["both empty"]) == (
        50.0,
        25.0,
        25.0,
    )
    assert (table["target changed"], table["pairs whole"]) == (25.0, 25.0)


def test_offsets_and_blank_lines_are_checked() -> None:
    text = "Jesus  wept.\n\nAmen."
    words = ["Jesus", "wept.", "Amen.", "</s>"]
    assert offset_failures(text, words, [(0, 5), (7, 12), (14, 19), None]) == 0
    assert offset_failures(text, words, [(0, 5), (6, 11), (14, 19), None]) == 1
    assert offset_failures(text, words[1:], [(7, 12), (14, 19), None]) == 1  # a word missing
    assert split_paragraphs("Jesús lloró.\n\nAmén.", 2) == ["Jesús lloró.", "Amén."]
    assert split_paragraphs("Jesús lloró.\nAmén.", 2) is None


def test_both_passes_run_against_the_real_server(shared_server: LiveServer) -> None:
    paragraphs = [" ".join(text for text, _ in VERSES[:3]), " ".join(t for t, _ in VERSES[3:])]
    run = asyncio.run(translate_paragraphs(shared_server.url, paragraphs, beam=1, per_text=2))
    assert run.texts == 1 and len(run.translations) == 2
    assert run.blank_line_failures == 0 and run.offset_failures == 0 and run.words > 20
    verses = [Verse(text, "Jesús lloró y dijo amén.", book, frozenset()) for text, book in VERSES]
    placements, rule = asyncio.run(place_tags(shared_server.url, verses, set()))
    assert len(placements) == len(VERSES) and rule in {"argmax", "intersection", "threshold"}
    assert all(p.target_kept and not p.eflomal for p in placements)
    assert all(p.service <= set(range(5)) for p in placements)
