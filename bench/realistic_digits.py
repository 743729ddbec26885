"""Generate a realistic digit set: digits as people draw and photograph them, not MNIST.

Each digit 0–9 has a few hand-designed stroke templates covering common writing styles (1 with
and without flag and base, 7 with and without crossbar, open and closed 4, …). Every sample
jitters its template (control points, slant, rotation, aspect), then renders it the way one
kind of input arrives: a browser canvas export, a photo of paper, a tiny upload, and so on.

    python -m bench.realistic_digits --out artifacts/realistic --per-class 50

writes `{category}_{digit}_{i}.png|jpg`, a `labels.csv` (file, category, digit, style) and a
contact sheet of samples to look at. Everything is deterministic given --seed.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Stroke = np.ndarray  # (N, 2) points, x right and y down, in a unit box
Template = Callable[["Pen"], list[Stroke]]

CATEGORIES = ("canvas", "offcentre", "large", "small", "thick", "thin", "inverted", "photo", "desk")


@dataclass
class Config:
    """What to generate and where."""

    out: Path = Path("artifacts/realistic")  # folder for the images and labels.csv
    per_class: int = 50  # samples per digit and category
    seed: int = 0  # the same seed gives byte-identical files
    sheet: Path = Path("artifacts/realistic_contact_sheet.png")  # grid of samples to look at


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


# ---- rendering ---------------------------------------------------------------------------------


def coverage(
    strokes: list[Stroke],
    size: tuple[int, int],
    height: float,
    centre: tuple[float, float],
    pen_width: float,
) -> np.ndarray:
    """Anti-aliased ink coverage in [0, 1] (rows, columns) of strokes drawn with a round pen.

    The digit is scaled to `height` pixels (its width follows) and its box centred at `centre`.
    Drawn supersampled, then area-averaged, like a browser's anti-aliasing.
    """
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = height / max(high[1] - low[1], 0.5 * (high[0] - low[0]), 1e-6)
    supersample = max(2, min(8, 1600 // max(size)))
    image = Image.new("L", (size[0] * supersample, size[1] * supersample), 0)
    draw = ImageDraw.Draw(image)
    radius = max(pen_width * supersample / 2, 0.5)
    for stroke in strokes:
        xy = ((stroke - (low + high) / 2) * scale + np.asarray(centre)) * supersample
        draw.line([tuple(p) for p in xy], fill=255, width=max(1, round(2 * radius)), joint="curve")
        for x, y in (xy[0], xy[-1]):  # round caps, as a canvas with lineCap = "round"
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(image.resize(size, Image.Resampling.BOX), dtype=np.float32) / 255.0


def _paint(cover: np.ndarray, ink: tuple[float, ...], paper: tuple[float, ...]) -> np.ndarray:
    """Blend ink over paper (colours in [0, 1], one per channel) by coverage."""
    c = cover[..., None]
    return np.asarray(ink) * c + np.asarray(paper) * (1.0 - c)


def _to_image(pixels: np.ndarray, mode: str) -> Image.Image:
    array = np.round(np.clip(pixels, 0.0, 1.0) * 255).astype(np.uint8)
    return Image.fromarray(array.squeeze(), mode=mode)


def _encode(image: Image.Image, fmt: str, **options: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _dark_ink(rng: np.random.Generator) -> tuple[float, float, float]:
    """Black, blue or dark grey pen."""
    shade = rng.uniform(0.0, 0.2)
    return (shade, shade, shade + rng.choice([0.0, 0.35]))


def _photo_ink(rng: np.random.Generator) -> tuple[float, float, float]:
    """A pen, or a soft pencil that leaves grey strokes."""
    if rng.random() < 0.25:
        shade = rng.uniform(0.3, 0.45)
        return (shade, shade, shade)
    return _dark_ink(rng)


# ---- categories: how the digit reaches the service ---------------------------------------------


def _canvas(strokes: list[Stroke], rng: np.random.Generator) -> tuple[bytes, str]:
    """Browser canvas export: 280×280, black ink on transparent pixels, brush 7–10% wide."""
    side = 280
    centre = side / 2 + rng.uniform(-0.08, 0.08, 2) * side
    cover = coverage(
        strokes, (side, side), rng.uniform(0.6, 0.85) * side, centre, rng.uniform(0.07, 0.10) * side
    )
    rgba = np.zeros((side, side, 4))
    rgba[..., 3] = cover  # RGB stays black everywhere, as canvas.toBlob() writes it
    return _encode(_to_image(rgba, "RGBA"), "PNG"), "png"


def _offcentre(strokes: list[Stroke], rng: np.random.Generator) -> tuple[bytes, str]:
    """A smallish digit in a corner of a big canvas, white or transparent background."""
    width, height = (int(v) for v in rng.integers(400, 900, 2))
    digit = rng.uniform(0.15, 0.3) * min(width, height)
    corner = rng.integers(0, 2, 2)
    centre = [
        (0.2 + 0.6 * c) * s + rng.uniform(-0.08, 0.08) * s
        for c, s in zip(corner, (width, height), strict=True)
    ]
    cover = coverage(strokes, (width, height), digit, centre, rng.uniform(0.1, 0.14) * digit)
    if rng.random() < 0.5:
        rgba = np.zeros((height, width, 4))
        rgba[..., 3] = cover
        return _encode(_to_image(rgba, "RGBA"), "PNG"), "png"
    return _encode(_to_image(_paint(cover, _dark_ink(rng), (1, 1, 1)), "RGB"), "PNG"), "png"


def _large(strokes: list[Stroke], rng: np.random.Generator) -> tuple[bytes, str]:
    """A digit filling most of a big image (a scan or a zoomed screenshot)."""
    height = int(rng.integers(600, 1100))
    width = int(height * rng.uniform(0.9, 1.3))  # wide enough for a wide, slanted digit
    digit = rng.uniform(0.85, 0.95) * height
    centre = (width / 2, height / 2)
    cover = coverage(strokes, (width, height), digit, centre, rng.uniform(0.08, 0.12) * digit)
    return _encode(_to_image(_paint(cover, _dark_ink(rng), (1, 1, 1)), "RGB"), "PNG"), "png"


def _small(strokes: list[Stroke], rng: np.random.Generator) -> tuple[bytes, str]:
    """A tiny greyscale upload (a thumbnail or an icon-sized crop), 14–32 px."""
    width, height = (int(v) for v in rng.integers(14, 33, 2))
    digit = rng.uniform(0.6, 0.85) * height
    centre = (width / 2 + rng.uniform(-1, 1), height / 2 + rng.uniform(-1, 1))
    cover = coverage(strokes, (width, height), digit, centre, rng.uniform(0.1, 0.16) * digit)
    return _encode(_to_image(_paint(cover, (0.1,), (0.95,)), "L"), "PNG"), "png"


def _thick(strokes: list[Stroke], rng: np.random.Generator) -> tuple[bytes, str]:
    """Felt marker: strokes a fifth of the digit's height."""
    side = int(rng.integers(280, 400))
    digit = rng.uniform(0.55, 0.75) * side
    cover = coverage(
        strokes, (side, side), digit, (side / 2, side / 2), rng.uniform(0.17, 0.25) * digit
    )
    return _encode(_to_image(_paint(cover, _dark_ink(rng), (1, 1, 1)), "RGB"), "PNG"), "png"


