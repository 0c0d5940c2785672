"""The data split (by book for the Bible, by source hash for a user corpus) and the readers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from model_export.corpus import (
    DEV_BOOKS,
    SPLITS,
    SWORD_PATH,
    TEST_BOOKS,
    Pair,
    osis_to_text,
    read_parallel_files,
    read_tsv,
    split_bible,
    split_by_hash,
    split_of_book,
    truecase_leading_capitals,
)

FIXTURE_CORPUS = Path(__file__).parents[1] / "fixtures" / "bible_en_es_400.tsv"

# The split of issue 3, spelled as pysword spells the books.
EXPECTED_TEST = [
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
EXPECTED_DEV = [
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


@pytest.mark.parametrize("book", EXPECTED_TEST)
def test_test_books_go_to_test(book: str) -> None:
    assert split_of_book(book) == "test"


@pytest.mark.parametrize("book", EXPECTED_DEV)
def test_dev_books_go_to_dev(book: str) -> None:
    assert split_of_book(book) == "dev"


@pytest.mark.parametrize(
    "book", ["Genesis", "Psalms", "Isaiah", "Matthew", "John", "III John ", "Revelation of John"]
)
def test_other_books_go_to_train(book: str) -> None:
    assert split_of_book(book) == "train"


def test_book_sets_are_the_issue_split() -> None:
    assert len(TEST_BOOKS) == 12
    assert len(DEV_BOOKS) == 11
    assert not TEST_BOOKS & DEV_BOOKS
    assert set(EXPECTED_TEST) == TEST_BOOKS
    assert set(EXPECTED_DEV) == DEV_BOOKS


def _synthetic_pairs(n: int) -> list[Pair]:
    return [Pair(f"source sentence {i}", f"frase destino {i}", f"line {i}") for i in range(n)]


def test_split_by_hash_is_deterministic() -> None:
    pairs = _synthetic_pairs(500)
    first = split_by_hash(pairs, dev_fraction=0.1, test_fraction=0.1)
    second = split_by_hash(list(reversed(pairs)), dev_fraction=0.1, test_fraction=0.1)
    assert set(first) == set(SPLITS)
    for name in SPLITS:
        assert set(first[name]) == set(second[name])
    assert first == split_by_hash(pairs, dev_fraction=0.1, test_fraction=0.1)


def test_split_by_hash_puts_each_pair_in_exactly_one_split() -> None:
    pairs = _synthetic_pairs(2000)
    splits = split_by_hash(pairs, dev_fraction=0.1, test_fraction=0.2)
    seen = Counter(pair for name in SPLITS for pair in splits[name])
    assert sum(seen.values()) == len(pairs)
    assert set(seen) == set(pairs)
    assert max(seen.values()) == 1


def test_split_by_hash_keeps_duplicate_sources_together() -> None:
    pairs = _synthetic_pairs(300)
    # The same source with other translations and refs, as in a corpus with repeats.
    duplicates = [Pair(p.source, p.target + " (otra)", p.ref + "b") for p in pairs]
    splits = split_by_hash(pairs + duplicates, dev_fraction=0.2, test_fraction=0.2)
    split_of_source: dict[str, set[str]] = {}
    for name in SPLITS:
        for pair in splits[name]:
            split_of_source.setdefault(pair.source, set()).add(name)
    assert len(split_of_source) == 300
    assert all(len(names) == 1 for names in split_of_source.values())
    assert all(len(splits[name]) % 2 == 0 for name in SPLITS)


@pytest.mark.parametrize(("dev", "test"), [(0.05, 0.05), (0.1, 0.2), (0.0, 0.3)])
def test_split_by_hash_respects_fractions(dev: float, test: float) -> None:
    pairs = _synthetic_pairs(2000)
    splits = split_by_hash(pairs, dev_fraction=dev, test_fraction=test)
    assert len(splits["dev"]) / 2000 == pytest.approx(dev, abs=0.02)
    assert len(splits["test"]) / 2000 == pytest.approx(test, abs=0.02)
    assert len(splits["train"]) / 2000 == pytest.approx(1 - dev - test, abs=0.03)


def test_read_tsv_reads_the_fixture() -> None:
    pairs = read_tsv(FIXTURE_CORPUS)
    assert len(pairs) == 400
    assert all(p.source and p.target for p in pairs)
    assert all("\t" not in p.source + p.target for p in pairs)
    first = FIXTURE_CORPUS.read_text(encoding="utf-8").splitlines()[0].split("\t")
    assert pairs[0] == Pair(first[0], first[1], first[2])


def test_read_tsv_cleans_whitespace_and_drops_empty_sides(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text(
        "  Hello   world \t Hola   mundo \n"  # line 1: kept, no ref column
        "only source\t   \n"  # line 2: empty target, dropped
        "\tonly target\n"  # line 3: empty source, dropped
        'a "quoted" word\tuna palabra "citada"\tJohn 1:1\n',  # line 4: quotes kept literally
        encoding="utf-8",
    )
    assert read_tsv(path) == [
        Pair("Hello world", "Hola mundo", "pairs.tsv:1"),
        Pair('a "quoted" word', 'una palabra "citada"', "John 1:1"),
    ]


def test_read_tsv_rejects_a_line_with_one_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.tsv"
    path.write_text("one\tuno\ntwo\tdos\nthree without a tab\nfour\tcuatro\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.tsv:3:"):
        read_tsv(path)


def test_read_parallel_files_pairs_lines_and_drops_empty_sides(tmp_path: Path) -> None:
    source, target = tmp_path / "train.en", tmp_path / "train.es"
    source.write_text("Good  morning\n\nThank you\nYes\n", encoding="utf-8")
    target.write_text("Buenos días\nNada\nGracias\n \n", encoding="utf-8")
    assert read_parallel_files(source, target) == [
        Pair("Good morning", "Buenos días", "line 1"),
        Pair("Thank you", "Gracias", "line 3"),
    ]


def test_read_parallel_files_rejects_mismatched_line_counts(tmp_path: Path) -> None:
    source, target = tmp_path / "a.en", tmp_path / "a.es"
    source.write_text("one\ntwo\nthree\n", encoding="utf-8")
    target.write_text("uno\ndos\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"3 lines.*has 2"):
        read_parallel_files(source, target)


# Figures of the real corpus (issue 3): train / dev / test pairs.
BIBLE_SIZES = {"train": 29_499, "dev": 557, "test": 1_021}


@pytest.mark.slow
@pytest.mark.skipif(
    not (SWORD_PATH / "mods.d").is_dir(),
    reason=f"no SWORD modules in {SWORD_PATH}: apt-get install sword-text-web sword-text-sparv",
)
def test_real_bible_split_sizes_and_no_leak() -> None:
    pytest.importorskip("pysword", reason="pysword not installed: pip install -e '.[train]'")
    splits = split_bible()
    for name, expected in BIBLE_SIZES.items():
        assert len(splits[name]) == pytest.approx(expected, rel=0.03), name
    refs = {name: [pair.ref for pair in splits[name]] for name in SPLITS}
    for name in SPLITS:
        assert len(set(refs[name])) == len(refs[name]), f"repeated verse in {name}"
    assert not set(refs["train"]) & set(refs["dev"])
    assert not set(refs["train"]) & set(refs["test"])
    assert not set(refs["dev"]) & set(refs["test"])
    for name in SPLITS:
        books = {ref.rsplit(" ", 1)[0] for ref in refs[name]}
        assert {split_of_book(book) for book in books} == {name}
    assert {ref.rsplit(" ", 1)[0] for ref in refs["test"]} == TEST_BOOKS
    assert {ref.rsplit(" ", 1)[0] for ref in refs["dev"]} == DEV_BOOKS
    assert all(pair.source and pair.target for name in SPLITS for pair in splits[name])


# A verse with a footnote and words the translators added, as the SWORD modules store them.
GENESIS_1_1 = (
    '<w lemma="strong:H0430">In</w> <w lemma="strong:H0853">the</w> '
    '<w lemma="strong:H7225">beginning</w>, <w lemma="strong:H0430">God</w>'
    '<note placement="foot"><reference type="annotateRef">1:1 </reference>The Hebrew word '
    "rendered “God” is “אֱלֹהִ֑ים” (Elohim).</note>"
    '<w lemma="strong:H1254">created</w> <w lemma="strong:H0853">the</w> '
    '<w lemma="strong:H8064">heavens</w> and the earth. '
)


def test_a_footnote_becomes_a_space_not_glue() -> None:
    assert osis_to_text(GENESIS_1_1) == ("In the beginning, God created the heavens and the earth.")


def test_titles_are_dropped_and_entities_unescaped() -> None:
    markup = '<title type="psalm">A Psalm by David.</title> <l>Yahweh &amp; me</l>'
    assert osis_to_text(markup) == "Yahweh & me"


def test_words_the_translators_added_stay_apart_from_their_neighbours() -> None:
    markup = (
        '<w>Y FUÉ</w><transChange type="added">que</transChange><w>á los treinta</w>, '
        '<w>PASANDO</w><transChange type="added">Jesús</transChange>, '
        '<w>sáca</w><transChange type="added">lo</transChange> fuera'
    )
    assert osis_to_text(markup) == "Y FUÉ que á los treinta, PASANDO Jesús, sácalo fuera"


def test_chapter_initial_capitals_are_truecased() -> None:
    texts = [
        "EN el principio crió Dios los cielos y la tierra.",
        "Y BOOZ subió á la puerta.",
        "Y ACONTECIÓ en los días que gobernaban los jueces.",
        "y engendró á Booz, y Booz engendró á Obed.",
        "y aconteció que vino.",
        "Y dijo Dios: Sea la luz.",
    ]
    assert (
        truecase_leading_capitals(texts)
        == [
            "En el principio crió Dios los cielos y la tierra.",
            "Y Booz subió á la puerta.",  # a name: capitalized where it occurs elsewhere
            "Y aconteció en los días que gobernaban los jueces.",
            *texts[3:],  # no capitals to undo
        ]
    )
