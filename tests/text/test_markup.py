"""Markup carried through a word alignment: service.text.markup."""

from __future__ import annotations

from collections import Counter
from xml.parsers import expat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.text.markup import MarkupDocument, MarkupError, UnitTranslation, parse_markup
from service.text.markup_tree import Element, Node, parse_html


def identity(document: MarkupDocument) -> str:
    return document.render(
        [UnitTranslation(u, {(i, i) for i in range(len(u.split()))}) for u in document.units]
    )


def render_one(markup: str, text: str, links: set[tuple[int, int]], kind: str = "html") -> str:
    document = parse_markup(markup, "xml" if kind == "xml" else "html")
    assert len(document.units) == 1, document.units
    return document.render([UnitTranslation(text, links)])


@pytest.mark.parametrize(
    "markup",
    [
        "<p>Press <b>Continue</b> to go on.</p>",
        "<!DOCTYPE html>\n<html><head><title>T</title></head><body>\n<ul>\n"
        "  <li class='a' data-x=1>One <b>two <i>three</i></b> four.</li>\n"
        '  <li>Click <img src=x alt="A cat"> <a href="/x?a=1&amp;b=2" title="Go">here</a>!'
        "<br>Next line</li>\n</ul><!-- c --><pre>  keep  </pre></body></html>",
        "A &amp; B &lt; C <code>x &lt;  y</code> un<b>break</b>able <span translate=no>F</span>.",
        "<table><tr><td>One</td><th>Two</th></tr></table>\n\n<p><b> </b>x <i></i> y</p>",
    ],
)
def test_identity_translation_gives_the_input_back(markup: str) -> None:
    assert identity(parse_markup(markup, "html")) == markup


def test_example_from_the_issue() -> None:
    out = render_one(
        "Press <b>Continue</b> to go on.",
        "Pulse Continuar para seguir.",
        {(0, 0), (1, 1), (2, 2), (3, 3), (4, 3)},
    )
    assert out == "Pulse <b>Continuar</b> para seguir."


def test_units_are_cut_at_blocks_and_breaks_not_at_inline_tags() -> None:
    document = parse_markup("<div><p>View the range of <em>drawers</em></p>a<br>b</div>", "html")
    assert document.units == ["View the range of drawers", "a", "b"]


def test_nested_inline_tags_follow_their_words() -> None:
    out = render_one("<b>very <i>big</i></b> house", "casa muy grande", {(0, 1), (1, 2), (2, 0)})
    assert out == "casa <b>muy <i>grande</i></b>"


def test_reordered_word_takes_its_tag_along() -> None:
    out = render_one("the <b>red</b> car", "el coche rojo", {(0, 0), (1, 2), (2, 1)})
    assert out == "el coche <b>rojo</b>"


def test_tag_inside_a_word_covers_the_whole_translation() -> None:
    out = render_one("un<b>break</b>able glass", "vidrio irrompible", {(0, 1), (1, 0)})
    assert out == "vidrio <b>irrompible</b>"


def test_unaligned_word_inside_a_span_takes_the_span() -> None:
    out = render_one("<a href=x>big house</a> now", "casa de campo ya", {(0, 2), (1, 0), (2, 3)})
    assert out == "<a href=x>casa de campo</a> ya"


def test_unaligned_word_between_spans_takes_nothing() -> None:
    out = render_one("<b>one</b> <i>two</i>", "uno y dos", {(0, 0), (1, 2)})
    assert out == "<b>uno</b> y <i>dos</i>"


def test_element_with_no_linked_word_is_still_written() -> None:
    out = render_one("Press <b>Continue</b> now", "Pulse ahora", {(0, 0), (2, 1)})
    assert out == "Pulse<b></b> ahora"
    first = render_one("<b>Hello</b> world", "Mundo", {(1, 0)})
    assert first == "<b></b>Mundo"


