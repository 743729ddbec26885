"""End to end in headless Chromium: Number mode and the "Wrong? It's a …" correction control,
against the real TorchServe (the .mar's number reading) and the real UI (/api/feedback stores
into the stack's own database, in its temporary run directory).
"""

from __future__ import annotations

import base64
import io

from PIL import Image
from playwright.sync_api import Page, Request, expect

from tests.browser.drawing import CELL, draw_with_mouse, draw_with_touch, number_strokes

ANSWER_TIMEOUT_MS = 15_000  # generous: CPU is shared with other work on small machines
SEVEN = [[(0.25, 0.18), (0.75, 0.18)], [(0.75, 0.18), (0.42, 0.85)]]
START = 0.15  # where number_strokes begins, in pad heights
# Chromium logs every 4xx/5xx answer as a console error; the one substituted 429 is expected.
EXPECTED_429_ERROR = "Failed to load resource: the server responded with a status of 429"


def switch_to_number_mode(page: Page) -> None:
    page.locator("label[for=mode-number]").click()
    expect(page.locator("body")).to_have_attribute("data-mode", "number")


def read_modes(page: Page) -> list[str | None]:
    """The X-Read header of every /api/predict request the page sends from now on."""
    modes: list[str | None] = []

    def seen(request: Request) -> None:
        if request.url.endswith("/api/predict"):
            modes.append(request.headers.get("x-read"))

    page.on("request", seen)
    return modes


def pad_ratio(page: Page) -> float:
    box = page.locator("#pad").bounding_box()
    return box["width"] / box["height"]


def png_size(data_url: str) -> tuple[int, int]:
    header, payload = data_url.split(",", 1)
    assert header == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(payload))).size


def expect_number(page: Page, number: str) -> None:
    expect(page.locator("#number")).to_have_text(number, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#number-status")).to_have_attribute("data-state", "ok")
    places = page.locator("#places > li")
    expect(places).to_have_count(len(number))
    for place, digit in zip(places.all(), number, strict=True):
        expect(place.locator(".place-digit")).to_have_text(digit)
        expect(place.locator(".place-top3 li")).to_have_count(3)
        expect(place.locator(".place-top3 li span").first).to_have_text(digit)
        preview = place.locator(".place-preview")
        expect(preview).to_be_visible()
        assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]


def test_a_number_drawn_with_the_mouse_is_read_digit_by_digit(desktop):
    page = desktop.page
    modes = read_modes(page)
    switch_to_number_mode(page)
    assert round(pad_ratio(page), 2) == 3.0  # the wide pad

    # A 4 in two strokes and a 7 whose bar is a separate stroke, among a 2 and a 0.
    draw_with_mouse(page, number_strokes("2047", START))
    expect_number(page, "2047")

    # Each column sits under the cell its digit was drawn in, with a box over the digit.
    pad = page.locator("#pad").bounding_box()
    for i, place in enumerate(page.locator("#places > li").all()):
        box = place.bounding_box()
        centre = (box["x"] + box["width"] / 2 - pad["x"]) / pad["height"]
        assert START + i * CELL < centre < START + (i + 1) * CELL, (i, centre)
    expect(page.locator("#boxes > .digit-box")).to_have_count(4)
    assert modes and all(mode == "number" for mode in modes)
    desktop.screenshot("number-2047")
    assert desktop.errors == []


def test_a_corrected_digit_of_a_number_is_stored(desktop):
    page = desktop.page
    switch_to_number_mode(page)
    draw_with_mouse(page, number_strokes("47", START))
    expect_number(page, "47")

    page.locator("#places > li").nth(1).get_by_role("button", name="Wrong?").click()
    panel = page.locator("#number-fix")
    expect(panel).to_contain_text("Digit 2 of 2, read as 7")
    expect(panel).to_contain_text("no IP address, no cookies")
    expect(panel.locator("[data-digit='7']")).to_be_disabled()  # the model's own answer
    with page.expect_response("**/api/feedback") as answer:
        panel.get_by_role("button", name="It's a 1").click()
    assert answer.value.status == 201, answer.value.text()
    sent = answer.value.request.post_data_json
    assert {k: sent[k] for k in ("label", "predicted", "mode", "position")} == {
        "label": 1,
        "predicted": 7,
        "mode": "number",
        "position": 1,
    }
    width, height = png_size(sent["image"])  # the wide canvas PNG that was read
    assert height == 280 and round(width / height) == 3
    assert isinstance(answer.value.json()["id"], int)
    expect(panel.locator(".fix-status")).to_have_attribute("data-state", "ok")
    expect(panel.locator(".fix-status")).to_contain_text("stored as a 1")
    expect(page.locator("#places > li").nth(1).locator(".place-fix")).to_have_text("Corrected: 1")
    desktop.screenshot("number-correction")
    assert desktop.errors == []


