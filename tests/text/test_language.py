import pytest

from service.text.language import LanguageIdentifier, language_name


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier({"en", "es"})


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The weather is lovely today and we are going to the beach.", "en"),
        ("Hoy hace un tiempo estupendo y vamos a ir a la playa.", "es"),
        ("Where is the station?", "en"),
        ("¿Dónde está la estación?", "es"),
        ("thank you very", "en"),
        ("muchas gracias amigo", "es"),
    ],
)
def test_clear_sentences_and_short_texts(
    identifier: LanguageIdentifier, text: str, lang: str
) -> None:
    assert identifier.detect(text)[0][0] == lang


def test_every_language_ranked_with_confidences_summing_to_100(
    identifier: LanguageIdentifier,
) -> None:
    ranked = identifier.detect("La casa es grande y el jardín también.")
    assert sorted(code for code, _ in ranked) == ["en", "es"]
    confidences = [confidence for _, confidence in ranked]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) == pytest.approx(100.0)
    assert all(0.0 <= confidence <= 100.0 for confidence in confidences)
    assert confidences[0] > 90.0


def test_longer_text_is_more_confident(identifier: LanguageIdentifier) -> None:
    short = dict(identifier.detect("hola"))["es"]
    long = dict(identifier.detect("hola, ¿cómo estás? Yo estoy muy bien, gracias."))["es"]
    assert 50.0 < short < long


def test_text_without_letters_splits_evenly(identifier: LanguageIdentifier) -> None:
    assert identifier.detect("12 34 !!") == [("en", 50.0), ("es", 50.0)]


def test_one_language_is_always_certain() -> None:
    assert LanguageIdentifier({"es"}).detect("hello there") == [("es", 100.0)]


@pytest.mark.parametrize("languages", [{"xx"}, set()])
def test_unusable_language_sets_are_refused(languages: set[str]) -> None:
    with pytest.raises(ValueError):
        LanguageIdentifier(languages)


def test_language_names_come_from_the_iso_code() -> None:
    assert (language_name("es"), language_name("en")) == ("Spanish", "English")
    assert language_name("xx") == "xx"