def test_void_elements_and_comments_travel_verbatim() -> None:
    out = render_one("Click <img src='a.png'><!-- x -->now", "ahora clic", {(0, 1), (1, 0)})
    assert out == "<img src='a.png'><!-- x -->ahora clic"  # glued to "now", before it
    document = parse_markup("Click <img src='a.png' alt=\"Save it\"> now<wbr>", "html")
    assert document.units == ["Click now", "Save it"]
    out = document.render(
        [UnitTranslation("ahora clic", {(0, 1), (1, 0)}), UnitTranslation("Guárdalo", set())]
    )
    assert out.count("<img src='a.png' alt=\"Guárdalo\">") == 1
    assert out.count("<wbr>") == 1


def test_entities_are_decoded_in_units_and_escaped_on_output() -> None:
    document = parse_markup("<p>Tom &amp; Jerry &lt;3 &eacute;t&eacute;</p>", "html")
    assert document.units == ["Tom & Jerry <3 été"]
    out = document.render([UnitTranslation("A<B & C>D", {(0, 0)})])
    assert out == "<p>A&lt;B &amp; C&gt;D</p>"


def test_attribute_translation_keeps_quoting_and_escapes() -> None:
    document = parse_markup("<a title='Say hi' href=\"/x\">x</a><img alt=cat>", "html")
    assert document.units == ["x", "Say hi", "cat"]
    out = document.render(
        [
            UnitTranslation("x", {(0, 0)}),
            UnitTranslation("Di 'hola' & \"adiós\"", set()),
            UnitTranslation("gato negro", set()),
        ]
    )
    assert out == (
        '<a title=\'Di &#39;hola&#39; &amp; "adiós"\' href="/x">x</a><img alt="gato negro">'
    )


def test_untranslated_elements_are_kept_exactly() -> None:
    markup = (
        "Run <code>rm  -rf &amp;</code> or <kbd>q</kbd> <span class='a notranslate'>Acme"
        ' <b>Inc</b></span> <em translate="no">Nein</em> please'
    )
    document = parse_markup(markup, "html")
    assert document.units == ["Run or please"]
    words = ["Ejecute", "o", "por favor"]
    out = document.render([UnitTranslation(" ".join(words), {(0, 0), (1, 1), (2, 2)})])
    for kept in ["<code>rm  -rf &amp;</code>", "<kbd>q</kbd>", "<b>Inc</b></span>", "Nein</em>"]:
        assert out.count(kept) == 1


def test_units_without_letters_are_not_translated() -> None:
    document = parse_markup("<p>Hi</p><p> &mdash; 42 </p><p>!?</p>", "html")
    assert document.units == ["Hi", "— 42"]
    assert "<p>!?</p>" in identity(document)


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>a<p>b", "<p>a</p><p>b</p>"),
        ("<b><i>x</b></i>", "<b><i>x</i></b>"),
        ("x</b>y", "xy"),
        ("<span/>z", "<span>z</span>"),
    ],
)
def test_malformed_html_is_repaired_as_browsers_do(markup: str, expected: str) -> None:
    out = identity(parse_markup(markup, "html"))
    assert out == expected
    parse_html(out)  # well-formed now: read without repair


def test_fragment_stays_a_fragment_when_repaired() -> None:
    out = identity(parse_markup("Hello <b>world", "html"))
    assert out == "Hello <b>world</b>"
    assert "<body>" not in out


def test_whitespace_around_and_inside_units() -> None:
    markup = "<ul>\n  <li>\n   one\n\ttwo  </li>\n  <li> three </li>\n</ul>\n"
    document = parse_markup(markup, "html")
    assert document.units == ["one two", "three"]
    out = document.render(
        [UnitTranslation("uno dos", {(0, 0), (1, 1)}), UnitTranslation("tres", {(0, 0)})]
    )
    assert out == "<ul>\n  <li>\n   uno\n\tdos  </li>\n  <li> tres </li>\n</ul>\n"


