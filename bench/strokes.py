"""Handwriting as strokes: a jittering Pen and hand-designed templates for each digit 0–9.

Each digit has a few templates covering common writing styles (1 with and without flag and base,
7 with and without crossbar, open and closed 4, …). `handwriting` picks one at random, jitters
its control points and then slants, rotates and stretches the whole digit, as one person would
write it. The strokes are points in a unit box; `bench.renderers` turns them into image files.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

Stroke = np.ndarray  # (N, 2) points, x right and y down, in a unit box
Template = Callable[["Pen"], list[Stroke]]


# ---- stroke primitives -------------------------------------------------------------------------


class Pen:
    """Stroke builder whose control points are jittered, so no two samples are alike."""

    def __init__(self, rng: np.random.Generator, wobble: float = 0.025) -> None:
        self.rng = rng
        self.wobble = wobble  # control-point noise, as a fraction of the digit's height

    def point(self, x: float, y: float) -> np.ndarray:
        return np.array([x, y]) + self.rng.normal(0.0, self.wobble, 2)

    def line(self, *points: tuple[float, float]) -> Stroke:
        """A polyline through jittered corners, densely sampled."""
        corners = [self.point(*p) for p in points]
        segments = [np.linspace(a, b, 12) for a, b in itertools.pairwise(corners)]
        return np.concatenate(segments)

    def curve(self, *points: tuple[float, float]) -> Stroke:
        """A smooth Catmull-Rom curve through jittered points."""
        p = [self.point(*q) for q in points]
        p = [2 * p[0] - p[1], *p, 2 * p[-1] - p[-2]]
        t = np.linspace(0.0, 1.0, 16)[:-1, None]
        pieces = []
        for p0, p1, p2, p3 in zip(p, p[1:], p[2:], p[3:], strict=False):
            pieces.append(
                0.5
                * (
                    2 * p1
                    + (p2 - p0) * t
                    + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                    + (3 * p1 - p0 - 3 * p2 + p3) * t**3
                )
            )
        return np.concatenate([*pieces, p[-2][None]])

    def ellipse(
        self, cx: float, cy: float, rx: float, ry: float, start: float, sweep: float
    ) -> Stroke:
        """An elliptic arc; angles in degrees, 0 = right, 90 = down (screen coordinates)."""
        cx, cy = self.point(cx, cy)
        rx, ry = rx * self.rng.uniform(0.9, 1.1), ry * self.rng.uniform(0.9, 1.1)
        angles = np.radians(start + np.linspace(0.0, sweep, max(8, int(abs(sweep) / 6))))
        return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)


def _join(*parts: Stroke) -> Stroke:
    return np.concatenate(parts)


# ---- templates: common ways to write each digit ------------------------------------------------


def _zero_oval(pen: Pen) -> list[Stroke]:
    overlap = pen.rng.uniform(-15, 35)  # a small gap or an overshoot where the pen closes it
    return [pen.ellipse(0.5, 0.5, 0.3, 0.5, -100, -360 - overlap)]


def _zero_egg(pen: Pen) -> list[Stroke]:
    return [
        pen.curve(
            (0.6, 0.05),
            (0.3, 0.2),
            (0.2, 0.6),
            (0.45, 0.98),
            (0.78, 0.7),
            (0.75, 0.2),
            (0.5, 0.0),
            (0.35, 0.12),
        )
    ]


def _one_stick(pen: Pen) -> list[Stroke]:
    return [pen.curve((0.52, 0.0), (0.5, 0.5), (0.48, 1.0))]


def _one_flag(pen: Pen) -> list[Stroke]:
    reach = pen.rng.uniform(0.15, 0.35)
    return [pen.line((0.55 - reach, 0.15 + reach * 0.6), (0.55, 0.0), (0.55, 1.0))]


def _one_flag_base(pen: Pen) -> list[Stroke]:
    return [*_one_flag(pen), pen.line((0.3, 1.0), (0.8, 1.0))]


def _two_plain(pen: Pen) -> list[Stroke]:
    top = pen.curve((0.18, 0.25), (0.45, 0.02), (0.78, 0.18), (0.72, 0.45), (0.2, 0.98))
    return [_join(top, pen.line((0.2, 0.98), (0.85, 0.98)))]


def _two_looped(pen: Pen) -> list[Stroke]:
    return [
        pen.curve(
            (0.18, 0.22),
            (0.45, 0.02),
            (0.78, 0.18),
            (0.7, 0.45),
            (0.35, 0.8),
            (0.2, 0.97),
            (0.36, 0.98),
            (0.34, 0.85),
            (0.5, 0.95),
            (0.88, 0.96),
        )
    ]


def _three_round(pen: Pen) -> list[Stroke]:
    return [
        pen.curve(
            (0.2, 0.15),
            (0.5, 0.0),
            (0.78, 0.16),
            (0.7, 0.4),
            (0.42, 0.48),
            (0.8, 0.62),
            (0.78, 0.88),
            (0.5, 1.0),
            (0.18, 0.88),
        )
    ]


def _three_flat_top(pen: Pen) -> list[Stroke]:
    corner = pen.line((0.2, 0.02), (0.8, 0.02), (0.45, 0.4))
    belly = pen.curve((0.45, 0.4), (0.8, 0.55), (0.78, 0.85), (0.5, 1.0), (0.18, 0.88))
    return [_join(corner, belly)]


def _four_open(pen: Pen) -> list[Stroke]:
    return [pen.line((0.45, 0.0), (0.15, 0.65), (0.9, 0.65)), pen.line((0.68, 0.3), (0.68, 1.0))]


def _four_closed(pen: Pen) -> list[Stroke]:
    return [pen.line((0.68, 0.0), (0.1, 0.68), (0.9, 0.68)), pen.line((0.68, 0.0), (0.68, 1.0))]


def _four_square(pen: Pen) -> list[Stroke]:
    return [pen.line((0.22, 0.0), (0.2, 0.58), (0.85, 0.58)), pen.line((0.7, 0.05), (0.7, 1.0))]


def _five_plain(pen: Pen) -> list[Stroke]:
    body = _join(
        pen.line((0.3, 0.02), (0.26, 0.45)),
        pen.curve((0.26, 0.45), (0.55, 0.36), (0.8, 0.6), (0.7, 0.9), (0.45, 1.0), (0.15, 0.88)),
    )
    return [body, pen.line((0.3, 0.02), (0.82, 0.0))]


def _five_one_stroke(pen: Pen) -> list[Stroke]:
    return [
        _join(
            pen.line((0.8, 0.0), (0.3, 0.03), (0.25, 0.45)),
            pen.curve((0.25, 0.45), (0.6, 0.38), (0.8, 0.65), (0.6, 0.95), (0.18, 0.9)),
        )
    ]


def _six_curved(pen: Pen) -> list[Stroke]:
    return [
        pen.curve(
            (0.75, 0.02),
            (0.4, 0.2),
            (0.2, 0.6),
            (0.3, 0.95),
            (0.6, 0.98),
            (0.78, 0.75),
            (0.6, 0.52),
            (0.35, 0.55),
            (0.22, 0.72),
        )
    ]


def _six_straight(pen: Pen) -> list[Stroke]:
    loop = pen.curve(
        (0.25, 0.65), (0.35, 0.97), (0.7, 0.95), (0.75, 0.65), (0.45, 0.52), (0.25, 0.7)
    )
    return [_join(pen.line((0.65, 0.0), (0.25, 0.65)), loop)]


def _seven_plain(pen: Pen) -> list[Stroke]:
    return [pen.line((0.15, 0.02), (0.85, 0.02), (0.4, 1.0))]


def _seven_crossed(pen: Pen) -> list[Stroke]:
    return [*_seven_plain(pen), pen.line((0.35, 0.52), (0.82, 0.5))]


def _seven_hooked(pen: Pen) -> list[Stroke]:
    top = pen.line((0.15, 0.18), (0.17, 0.02), (0.85, 0.02))
    return [_join(top, pen.curve((0.85, 0.02), (0.6, 0.45), (0.5, 1.0)))]


def _eight_figure(pen: Pen) -> list[Stroke]:
    return [
        pen.curve(
            (0.72, 0.1),
            (0.5, 0.0),
            (0.25, 0.14),
            (0.3, 0.38),
            (0.5, 0.5),
            (0.76, 0.66),
            (0.74, 0.92),
            (0.5, 1.0),
            (0.24, 0.9),
            (0.26, 0.66),
            (0.5, 0.5),
            (0.72, 0.34),
            (0.72, 0.12),
            (0.6, 0.03),
        )
    ]


def _eight_snowman(pen: Pen) -> list[Stroke]:
    return [
        pen.ellipse(0.5, 0.24, 0.2, 0.24, 90, 370),
        pen.ellipse(0.5, 0.73, 0.27, 0.27, -90, 370),
    ]


def _nine_straight(pen: Pen) -> list[Stroke]:
    return [pen.ellipse(0.45, 0.27, 0.26, 0.27, 0, -370), pen.line((0.71, 0.2), (0.68, 1.0))]


def _nine_curved(pen: Pen) -> list[Stroke]:
    tail = pen.curve((0.71, 0.25), (0.7, 0.7), (0.55, 0.95), (0.28, 0.98))
    return [pen.ellipse(0.45, 0.27, 0.26, 0.27, 0, -370), tail]


def _nine_one_stroke(pen: Pen) -> list[Stroke]:
    return [
        pen.curve(
            (0.72, 0.15),
            (0.5, 0.02),
            (0.25, 0.15),
            (0.26, 0.42),
            (0.5, 0.5),
            (0.72, 0.36),
            (0.72, 0.15),
            (0.7, 0.6),
            (0.64, 1.0),
        )
    ]


TEMPLATES: dict[int, dict[str, Template]] = {
    0: {"oval": _zero_oval, "egg": _zero_egg},
    1: {"stick": _one_stick, "flag": _one_flag, "flag_base": _one_flag_base},
    2: {"plain": _two_plain, "looped": _two_looped},
    3: {"round": _three_round, "flat_top": _three_flat_top},
    4: {"open": _four_open, "closed": _four_closed, "square": _four_square},
    5: {"plain": _five_plain, "one_stroke": _five_one_stroke},
    6: {"curved": _six_curved, "straight": _six_straight},
    7: {"plain": _seven_plain, "crossed": _seven_crossed, "hooked": _seven_hooked},
    8: {"figure": _eight_figure, "snowman": _eight_snowman},
    9: {"straight": _nine_straight, "curved": _nine_curved, "one_stroke": _nine_one_stroke},
}


def handwriting(digit: int, rng: np.random.Generator) -> tuple[str, list[Stroke]]:
    """One person's digit: a random style, jittered, slanted, rotated and stretched."""
    style = str(rng.choice(sorted(TEMPLATES[digit])))
    strokes = TEMPLATES[digit][style](Pen(rng))
    aspect = rng.uniform(0.75, 1.25)  # narrow or wide writing
    slant = rng.uniform(-0.15, 0.3)  # most people lean right
    angle = math.radians(rng.uniform(-15.0, 15.0))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    shaped = []
    for stroke in strokes:
        x, y = stroke[:, 0] - 0.5, stroke[:, 1] - 0.5
        shaped.append(np.stack([x * aspect - slant * y, y], axis=1) @ rotation.T)
    return style, shaped
