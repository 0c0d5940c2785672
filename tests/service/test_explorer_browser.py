"""The alignment explorer in a real browser (Debian's chromium driven by Playwright) against
the real server: translate, hover, permalink, levels, links, steps, errors, keys, phone width."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
SENTENCE = "In the beginning God created the heaven and the earth."

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="chromium not installed: apt-get install chromium"
)
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == []


def translate_in_page(page: Any, server: LiveServer, text: str = SENTENCE) -> None:
    page.goto(server.url + "/")
    page.fill("#source", text)
    page.fill("#beam-size", "3")
    page.fill("#n-best", "2")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)


def stored_document(server: LiveServer, page: Any) -> dict[str, Any]:
    permalink = page.get_attribute("#permalink", "href")
    match = re.fullmatch(r"/t/([0-9a-f]{32})", permalink)
    assert match, permalink
    document: dict[str, Any] = httpx.get(f"{server.url}/v1/translations/{match[1]}").json()
    return document


def test_translating_shows_the_same_translation_as_the_api(
    page: Any, shared_server: LiveServer
) -> None:
    translate_in_page(page, shared_server)
    direct = httpx.post(
        f"{shared_server.url}/v1/translate",
        json={"text": SENTENCE, "beam_size": 3, "n_best": 2},
        timeout=60,
    ).json()["translations"][0]
    assert page.text_content("#translation-text") == direct["text"]
    alternatives = page.locator("#alternatives li")
    assert alternatives.count() == len(direct["alternatives"]) == 1
    assert direct["alternatives"][0]["text"] in alternatives.first.text_content()


def test_hovering_a_target_word_lights_the_source_words_it_attends_to(
    page: Any, shared_server: LiveServer
) -> None:
    translate_in_page(page, shared_server)
    attention = np.array(stored_document(shared_server, page)["alignment"]["words"]["attention"])
    for row in range(attention.shape[0]):
        page.hover(f'#target-words [data-t="{row}"]')
        lit = page.locator("#source-words .word.hl")
        lit_indices = {int(lit.nth(k).get_attribute("data-s")) for k in range(lit.count())}
        assert lit_indices == {int(i) for i in np.flatnonzero(attention[row] >= 0.05)}
        assert int(attention[row].argmax()) in lit_indices
        header = page.locator(f'.heatmap .row-label[data-t="{row}"]')
        assert "lit" in (header.get_attribute("class") or "")
    # And the other way: a source word lights the target words that attend to it.
    column = int(attention[0].argmax())
    page.hover(f'#source-words [data-s="{column}"]')
    lit = page.locator("#target-words .word.hl")
    lit_rows = {int(lit.nth(k).get_attribute("data-t")) for k in range(lit.count())}
    assert lit_rows == {int(j) for j in np.flatnonzero(attention[:, column] >= 0.05)}


def test_focus_works_from_the_keyboard(page: Any, shared_server: LiveServer) -> None:
    translate_in_page(page, shared_server)
    page.focus('.heatmap .row-label[data-t="0"]')
    assert page.locator("#source-words .word.hl").count() >= 1
    page.keyboard.press("Tab")  # the next target label
    focused = page.evaluate("document.activeElement.dataset.t")
    assert focused == "1"


def test_the_permalink_reloads_the_stored_document(page: Any, shared_server: LiveServer) -> None:
    translate_in_page(page, shared_server)
    text = page.text_content("#translation-text")
    document = stored_document(shared_server, page)
    page.click("#permalink")
    page.wait_for_url(f"**/t/{document['id']}")
    page.wait_for_selector("#result:not([hidden])")
    assert page.text_content("#translation-text") == text == document["text"]
    assert page.input_value("#source") == SENTENCE
    downloads = (("#dl-json", ""), ("#dl-svg", "/alignment.svg"), ("#dl-png", "/alignment.png"))
    for link, suffix in downloads:
        href = page.get_attribute(link, "href")
        assert href.startswith(f"/v1/translations/{document['id']}{suffix}")
        assert httpx.get(shared_server.url + href).status_code == 200


def test_levels_links_and_steps_follow_the_document(page: Any, shared_server: LiveServer) -> None:
    translate_in_page(page, shared_server)
    alignment = stored_document(shared_server, page)["alignment"]
    rows = page.locator(".heatmap .row-label")
    assert rows.count() == len(alignment["words"]["target"])
    assert page.locator(".heatmap .cell").count() == len(alignment["words"]["target"]) * len(
        alignment["words"]["source"]
    )
    page.check('input[name="level"][value="subword"]')
    assert rows.count() == len(alignment["target_tokens"])
    assert page.locator(".heatmap .col-label").count() == len(alignment["source_tokens"])
    assert page.get_attribute("#dl-svg", "href").endswith("level=subword")
    page.check('input[name="level"][value="word"]')
    assert rows.count() == len(alignment["words"]["target"])

    assert page.locator(".cell.link").count() == 0
    page.check("#show-links")
    assert page.locator(".cell.link").count() == len(alignment["pharaoh"].split())

    steps = len(alignment["target_tokens"])
    assert page.text_content("#step-label").startswith(f"step 1 of {steps}")
    page.click("#step-next")
    assert page.text_content("#step-label").startswith(f"step 2 of {steps}")
    bars = page.locator("#step-bars .bar-value")
    assert bars.count() == len(alignment["words"]["source"])
    shown = [float(bars.nth(k).text_content()) for k in range(bars.count())]
    assert sum(shown) == pytest.approx(1.0, abs=0.01 * len(shown))


def test_api_errors_are_shown_as_their_message(page: Any, shared_server: LiveServer) -> None:
    page.goto(shared_server.url + "/")
    page.fill("#beam-size", "2")
    page.fill("#n-best", "3")
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error") == "n_best must be between 1 and beam_size (2)"
    assert page.is_hidden("#result")


def test_the_api_key_is_sent_and_kept_for_the_session(
    page: Any, start_server: Callable[..., LiveServer]
) -> None:
    server = start_server(api_keys="k-one,k-two")
    page.goto(server.url + "/")
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert "Authorization: Bearer" in page.text_content("#error")
    page.click("#key-box summary")
    page.fill("#api-key", "k-two")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    assert page.is_hidden("#error")
    page.reload()
    assert page.input_value("#api-key") == "k-two"


def test_readable_at_phone_width_and_a_screenshot(
    browser: Any, shared_server: LiveServer, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    translate_in_page(page, shared_server)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot = tmp_path / "explorer-phone.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")
    context.close()


def test_align_mode_shows_the_given_translation_and_the_head_matrix(
    page: Any, shared_server: LiveServer
) -> None:
    page.goto(shared_server.url + "/")
    page.check('input[name="mode"][value="align"]')
    page.fill("#source", "Jesus wept.")
    page.fill("#target", "Y lloró Jesús.")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    assert page.text_content("#translation-text") == "Y lloró Jesús."
    document = stored_document(shared_server, page)
    assert document["options"]["forced"] is True
    words = document["alignment"]["words"]
    assert page.locator("#matrix-choice").is_visible()  # the tiny model has a head
    page.check('input[name="matrix"][value="both"]')
    assert page.locator(".heatmap").count() == 2
    cells = len(words["source"]) * len(words["target"])
    assert page.locator(".heatmap .cell").count() == 2 * cells
    page.check('input[name="matrix"][value="head"]')
    assert page.locator(".heatmap").count() == 1


DOCUMENT = "In the beginning God created the heaven and the earth. Jesus wept."


def keys(locator: Any, side: str) -> set[str]:
    return {locator.nth(k).get_attribute(f"data-{side}") for k in range(locator.count())}


def test_a_document_shows_one_heatmap_per_sentence_and_hover_stays_in_its_sentence(
    page: Any, shared_server: LiveServer
) -> None:
    translate_in_page(page, shared_server, DOCUMENT)
    document = stored_document(shared_server, page)
    alignment = document["alignment"]
    blocks = alignment["sentences"]
    assert alignment["attention"] is None and len(blocks) == len(document["sentences"]) == 2
    assert page.locator(".sentence-map").count() == 2
    assert page.locator('.heatmap[data-kind="attention"]').count() == 2
    for k, block in enumerate(blocks):
        rows = page.locator(f'.sentence-map[data-k="{k}"] .heatmap .row-label')
        assert rows.count() == len(block["words_attention"])  # its words, then its </s>
        svg = page.get_attribute(f'.sentence-map[data-k="{k}"] a[data-download="svg"]', "href")
        assert f"sentence={k}" in svg
        assert httpx.get(shared_server.url + svg, timeout=30).status_code == 200

    # A source word of the second sentence lights only that sentence's target words, by
    # its column of the sentence's own matrix.
    second = blocks[1]
    s0, s1 = second["source_words"]
    t0, t1 = second["target_words"]
    matrix = np.array(second["words_attention"])
    local = int(matrix[:, : s1 - s0].sum(axis=0).argmax())
    page.hover(f'#source-words [data-s="{s0 + local}"]')
    lit = keys(page.locator("#target-words .word.hl"), "t")
    second_keys = [str(t) for t in range(t0, t1)] + [str(len(alignment["words"]["target"]) - 1)]
    expected = {second_keys[j] for j in np.flatnonzero(matrix[:, local] >= 0.05)}
    assert lit == expected and lit
    assert all(t0 <= int(key) < t1 or key == second_keys[-1] for key in lit)
    heat = page.locator('.sentence-map[data-k="1"] .row-label.hl')
    assert keys(heat, "t") == expected
    assert page.locator('.sentence-map[data-k="0"] .row-label.hl').count() == 0
    links = [tuple(map(int, pair.split("-"))) for pair in alignment["pharaoh"].split()]
    linked = keys(page.locator("#target-words .word.linked"), "t")
    assert linked == {str(t) for s, t in links if s == s0 + local}

    page.check('input[name="level"][value="subword"]')
    p0, p1 = second["target_tokens"]
    assert page.locator('.sentence-map[data-k="1"] .row-label').count() == p1 - p0
    page.fill("#step", str(p0))
    page.dispatch_event("#step", "input")
    assert page.text_content("#step-label").endswith("(sentence 2)")


MARKUP = (
    "<p><b>In the beginning</b> God <i>created the heaven</i> and <em>the earth</em>.</p>"
    '<p>Jesus wept.<img src="x" onerror="window.ranMarkup = true"></p>'
)


def bare(word: str) -> str:
    return word.strip(".,;:!?")


def test_markup_mode_renders_the_translation_and_lights_an_elements_words(
    page: Any, shared_server: LiveServer
) -> None:
    page.goto(shared_server.url + "/")
    page.select_option("#format", "html")
    page.fill("#source", MARKUP)
    page.fill("#beam-size", "3")
    page.fill("#n-best", "2")
    page.click("#submit")
    page.wait_for_selector("#markup:not([hidden])", timeout=30_000)
    direct = httpx.post(
        f"{shared_server.url}/v1/translate",
        json={"text": MARKUP, "beam_size": 3, "n_best": 2, "format": "html"},
        timeout=60,
    ).json()["translations"][0]
    # The markup is shown as text, and drawn without any of its attributes or scripts.
    assert page.text_content("#target-markup") == direct["text"]
    assert page.text_content("#source-markup") == MARKUP
    drawn = page.inner_text("#rendered-target").replace("[image]", "")
    assert " ".join(drawn.split()) == " ".join(direct["plain"]["target"].split())
    assert page.locator("#rendered-target b").count() == direct["text"].count("<b>")
    attributes = page.evaluate(
        "[...document.querySelectorAll('#rendered-source *, #rendered-target *')]"
        ".flatMap((node) => [...node.attributes].map((a) => a.name))"
    )
    assert set(attributes) <= {"class", "data-ws", "data-wt"}
    assert page.evaluate("window.ranMarkup") is None
    assert page.text_content("#translation-text") == direct["plain"]["target"]

    elements = page.locator("#elements button.element")
    assert elements.count() == 3
    words = direct["alignment"]["words"]
    tagged = {
        name: " ".join(re.sub(r"<[^>]+>", " ", inner) for inner in found).split()
        for name in ("b", "i", "em")
        for found in [re.findall(rf"<{name}>(.*?)</{name}>", direct["text"])]
    }
    source_tagged = {"b": ["In", "the", "beginning"], "i": ["created", "the", "heaven"]}
    source_tagged["em"] = ["the", "earth."]
    landed = 0
    for index, name in enumerate(("b", "i", "em")):
        page.hover(f'[data-element="{index}"]')
        source_lit = page.locator("#source-words .word.lit")
        assert [words["source"][int(k)] for k in sorted(keys(source_lit, "s"), key=int)] == (
            source_tagged[name]
        )
        target_lit = page.locator("#target-words .word.lit")
        lit_words = sorted(bare(words["target"][int(k)]) for k in keys(target_lit, "t"))
        assert lit_words == sorted(bare(word) for word in tagged[name])
        frags = page.locator("#rendered-target .frag.lit")
        assert {frags.nth(k).get_attribute("data-wt") for k in range(frags.count())} == keys(
            target_lit, "t"
        )
        landed += bool(lit_words)
    assert landed >= 1


def test_the_permalink_shows_while_the_document_is_pending(
    page: Any, start_server: Callable[..., LiveServer]
) -> None:
    from tests.conftest import free_port

    server = start_server(redis_url=f"redis://127.0.0.1:{free_port()}/0")  # store down
    translate_in_page(page, server)
    assert page.is_visible("#permalink") and page.is_visible("#storage-note")
    document = stored_document(server, page)  # fetchable from the buffer
    assert document["text"] == page.text_content("#translation-text")
    svg = page.get_attribute("#dl-svg", "href")
    assert httpx.get(server.url + svg, timeout=30).status_code == 200


def test_a_dropped_document_has_no_permalink(page: Any, shared_server: LiveServer) -> None:
    def drop(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        for translation in body["translations"]:
            translation.update(stored=False, storage="dropped")
        route.fulfill(response=response, json=body)

    page.route("**/v1/translate", drop)
    translate_in_page(page, shared_server)
    assert page.is_hidden("#links") and page.is_visible("#dropped-note")


def test_the_direction_picker_lists_the_served_models(page: Any, shared_server: LiveServer) -> None:
    served = httpx.get(f"{shared_server.url}/v1/models", timeout=10).json()["models"]
    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda request: sent.append(request.post_data_json) if request.method == "POST" else None,
    )
    translate_in_page(page, shared_server)
    options = page.locator("#direction option")
    assert [options.nth(k).get_attribute("value") for k in range(options.count())] == [
        f"{m['source_lang']}-{m['target_lang']}" for m in served
    ]
    assert "English → Spanish" in options.first.text_content()
    assert (sent[-1]["source_lang"], sent[-1]["target_lang"]) == ("en", "es")

    # A second direction, as a server with two models lists it: the page sends its pair.
    def two_models(route: Any) -> None:
        reverse = {**served[0], "source_lang": "es", "target_lang": "en", "name": "es-en"}
        route.fulfill(json={"models": [served[0], reverse]})

    page.route("**/v1/models", two_models)
    page.reload()
    page.wait_for_function("document.querySelectorAll('#direction option').length === 2")
    page.select_option("#direction", "es-en")
    page.fill("#source", "En el principio.")
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert (sent[-1]["source_lang"], sent[-1]["target_lang"]) == ("es", "en")
    assert "no model translates es to en" in page.text_content("#error")


def test_a_target_word_edits_the_translation_from_there(
    page: Any, shared_server: LiveServer
) -> None:
    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda request: sent.append(request.post_data_json) if request.method == "POST" else None,
    )
    translate_in_page(page, shared_server)
    words = stored_document(shared_server, page)["alignment"]["words"]
    text = page.text_content("#translation-text")
    assert page.is_hidden("#prefix-form")
    page.click('#target-words [data-t="1"]')
    assert page.is_visible("#prefix-form")
    assert page.input_value("#prefix") == text[: words["target_spans"][1][1]]

    prefix = "Y dijo Dios"
    direct = httpx.post(
        f"{shared_server.url}/v1/translate",
        json={"text": SENTENCE, "beam_size": 3, "n_best": 2, "target_prefix": prefix},
        timeout=60,
    ).json()["translations"][0]
    assert direct["text"].startswith(prefix) and direct["text"] != text
    page.fill("#prefix", prefix)
    page.press("#prefix", "Enter")  # submits the box, as "Re-translate from here" does
    page.wait_for_function(
        "(expected) => document.getElementById('translation-text').textContent === expected",
        arg=direct["text"],
        timeout=30_000,
    )
    assert sent[-1]["target_prefix"] == prefix and sent[-1]["text"] == SENTENCE
    assert page.is_hidden("#prefix-form")
    assert prefix in page.text_content("#score")

    # From the keyboard: Enter on a focused target word opens the box, Escape closes it.
    page.focus('#target-words [data-t="0"]')
    page.keyboard.press("Enter")
    assert page.input_value("#prefix") == "Y"
    assert page.evaluate("document.activeElement.id") == "prefix"
    page.keyboard.press("Escape")
    assert page.is_hidden("#prefix-form")
    assert len(sent) == 2  # translate, then re-translate from the prefix
