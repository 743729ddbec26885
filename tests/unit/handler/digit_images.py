"""Digit images drawn in memory for the preprocessing tests, and ways to compare the outputs.

Most checks compare against the output for the plainest input (a black "7" on white, greyscale
PNG: the `reference` fixture), so a format that loses the digit, inverts it or moves it fails.
"""

from __future__ import annotations

import io
import struct
import zlib

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


# ---- files that only declare a size: headers PIL reads, pixels nobody should decode -------------


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header declares width × height 1-bit pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg_declaring(
    width: int,
    height: int,
    frame: int = 0xC0,
    scans: int = 1,
    thumbnail: bool = False,
    trailer: bytes = b"",
) -> bytes:
    """A JPEG skeleton: its frame header (SOFn: 0xC0 baseline, 0xC2 progressive, 0xC3 lossless)
    declares width × height, then `scans` scans of a few bytes each. With `thumbnail`, an EXIF
    segment first holds a JPEG of its own (its scan must not count); `trailer` follows the end."""
    components = b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    sof = _segment(frame, struct.pack(">BHHB", 8, height, width, 3) + components)
    scan = _segment(0xDA, bytes([1, 1, 0, 0, 63, 0])) + b"\x12\x34\xff\x00\x56"
    app1 = b""
    if thumbnail:
        inner = b"\xff\xd8" + _segment(0xC0, struct.pack(">BHHB", 8, 120, 160, 1) + b"\x01\x11\x00")
        app1 = _segment(0xE1, b"Exif\x00\x00" + inner + scan + b"\xff\xd9")
    return b"\xff\xd8" + app1 + sof + scan * scans + b"\xff\xd9" + trailer