def _thin(strokes: list[Stroke], rng: np.random.Generator) -> tuple[bytes, str]:
    """Fine pen on a big image: strokes 1–3 px, a few percent of the digit's height."""
    side = int(rng.integers(300, 600))
    digit = rng.uniform(0.5, 0.8) * side
    cover = coverage(strokes, (side, side), digit, (side / 2, side / 2), rng.uniform(1.2, 3.0))
    return _encode(_to_image(_paint(cover, _dark_ink(rng), (1, 1, 1)), "RGB"), "PNG"), "png"


def _inverted(strokes: list[Stroke], rng: np.random.Generator) -> tuple[bytes, str]:
    """White ink on black, as a dark-themed drawing app exports."""
    side = int(rng.integers(280, 400))
    digit = rng.uniform(0.55, 0.8) * side
    centre = side / 2 + rng.uniform(-0.08, 0.08, 2) * side
    cover = coverage(strokes, (side, side), digit, centre, rng.uniform(0.09, 0.13) * digit)
    return _encode(_to_image(_paint(cover, (1, 1, 1), (0, 0, 0)), "RGB"), "PNG"), "png"


def _lit_paper(strokes: list[Stroke], rng: np.random.Generator) -> np.ndarray:
    """Pen or pencil on tinted paper under uneven light, with a soft shadow and sensor noise."""
    width = int(rng.integers(360, 800))
    height = int(width * rng.uniform(0.75, 1.33))
    digit = rng.uniform(0.3, 0.6) * height
    centre = (width / 2, height / 2) + rng.uniform(-0.15, 0.15, 2) * (width, height)
    cover = coverage(strokes, (width, height), digit, centre, rng.uniform(0.06, 0.11) * digit)

    tint = np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 1.0)])
    image = _paint(cover, _photo_ink(rng), tuple(rng.uniform(0.75, 0.95) * tint))
    rows, cols = np.mgrid[0:height, 0:width] / max(width, height)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = rows * math.sin(direction) + cols * math.cos(direction)
    light = 1.0 - rng.uniform(0.15, 0.5) * (ramp - ramp.min()) / np.ptp(ramp)
    shadow_at = rng.uniform(0, 1, 2) * (height, width) / max(width, height)
    distance2 = (rows - shadow_at[0]) ** 2 + (cols - shadow_at[1]) ** 2
    light *= 1.0 - rng.uniform(0.0, 0.4) * np.exp(-distance2 / (2 * rng.uniform(0.1, 0.3) ** 2))
    return image * light[..., None] + rng.normal(0.0, rng.uniform(0.015, 0.05), image.shape)


