import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.text.sentences import align_pieces, split_sentences


def sentences(text: str, lang: str) -> list[str]:
    return [text[start:end] for start, end in split_sentences(text, lang)]


def check_invariants(text: str, spans: list[tuple[int, int]]) -> None:
    covered: set[int] = set()
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        assert not text[start].isspace() and not text[end - 1].isspace()
        covered.update(range(start, end))
        previous_end = end
    assert {i for i, c in enumerate(text) if not c.isspace()} <= covered


_ALPHABET = st.sampled_from([*"ab Z.?!¿¡«»“”\"' \n\r\t,3", "Dr.", "Sr. ", "\u2028", "é"])


@settings(max_examples=300, deadline=None)
@given(text=st.lists(_ALPHABET, max_size=60).map("".join), lang=st.sampled_from(["en", "es", "xx"]))
def test_spans_are_ordered_trimmed_and_cover_the_text(text: str, lang: str) -> None:
    spans = split_sentences(text, lang)
    check_invariants(text, spans)
    # A boundary is always whitespace, never inside a word.
    assert all(end < start for (_, end), (start, _) in itertools.pairwise(spans))
    for start, end in spans:
        assert "\n" not in text[start:end] and "\r" not in text[start:end]


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80), cuts=st.lists(st.integers(0, 80), max_size=6))
def test_alignment_holds_whatever_the_pieces(text: str, cuts: list[int]) -> None:
    """Pieces that are rewritten, missing or out of place still give valid spans."""
    bounds = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    pieces = [" ".join(text[a:b].split()).upper() for a, b in itertools.pairwise(bounds)]
    check_invariants(text, align_pieces(text, pieces[::-1] if len(cuts) % 2 else pieces))


def test_offsets_are_exact_around_irregular_whitespace() -> None:
    text = "  Hello  there.\t How are\u00a0you?   "
    assert split_sentences(text, "en") == [(2, 15), (17, 29)]
    assert sentences(text, "en") == ["Hello  there.", "How are\u00a0you?"]


def test_a_line_break_always_ends_a_sentence() -> None:
    text = "This goes on\nand on.\r\n\r\nA title\nText. More text."
    assert sentences(text, "en") == ["This goes on", "and on.", "A title", "Text.", "More text."]


def test_a_boundary_inside_a_word_is_not_a_boundary() -> None:
    assert sentences("Who?Me. Yes!no, v1.2!x here", "en") == ["Who?Me.", "Yes!no, v1.2!x here"]


def test_blank_text_has_no_sentences() -> None:
    assert split_sentences(" \n\t\n ", "en") == []


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "Dr. Smith arrived. He sat down.", ["Dr. Smith arrived.", "He sat down."]),
        (
            "en",
            "It costs 3.50 dollars. That is cheap.",
            ["It costs 3.50 dollars.", "That is cheap."],
        ),
        ("en", "Mr. and Mrs. Jones came. Hi.", ["Mr. and Mrs. Jones came.", "Hi."]),
        ("es", "El Sr. García llegó. Se sentó.", ["El Sr. García llegó.", "Se sentó."]),
        ("es", "La Dra. Pérez vino. Nadie más.", ["La Dra. Pérez vino.", "Nadie más."]),
        ("es", "Cuesta 3,50 euros. Es barato.", ["Cuesta 3,50 euros.", "Es barato."]),
    ],
)
def test_abbreviations_and_numbers_do_not_end_sentences(
    lang: str, text: str, expected: list[str]
) -> None:
    assert sentences(text, lang) == expected


def test_spanish_questions_and_exclamations() -> None:
    text = "¿Cómo estás? ¡Muy bien! Gracias."
    assert sentences(text, "es") == ["¿Cómo estás?", "¡Muy bien!", "Gracias."]


def test_lower_case_after_an_exclamation_continues_the_sentence() -> None:
    text = "¡Ay de nosotros! porque pecamos. Por esto lloramos."
    assert sentences(text, "es") == ["¡Ay de nosotros! porque pecamos.", "Por esto lloramos."]


def test_quotes_stay_with_their_sentence() -> None:
    assert sentences('"Who are you?" he said. "A friend."', "en") == [
        '"Who are you?" he said.',
        '"A friend."',
    ]
    text = "I faint all day long. “The yoke is heavy.”"
    assert sentences(text, "en") == ["I faint all day long.", "“The yoke is heavy.”"]
    text = "I will bless you.’” Then he spoke."
    assert sentences(text, "en") == ["I will bless you.’”", "Then he spoke."]
    text = "Dijo: «¿Vienes?» y se fue. Luego volvió."
    assert sentences(text, "es") == ["Dijo: «¿Vienes?» y se fue.", "Luego volvió."]


@pytest.mark.parametrize("lang", ["xx", "es-MX", "EN", ""])
def test_other_language_codes_fall_back(lang: str) -> None:
    assert sentences("One here. Two there.", lang) == ["One here.", "Two there."]


def test_long_sentences_are_cut_at_clause_marks_near_their_middle() -> None:
    from service.text.sentences import split_long

    text = (
        "And it happened in those days, that the king sat on his throne, which was in the "
        "palace; and in the third year of his reign he made a feast to all his princes."
    )
    spans = split_sentences(text, "en")
    assert split_long(text, spans, 0) == spans
    assert split_long(text, spans, 100) == spans
    pieces = [text[a:b] for a, b in split_long(text, spans, 20)]
    assert pieces[0].endswith("palace;")  # the semicolon before any comma
    assert " ".join(pieces) == text
    assert all(len(p.split()) <= 20 or not any(m in p[:-1] for m in ";:,") for p in pieces)


def test_a_cut_leaves_words_on_either_side() -> None:
    from service.text.sentences import split_long

    text = "Yes, " + " ".join(["light"] * 30) + "."
    assert split_long(text, [(0, len(text))], 10) == [(0, len(text))]  # no cut after "Yes,"
