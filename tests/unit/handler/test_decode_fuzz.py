"""handler.decode under generated inputs: every shape, format, mode and bit depth either gives a
28×28 digit or a 4xx refusal, and nothing over the limits is ever decoded.

Examples are derandomised (the same ones every run, so CI stays stable) and bounded in number
and size, so the whole file takes a few seconds.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from handler.decode import open_image
from handler.limits import InputError, Limits
from handler.preprocess import preprocess
from tests.unit.handler.digit_images import (
    dark_on_light,
    jpeg_declaring,
    png_declaring,
    seven_coverage,
)

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None)

# Frames of jpeg_declaring: sequential (decoded at reduced scale when one scan), progressive and
# lossless (both at full size).
SEQUENTIAL, PROGRESSIVE, LOSSLESS = 0xC0, 0xC2, 0xC3


def expected_refusal(
    width: int, height: int, limits: Limits, reduced_jpeg: bool = False
) -> tuple[str, int] | None:
    """(code, status) the limits call for, in the order they are checked; None: it passes."""
    max_pixels = limits.max_jpeg_pixels if reduced_jpeg else limits.max_pixels
    if width * height > max_pixels or max(width, height) > limits.max_side:
        return "too_large", 413
    if max(width, height) > limits.max_aspect * min(width, height):
        return "bad_image", 400
    return None


@contextmanager
def decoding_recorded() -> Iterator[list[str]]:
    """Records every pixel decoding, by PIL or OpenCV, while letting it happen."""
    calls: list[str] = []
    load, imdecode = ImageFile.ImageFile.load, cv2.imdecode

    def recorded_load(self, *args, **kwargs):
        calls.append("PIL")
        return load(self, *args, **kwargs)

    def recorded_imdecode(*args, **kwargs):
        calls.append("OpenCV")
        return imdecode(*args, **kwargs)

    with (
        mock.patch.object(ImageFile.ImageFile, "load", recorded_load),
        mock.patch.object(cv2, "imdecode", recorded_imdecode),
    ):
        yield calls


# ---- declared sizes: headers only, the shipped limits ------------------------------------------

sides = st.one_of(
    st.integers(1, 300), st.integers(1, 12_000), st.integers(1, 60_000), st.integers(1, 40_000_000)
)


@FUZZ
@given(
    width=sides,
    height=sides,
    kind=st.sampled_from(["PNG", "JPEG", "progressive JPEG", "lossless JPEG"]),
    scans=st.integers(1, 100),
)
def test_any_declared_size_is_refused_unread_or_passes(
    width: int, height: int, kind: str, scans: int
) -> None:
    limits = Limits()
    if kind == "PNG":
        data, scans = png_declaring(width, height), 1
    elif kind == "JPEG":
        data, scans = jpeg_declaring(min(width, 65535), min(height, 65535)), 1
    else:
        frame = PROGRESSIVE if kind == "progressive JPEG" else LOSSLESS
        data = jpeg_declaring(min(width, 65535), min(height, 65535), frame=frame, scans=scans)
    width, height = _declared(data)  # as the file says (a JPEG's sides stop at 65535)
    expected = (
        ("too_large", 413)
        if scans > limits.max_jpeg_scans
        else expected_refusal(width, height, limits, reduced_jpeg=kind == "JPEG")
    )
    with decoding_recorded() as decoded:
        try:
            size = open_image(data, limits).size
        except InputError as error:
            assert (error.code, error.status) == expected
        else:
            assert expected is None and size == (width, height)
    assert decoded == []


def _declared(data: bytes) -> tuple[int, int]:
    """The size a header declares, read without any of the project's checks (nor PIL's)."""
    with mock.patch.object(Image, "MAX_IMAGE_PIXELS", None):
        return Image.open(io.BytesIO(data)).size


# ---- real files: every format, mode and bit depth, small limits so small files cross them -----

MODES = {
    "PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "RGB;16", "RGBA;16"],
    "JPEG": ["L", "RGB", "CMYK"],
    "GIF": ["P", "L"],
    "BMP": ["1", "L", "P", "RGB"],
    "WEBP": ["RGB", "RGBA"],
    "TIFF": ["1", "L", "RGB", "RGBA", "CMYK", "I;16", "F"],
}


@st.composite
def image_files(draw: st.DrawFn) -> tuple[bytes, str, int, int, bool]:
    """(file, format, width, height, progressive): a digit, noise or nothing, in any format."""
    fmt = draw(st.sampled_from(sorted(MODES)))
    mode = draw(st.sampled_from(MODES[fmt]))
    width, height = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    content = draw(st.sampled_from(["digit", "noise", "blank"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if content == "digit":
        grey = np.asarray(dark_on_light(seven_coverage(280)).resize((width, height)))
    elif content == "noise":
        grey = rng.integers(0, 256, (height, width), dtype=np.uint8)
    else:
        grey = np.full((height, width), 255, np.uint8)
    progressive = fmt == "JPEG" and draw(st.booleans())
    if mode.endswith(";16") and mode != "I;16":  # 16-bit colour PNG: OpenCV writes it
        channels = 4 if mode == "RGBA;16" else 3
        wide = np.repeat(grey[..., None].astype(np.uint16) * 257, channels, axis=2)
        return cv2.imencode(".png", wide)[1].tobytes(), fmt, width, height, False
    if mode == "I;16":
        image = Image.fromarray((grey.astype(np.uint16) * 257).astype("<u2"))
    elif mode == "F":
        image = Image.fromarray(grey.astype(np.float32))
    else:
        image = Image.fromarray(grey).convert(mode)
    buffer = io.BytesIO()
    options = {"progressive": True} if progressive else {}
    if fmt == "WEBP":
        options["lossless"] = draw(st.booleans())
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue(), fmt, width, height, progressive


@st.composite
def small_limits(draw: st.DrawFn) -> Limits:
    max_pixels = draw(st.integers(100, 60_000))
    return Limits(
        max_pixels=max_pixels,
        max_jpeg_pixels=draw(st.integers(max_pixels, 90_000)),
        max_side=draw(st.integers(20, 320)),
        max_aspect=draw(st.floats(1.0, 30.0)),
    )


@FUZZ
@given(file=image_files(), limits=small_limits())
def test_every_file_gives_a_digit_or_a_4xx_and_nothing_over_the_limits_is_decoded(
    file: tuple[bytes, str, int, int, bool], limits: Limits
) -> None:
    data, fmt, width, height, progressive = file
    assert Image.open(io.BytesIO(data)).format == fmt  # else it would be judged by another limit
    reduced_jpeg = fmt == "JPEG" and not progressive
    expected = expected_refusal(width, height, limits, reduced_jpeg)
    with decoding_recorded() as decoded:
        try:
            digit = preprocess(data, limits)
        except InputError as error:
            assert 400 <= error.status < 500 and error.message
            if expected is None:
                assert error.code != "too_large"
            else:
                assert (error.code, error.status) == expected
                assert decoded == [], f"decoded before refusing: {decoded}"
        else:
            assert expected is None
            assert digit.shape == (28, 28) and digit.dtype == np.uint8