def _camera(image: Image.Image, rng: np.random.Generator) -> tuple[bytes, str]:
    """A phone camera's slight blur and JPEG compression."""
    blurred = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.3)))
    return _encode(blurred, "JPEG", quality=int(rng.integers(60, 86))), "jpg"


def _photo(strokes: list[Stroke], rng: np.random.Generator) -> tuple[bytes, str]:
    """A phone photo of ink on paper, the sheet filling the frame."""
    return _camera(_to_image(_lit_paper(strokes, rng), "RGB"), rng)


def _desk(strokes: list[Stroke], rng: np.random.Generator) -> tuple[bytes, str]:
    """The same from farther away: the sheet, a little rotated, on a darker desk."""
    sheet = _to_image(_lit_paper(strokes, rng), "RGB")
    scale = rng.uniform(1.15, 1.5)  # the sheet covers 45–75% of the frame
    width, height = int(sheet.width * scale), int(sheet.height * scale)
    wood_or_grey = np.array([1.0, rng.uniform(0.8, 1.0), rng.uniform(0.6, 1.0)])
    desk = rng.uniform(0.08, 0.35) * wood_or_grey + rng.normal(0.0, 0.02, (height, width, 3))
    photo = _to_image(desk, "RGB")
    angle = rng.uniform(-8.0, 8.0)
    rotated = sheet.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    outline = Image.new("L", sheet.size, 255).rotate(angle, expand=True)
    spare = (width - rotated.width, height - rotated.height)
    corner = tuple(int(rng.uniform(min(0, s), max(0, s))) for s in spare)
    photo.paste(rotated, corner, outline)
    return _camera(photo, rng)


RENDERERS: dict[str, Callable[[list[Stroke], np.random.Generator], tuple[bytes, str]]] = {
    "canvas": _canvas,
    "offcentre": _offcentre,
    "large": _large,
    "small": _small,
    "thick": _thick,
    "thin": _thin,
    "inverted": _inverted,
    "photo": _photo,
    "desk": _desk,
}


def render_sample(category: str, digit: int, index: int, seed: int = 0) -> tuple[bytes, str, str]:
    """One sample's file bytes, extension and writing style; depends only on its arguments."""
    rng = np.random.default_rng([seed, CATEGORIES.index(category), digit, index])
    style, strokes = handwriting(digit, rng)
    data, extension = RENDERERS[category](strokes, rng)
    return data, extension, style


# ---- the set on disk ---------------------------------------------------------------------------


def generate(config: Config) -> list[dict[str, str]]:
    """Write every sample and labels.csv; returns the label rows."""
    config.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for category in CATEGORIES:
        for digit in range(10):
            for index in range(config.per_class):
                data, extension, style = render_sample(category, digit, index, config.seed)
                name = f"{category}_{digit}_{index}.{extension}"
                (config.out / name).write_bytes(data)
                rows.append(
                    {"file": name, "category": category, "digit": str(digit), "style": style}
                )
        print(f"  {category}: {10 * config.per_class} images", flush=True)
    with (config.out / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "category", "digit", "style"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def contact_sheet(folder: Path, rows: list[dict[str, str]], path: Path, per_row: int = 20) -> None:
    """A grid, one row per category, of the first samples; transparency shown as light grey."""
    tile = 64
    sheet = Image.new("RGB", (90 + per_row * tile, len(CATEGORIES) * tile), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for row, category in enumerate(CATEGORIES):
        draw.text((4, row * tile + tile // 2 - 6), category, fill=(0, 0, 0))
        # Sample 0 of every digit, then sample 1 of every digit, and so on.
        samples = sorted(
            (r for r in rows if r["category"] == category),
            key=lambda r: (int(Path(r["file"]).stem.rsplit("_", 1)[1]), int(r["digit"])),
        )
        for column, sample in enumerate(samples[:per_row]):
            image = Image.open(folder / sample["file"]).convert("RGBA")
            image.thumbnail((tile - 4, tile - 4), Image.Resampling.LANCZOS)
            backdrop = Image.new("RGBA", image.size, (210, 210, 210, 255))
            image = Image.alpha_composite(backdrop, image).convert("RGB")
            sheet.paste(image, (90 + column * tile + 2, row * tile + 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def parse_args() -> Config:
    defaults = Config()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=defaults.out, help="output folder")
    parser.add_argument(
        "--per-class", type=int, default=defaults.per_class, help="samples per digit and category"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    parser.add_argument(
        "--sheet", type=Path, default=defaults.sheet, help="where to write the contact sheet PNG"
    )
    return Config(**vars(parser.parse_args()))


def main() -> None:
    config = parse_args()
    total = len(CATEGORIES) * 10 * config.per_class
    print(f"Writing {total} realistic digits to {config.out} (seed {config.seed})")
    rows = generate(config)
    contact_sheet(config.out, rows, config.sheet)
    print(f"Labels in {config.out / 'labels.csv'}; contact sheet in {config.sheet}")


if __name__ == "__main__":
    main()
