"""Renderers: strokes → the image file one kind of input arrives as, one renderer per category.

A browser canvas export, a photo of paper, a tiny upload and so on: each renderer picks sizes,
pen width, ink and paper at random from the ranges that kind of input has, draws the strokes
anti-aliased with a round pen (`coverage`) and encodes the result as PNG or JPEG bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from bench.strokes import Stroke

Renderer = Callable[[list[Stroke], np.random.Generator], tuple[bytes, str]]  # → bytes, extension


# ---- drawing and encoding ----------------------------------------------------------------------


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


RENDERERS: dict[str, Renderer] = {
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


# The order is part of every sample's seed (bench.realistic_digits.render_sample): append only.
CATEGORIES = tuple(RENDERERS)
