"""handler.png: canvas-style PNGs decode to exactly what OpenCV gives; the rest is left to it."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from handler.decode import _grey_and_alpha, decode_image
from handler.png import decode_png
from tools.paths import SAMPLES_DIR

COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels → PNG colour type


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode(pixels: np.ndarray, filters: list[int], bit_depth: int = 8) -> bytes:
    """A PNG of (height, width, channels) uint8 pixels, each row with the given filter (0–4)."""
    height, width, channels = pixels.shape
    rows = pixels.reshape(height, width * channels).astype(np.int64)
    raw = b""
    for y, kind in enumerate(filters):
        row, above = rows[y], rows[y - 1] if y else np.zeros_like(rows[0])
        left = np.concatenate([np.zeros(channels, np.int64), row[:-channels]])
        upper_left = np.concatenate([np.zeros(channels, np.int64), above[:-channels]])
        predictor = {
            0: np.zeros_like(row),
            1: left,
            2: above,
            3: (left + above) // 2,
            4: _paeth(left, above, upper_left),
        }[kind]
        raw += bytes([kind]) + ((row - predictor) % 256).astype(np.uint8).tobytes()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, COLOUR_TYPE[channels], 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def opencv(data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    return _grey_and_alpha(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED))


def assert_same(found, expected) -> None:
    assert found is not None
    np.testing.assert_array_equal(found[0], expected[0])
    if expected[1] is None:
        assert found[1] is None
    else:
        np.testing.assert_array_equal(found[1], expected[1])


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(4))
def test_none_sub_and_up_rows_decode_as_opencv_decodes_them(channels, seed):
    rng = np.random.default_rng(seed)
    height, width = rng.integers(1, 40, size=2)
    pixels = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    filters = list(rng.integers(0, 3, size=height))  # runs of Up rows, Sub rows, plain rows
    data = encode(pixels, filters)
    assert_same(decode_png(data), opencv(data))


def test_the_real_canvas_sample_decodes_as_opencv_decodes_it():
    data = (SAMPLES_DIR / "seven.png").read_bytes()
    assert_same(decode_png(data), opencv(data))


def test_average_and_paeth_rows_are_left_to_opencv():
    pixels = np.random.default_rng(0).integers(0, 256, size=(8, 8, 4), dtype=np.uint8)
    for kind in (3, 4):
        data = encode(pixels, [0, kind] + [0] * 6)
        assert decode_png(data) is None
        assert_same(decode_image(data), opencv(data))  # the pipeline still decodes it


def test_damage_and_other_layouts_are_left_to_the_other_decoders():
    pixels = np.zeros((4, 4, 1), dtype=np.uint8)
    good = encode(pixels, [0, 1, 2, 0])
    assert decode_png(good) is not None
    bad_crc = good[:-20] + bytes([good[-20] ^ 1]) + good[-19:]  # a byte of IDAT's CRC flipped
    assert decode_png(bad_crc) is None
    assert decode_png(good[: good.index(b"IEND") - 4]) is None  # truncated: no IEND
    assert decode_png(encode(pixels, [0] * 4, bit_depth=16)) is None
    assert decode_png(b"GIF89a" + good[6:]) is None
    idat = good.index(b"IDAT")
    length = struct.unpack(">I", good[idat - 4 : idat])[0]
    short = zlib.compress(zlib.decompress(good[idat + 4 : idat + 4 + length])[:-1])
    assert decode_png(good[: idat - 4] + chunk(b"IDAT", short) + chunk(b"IEND", b"")) is None
