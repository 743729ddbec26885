"""Digit images drawn in memory for the preprocessing tests, and ways to compare the outputs.

Most checks compare against the output for the plainest input (a black "7" on white, greyscale
PNG: the `reference` fixture), so a format that loses the digit, inverts it or moves it fails.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from handler.limits import InputError, Limits
from handler.preprocess import preprocess


def seven_coverage(size: int = 280, scale: float = 1.0, at: tuple[float, float] = (0.5, 0.5)):
    """Ink coverage (0–255, L image) of a hand-drawn-looking 7 whose box is `scale` of the image."""
    image = Image.new("L", (size, size), 0)
    cx, cy = at[0] * size, at[1] * size
    half = 0.35 * size * scale
    corners = [
        (cx - half * 0.7, cy - half),
        (cx + half * 0.7, cy - half),
        (cx - half * 0.2, cy + half),
    ]
    ImageDraw.Draw(image).line(corners, fill=255, width=max(1, round(0.08 * size * scale)))
    return image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def dark_on_light(coverage: Image.Image) -> Image.Image:
    return Image.eval(coverage, lambda v: 255 - v)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two 28×28 outputs: 1.0 means the same picture."""
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


def centre_of_mass(digit: np.ndarray) -> tuple[float, float]:
    weights = digit.astype(float)
    rows, cols = np.indices(digit.shape)
    return (rows * weights).sum() / weights.sum(), (cols * weights).sum() / weights.sum()


def refusal(data: bytes, limits: Limits | None = None) -> InputError:
    with pytest.raises(InputError) as caught:
        preprocess(data, limits or Limits())
    return caught.value
