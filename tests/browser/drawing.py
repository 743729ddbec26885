"""Drawing on the page's pad like a person: mouse strokes through Playwright, finger strokes
through Chrome DevTools Protocol touch events, and the strokes of the digits the tests draw.

Points are in pad heights: y from 0 (top) to 1, x from 0 to the pad's width over its height
(0..1 on the square digit pad, 0..3 on the wide number pad of a desktop, 0..2 on a phone's).
"""

from __future__ import annotations

import itertools
import math

from playwright.sync_api import Page

Stroke = list[tuple[float, float]]


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 32) -> Stroke:
    return [
        (cx + rx * math.sin(2 * math.pi * i / n), cy - ry * math.cos(2 * math.pi * i / n))
        for i in range(n + 1)
    ]


# How a person draws these digits, one per cell 0.6 wide; each stroke is one pen-down.
# The 4 takes two strokes (an open "L" shape, then the upright crossing its bar); the 7's top bar
# is a stroke of its own that does not touch the downstroke (two separate blobs of ink, one
# above the other, that make one digit).
NUMBER_DIGITS: dict[str, list[Stroke]] = {
    "0": [_ellipse(0.30, 0.50, 0.21, 0.34)],
    "1": [[(0.32, 0.15), (0.28, 0.85)]],
    "2": [
        [
            *[(0.08, 0.30), (0.16, 0.18), (0.30, 0.14), (0.44, 0.19), (0.50, 0.31)],
            *[(0.45, 0.46), (0.08, 0.84), (0.55, 0.84)],
        ]
    ],
    "4": [[(0.30, 0.15), (0.08, 0.58), (0.55, 0.58)], [(0.42, 0.28), (0.42, 0.88)]],
    "7": [[(0.12, 0.16), (0.50, 0.16)], [(0.50, 0.28), (0.36, 0.86)]],
}
CELL = 0.65  # pad heights per digit: a small gap between digits, as people leave


def number_strokes(number: str, start: float = 0.15) -> list[Stroke]:
    """The strokes of `number`, digit after digit from the left, each digit in its own cell."""
    return [
        [(start + i * CELL + x, y) for x, y in stroke]
        for i, digit in enumerate(number)
        for stroke in NUMBER_DIGITS[digit]
    ]


def _on_screen(page: Page, stroke: Stroke) -> list[tuple[float, float]]:
    box = page.locator("#pad").bounding_box()
    return [(box["x"] + x * box["height"], box["y"] + y * box["height"]) for x, y in stroke]


def draw_with_mouse(page: Page, strokes: list[Stroke]) -> None:
    for stroke in strokes:
        points = _on_screen(page, stroke)
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=6)
        page.mouse.up()


def draw_with_touch(page: Page, strokes: list[Stroke], steps: int = 8) -> None:
    """Finger strokes through Chrome DevTools Protocol touch events (real touch input)."""
    cdp = page.context.new_cdp_session(page)
    for stroke in strokes:
        path = [stroke[0]]
        for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
            path += [
                (x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)
                for i in range(1, steps + 1)
            ]
        points = _on_screen(page, path)
        touch = {"type": "touchStart", "touchPoints": [_touch(*points[0])]}
        cdp.send("Input.dispatchTouchEvent", touch)
        for x, y in points[1:]:
            touch = {"type": "touchMove", "touchPoints": [_touch(x, y)]}
            cdp.send("Input.dispatchTouchEvent", touch)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def _touch(x: float, y: float) -> dict:
    return {"x": x, "y": y, "radiusX": 4, "radiusY": 4, "force": 1, "id": 1}