def test_xml_keeps_structure_and_refuses_malformed_input() -> None:
    markup = '<?xml version="1.0"?>\n<doc><t>Hello <b a="1">world</b><x/></t>\n<t>Bye</t></doc>'
    document = parse_markup(markup, "xml")
    assert document.units == ["Hello world", "Bye"]
    assert identity(document) == markup
    out = document.render(
        [UnitTranslation("Hola mundo", {(0, 0), (1, 1)}), UnitTranslation("Adiós", {(0, 0)})]
    )
    assert (
        out == '<?xml version="1.0"?>\n<doc><t>Hola <b a="1">mundo</b><x/></t>\n<t>Adiós</t></doc>'
    )
    for bad in ["<a><b></a></b>", "x &nbsp; y", "<a>"]:
        with pytest.raises(MarkupError):
            parse_markup(bad, "xml")


def test_xml_fragment_with_inline_tags() -> None:
    document = parse_markup("Press <b>Continue</b> to go on.", "xml")
    out = document.render(
        [UnitTranslation("Pulse Continuar para seguir.", {(0, 0), (1, 1), (2, 2), (3, 3)})]
    )
    assert out == "Pulse <b>Continuar</b> para seguir."


# --- property: every element survives any alignment --------------------------------------


PROPERTY_MARKUP = (
    '<div><p class="x">The <b>quick <i>brown</i></b> fox <a href="/f" title="Fox">jumps'
    "</a> over<img src=d.png> the <span></span><em>lazy</em> dog.</p>"
    "<p>Run <code>ls</code> un<u>der</u>way <!-- n --> now</p></div>"
)


def _elements(nodes: list[Node], inline: Counter[str], other: Counter[str]) -> None:
    for node in nodes:
        if isinstance(node, Element):
            attrs = sorted((k, v) for k, v in node.attrs.items() if k not in ("alt", "title"))
            key = f"{node.name}{attrs}"
            (inline if node.name in {"b", "i", "a", "span", "em", "u"} else other)[key] += 1
            _elements(node.children, inline, other)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_alignments_keep_every_element(data: st.DataObject) -> None:
    document = parse_markup(PROPERTY_MARKUP, "html")
    translations = []
    for unit in document.units:
        n = len(unit.split())
        m = data.draw(st.integers(0, n + 2))
        links = (
            data.draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, m - 1))))
            if m
            else set()
        )
        translations.append(UnitTranslation(" ".join(f"w{j}" for j in range(m)), links))
    out = document.render(translations)
    before_inline: Counter[str] = Counter()
    before_other: Counter[str] = Counter()
    after_inline: Counter[str] = Counter()
    after_other: Counter[str] = Counter()
    _elements(parse_html(PROPERTY_MARKUP), before_inline, before_other)
    _elements(parse_html(out), after_inline, after_other)  # raises unless well-formed
    assert after_other == before_other
    assert set(after_inline) == set(before_inline)
    assert all(after_inline[k] >= count for k, count in before_inline.items())
    assert out.count("<!-- n -->") == 1
    assert out.count("<code>ls</code>") == 1


def test_render_refuses_a_wrong_number_of_translations() -> None:
    document = parse_markup("<p>a</p><p>b</p>", "html")
    with pytest.raises(ValueError, match="2 units"):
        document.render([UnitTranslation("a", set())])


def test_xml_parser_error_is_a_markup_error() -> None:
    assert issubclass(MarkupError, ValueError)
    with pytest.raises(MarkupError) as caught:
        parse_markup("<a>&bogus;</a>", "xml")
    assert isinstance(caught.value.__cause__, expat.ExpatError)


@pytest.mark.parametrize("kind", ["html", "xml"])
def test_empty_and_blank_input_come_back_unchanged(kind: str) -> None:
    for markup in ["", "  \n"]:
        document = parse_markup(markup, "xml" if kind == "xml" else "html")
        assert document.units == []
        assert document.render([]) == markup