def test_a_corrected_digit_is_stored_and_a_refusal_is_shown(desktop):
    page = desktop.page
    draw_with_mouse(page, SEVEN)
    expect(page.locator("#digit")).to_have_text("7", timeout=ANSWER_TIMEOUT_MS)
    page.locator("#fix summary").click()
    fix = page.locator("#fix")
    expect(fix).to_contain_text("the 28 × 28 digit the model made of it")
    status = fix.locator(".fix-status")

    # First the server refuses (this one answer substituted): its message is shown, and the
    # person can try again.
    refusal = {"error": "rate_limited", "message": "Too many corrections: slow down."}
    page.route(
        "**/api/feedback",
        lambda route: route.fulfill(status=429, headers={"Retry-After": "30"}, json=refusal),
    )
    fix.get_by_role("button", name="It's a 1").click()
    expect(status).to_have_attribute("data-state", "error", timeout=ANSWER_TIMEOUT_MS)
    expect(status).to_contain_text("Too many corrections: slow down. Try again in 30 s.")
    page.unroute("**/api/feedback")

    with page.expect_response("**/api/feedback") as answer:
        fix.get_by_role("button", name="It's a 1").click()
    assert answer.value.status == 201, answer.value.text()
    sent = answer.value.request.post_data_json
    assert {k: sent[k] for k in ("label", "predicted", "mode")} == {
        "label": 1,
        "predicted": 7,
        "mode": "digit",
    }
    assert "position" not in sent
    assert png_size(sent["image"]) == (280, 280)  # the canvas PNG that was read
    expect(status).to_have_attribute("data-state", "ok")
    expect(status).to_contain_text("stored as a 1")
    desktop.screenshot("digit-correction")
    assert [e for e in desktop.errors if EXPECTED_429_ERROR not in e] == []


def test_the_mode_switch_works_from_the_keyboard(desktop):
    page = desktop.page
    modes = read_modes(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "mode-digit"
    # The radios are visually hidden; their labels carry the focus ring.
    focus_ring = "el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth"
    assert page.locator("label[for=mode-digit]").evaluate(focus_ring) == "solid 3px"
    page.keyboard.press("ArrowRight")
    expect(page.locator("body")).to_have_attribute("data-mode", "number")
    expect(page.locator("#pad-hint")).to_have_text("Draw a number here")
    assert round(pad_ratio(page), 2) == 3.0
    draw_with_mouse(page, number_strokes("1", START))
    expect(page.locator("#pad-hint")).to_be_hidden()

    page.keyboard.press("ArrowLeft")  # back to one digit: an empty, square pad
    expect(page.locator("body")).to_have_attribute("data-mode", "digit")
    expect(page.locator("#pad-hint")).to_be_visible()
    assert round(pad_ratio(page), 2) == 1.0
    expect(page.locator("#status")).to_have_attribute("data-state", "empty")
    modes.clear()
    draw_with_mouse(page, SEVEN)
    expect(page.locator("#digit")).to_have_text("7", timeout=ANSWER_TIMEOUT_MS)
    assert modes and all(mode is None for mode in modes)  # single-digit reading, as before
    assert desktop.errors == []


def test_a_number_drawn_with_a_finger_on_a_phone(phone):
    page = phone.page
    switch_to_number_mode(page)
    assert round(pad_ratio(page), 2) == 2.0  # taller on a narrow screen
    draw_with_touch(page, number_strokes("47", START))
    expect_number(page, "47")
    assert page.evaluate("window.scrollY") == 0
    phone.screenshot("phone-number-47")
    assert phone.errors == []
