"""handler.decode: every format and mode, EXIF orientation, base64 text, size limits, refusals."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from bench.realistic_digits import render_sample
from handler.decode import (
    declared_pixels,
    decode_base64_text,
    decode_image,
    decode_image_and_size,
    open_image,
)
from handler.limits import InputError, Limits
from handler.preprocess import preprocess
from tests.unit.handler.digit_images import (
    dark_on_light,
    encode,
    jpeg_declaring,
    png_declaring,
    refusal,
    seven_coverage,
    similarity,
)

# ---- formats and modes -------------------------------------------------------------------------


def _in_mode(mode: str) -> Image.Image:
    """The reference 7 (dark on light) converted to `mode`."""
    grey = dark_on_light(seven_coverage())
    if mode == "I;16":
        image = Image.fromarray((np.asarray(grey).astype(np.uint16) * 257).astype("<u2"))
        assert image.mode == "I;16"
        return image
    if mode == "P+transparency":
        image = grey.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        image.info["transparency"] = 255  # an unused index: transparency declared, nothing clear
        return image
    if mode == "1":
        return grey.point(lambda v: 255 if v > 127 else 0).convert("1")
    return grey.convert(mode)


FORMAT_CASES = [
    ("PNG", "L"),
    ("PNG", "LA"),
    ("PNG", "RGB"),
    ("PNG", "RGBA"),
    ("PNG", "P"),
    ("PNG", "P+transparency"),
    ("PNG", "1"),
    ("PNG", "I;16"),
    ("JPEG", "L"),
    ("JPEG", "RGB"),
    ("JPEG", "CMYK"),
    ("GIF", "P"),
    ("BMP", "RGB"),
    ("BMP", "1"),
    ("WEBP", "RGB"),
    ("WEBP", "RGBA"),
    ("TIFF", "RGB"),
    ("TIFF", "CMYK"),
    ("TIFF", "I;16"),
]


@pytest.mark.parametrize(("fmt", "mode"), FORMAT_CASES, ids=[f"{f}-{m}" for f, m in FORMAT_CASES])
def test_every_common_format_and_mode_gives_the_same_digit(
    fmt: str, mode: str, reference: np.ndarray
) -> None:
    image = _in_mode(mode)
    digit = preprocess(encode(image, fmt))
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert similarity(digit, reference) > 0.95


def test_gif_uses_the_first_frame(reference: np.ndarray) -> None:
    first = dark_on_light(seven_coverage()).convert("P")
    second = Image.new("P", first.size, 0)  # a blank second frame must not win
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100)
    assert similarity(preprocess(data), reference) > 0.95


# ---- EXIF orientation --------------------------------------------------------------------------


def test_exif_orientation_is_honoured(reference: np.ndarray) -> None:
    stored_sideways = dark_on_light(seven_coverage()).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": undoes the counter-clockwise turn
    upright = preprocess(encode(stored_sideways.convert("RGB"), "JPEG", exif=exif.tobytes()))
    sideways = preprocess(encode(stored_sideways.convert("RGB"), "JPEG"))
    assert similarity(upright, reference) > 0.95
    assert similarity(sideways, reference) < 0.5


# How a camera stores the picture for each EXIF orientation (1: as seen). Displaying it applies
# the inverse: every transpose here is its own inverse except the two quarter turns (6 and 8).
STORED_AS = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _stored_with_orientation(upright: Image.Image, orientation: int, fmt: str) -> bytes:
    transpose = STORED_AS[orientation]
    stored = upright if transpose is None else upright.transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, fmt, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_decode_image_returns_upright_pixels(orientation: int) -> None:
    # Neither square nor symmetric: any wrong turn or flip changes the size or the pixels.
    upright = dark_on_light(seven_coverage(60)).resize((60, 40))
    data = _stored_with_orientation(upright, orientation, "PNG")  # lossless: exact pixels
    grey, alpha = decode_image(data)
    assert grey.shape == (40, 60) and alpha is None
    np.testing.assert_array_equal(grey, np.asarray(upright))


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_jpeg_is_turned_upright_like_pil_does(orientation: int) -> None:
    """OpenCV decodes the JPEG and numpy turns it; PIL's exif_transpose is the reference."""
    upright = dark_on_light(seven_coverage(60)).resize((60, 40))
    data = _stored_with_orientation(upright, orientation, "JPEG")
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("L"))
    grey, _ = decode_image(data)
    assert grey.shape == (40, 60)
    assert np.abs(grey.astype(int) - expected).mean() < 1.0  # two JPEG decoders: ±1 grey level


# ---- base64 text -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def png_file() -> bytes:
    return encode(dark_on_light(seven_coverage(100)))


def test_base64_wrapped_at_76_columns_is_decoded(png_file: bytes) -> None:
    text = base64.encodebytes(png_file).decode("ascii")  # what GNU `base64` prints
    lines = text.splitlines()
    assert len(lines) > 2 and len(lines[0]) == 76
    assert decode_base64_text(text) == png_file


@pytest.mark.parametrize(
    "as_text",
    [
        lambda data: base64.b64encode(data).decode("ascii"),
        lambda data: "data:image/png;base64," + base64.b64encode(data).decode("ascii"),
        lambda data: " data:image/png;base64," + base64.encodebytes(data).decode("ascii"),
    ],
    ids=["plain", "data-url", "data-url-wrapped"],
)
def test_plain_base64_and_data_urls_are_decoded(as_text, png_file: bytes) -> None:
    assert decode_base64_text(as_text(png_file)) == png_file


@pytest.mark.parametrize(
    "text",
    ["not base64!", "iVBORw0KGgo", "data:image/png,iVBORw0KGgo="],
    ids=["junk", "bad-padding", "data-url-not-base64"],
)
def test_text_that_is_not_base64_is_a_bad_image(text: str) -> None:
    with pytest.raises(InputError) as caught:
        decode_base64_text(text)
    assert (caught.value.code, caught.value.status) == ("bad_image", 400)


def test_too_much_base64_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    text = base64.b64encode(b"\x89PNG" + b"\x00" * 2000).decode("ascii")
    monkeypatch.setattr(base64, "b64decode", lambda *a, **k: pytest.fail("the text was decoded"))
    with pytest.raises(InputError) as caught:
        decode_base64_text(text, Limits(max_bytes=1000))
    assert (caught.value.code, caught.value.status) == ("too_large", 413)


# ---- size limits and refusals ------------------------------------------------------------------


@pytest.mark.usefixtures("no_pixel_decoding")
@pytest.mark.parametrize("limits", [Limits(), Limits(max_pixels=10**12)], ids=["ours", "PIL's"])
def test_decompression_bomb_is_refused_before_decoding(limits: Limits) -> None:
    data = png_declaring(30000, 30000)
    assert len(data) < 200
    error = refusal(data, limits)
    assert (error.code, error.status) == ("too_large", 413)


# What passes: digits, rows of digits, screenshots and camera photos. Only headers are read.
ACCEPTED = {
    "28×28 MNIST-sized": png_declaring(28, 28),
    "280×28 row of digits (10:1)": png_declaring(280, 28),
    "1400×280 whole number": png_declaring(1400, 280),
    "200×4000 (1:20)": png_declaring(200, 4000),
    "3840×2160 4K screenshot": png_declaring(3840, 2160),
    "4000×3000 phone JPEG": jpeg_declaring(4000, 3000),
    "8000×6000 phone JPEG": jpeg_declaring(8000, 6000),
    "8160×6120 phone JPEG, EXIF thumbnail": jpeg_declaring(8160, 6120, thumbnail=True),
    "8000×6000 MPO (a second JPEG after the first)": jpeg_declaring(
        8000, 6000, trailer=jpeg_declaring(1920, 1440)
    ),
    "8000×6000 arithmetic-coded JPEG": jpeg_declaring(8000, 6000, frame=0xC9),
    "3840×2160 progressive JPEG, 10 scans": jpeg_declaring(3840, 2160, frame=0xC2, scans=10),
}

# What is refused undecoded, with the code, the status and words of the message.
REFUSED = {
    "1×39,999,999 PNG strip": (png_declaring(1, 39_999_999), "too_large", 413, "megapixels"),
    "4000×3000 PNG (12 MP at full size)": (png_declaring(4000, 3000), "too_large", 413, "PNG"),
    "10001×600 PNG": (png_declaring(10_001, 600), "too_large", 413, "longest side"),
    "2100×100 PNG (21:1)": (png_declaring(2100, 100), "bad_image", 400, "20 times"),
    "100×2100 PNG (1:21)": (png_declaring(100, 2100), "bad_image", 400, "20 times"),
    "10240×4800 JPEG": (jpeg_declaring(10_240, 4800), "too_large", 413, "longest side"),
    "8000×6000 progressive JPEG": (
        jpeg_declaring(8000, 6000, frame=0xC2, scans=10),
        "too_large",
        413,
        "progressive",
    ),
    "8000×6000 JPEG in 3 scans": (jpeg_declaring(8000, 6000, scans=3), "too_large", 413, "8.3"),
    "8000×6000 lossless JPEG": (jpeg_declaring(8000, 6000, frame=0xC3), "too_large", 413, "8.3"),
    "1000×1000 JPEG in 65 scans": (
        jpeg_declaring(1000, 1000, frame=0xC2, scans=65),
        "too_large",
        413,
        "65 scans",
    ),
}


@pytest.mark.usefixtures("no_pixel_decoding")
@pytest.mark.parametrize("data", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_digits_screenshots_and_camera_photos_pass_the_size_checks(data: bytes) -> None:
    width, height = open_image(data).size
    assert declared_pixels(data) == width * height > 0


@pytest.mark.usefixtures("no_pixel_decoding")
@pytest.mark.parametrize(("data", "code", "status", "words"), REFUSED.values(), ids=REFUSED.keys())
def test_costly_shapes_are_refused_before_decoding(
    data: bytes, code: str, status: int, words: str
) -> None:
    error = refusal(data)
    assert (error.code, error.status) == (code, status)
    assert words in error.message
    assert declared_pixels(data) == 0  # refused alone: counts for nothing in a request's budget


def _png_chunk(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _with_gif_comments(sub_blocks: int) -> bytes:
    """A 10×10 GIF whose comment extension, before the image, has that many 1-byte sub-blocks."""
    gif = encode(Image.new("P", (10, 10)), "GIF")
    image = gif.index(b"\x2c")  # the image descriptor, after the global colour table
    return gif[:image] + b"\x21\xfe" + b"\x01x" * sub_blocks + b"\x00" + gif[image:]


def _png_one_data_chunk_per_row(width: int, height: int) -> bytes:
    """An 8-bit grey PNG whose compressed pixels are split into one IDAT chunk per row."""
    stream = zlib.compress(bytes(height * (1 + width)))
    step = -(-len(stream) // height)
    header = png_declaring(width, height)[:8] + _png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    )
    rows = b"".join(_png_chunk(b"IDAT", stream[i * step : (i + 1) * step]) for i in range(height))
    return header + rows + _png_chunk(b"IEND")


PNG_HEAD, PNG_TAIL = png_declaring(100, 100)[:33], png_declaring(100, 100)[33:]  # after IHDR
JPEG = jpeg_declaring(1000, 1000)

# 20,000 empty pieces of metadata: a 4 MB file of them took PIL 0.4 to 1.6 s to open.
HEADER_BOMBS = {
    "PNG, chunks before the pixels": PNG_HEAD + _png_chunk(b"abCD") * 20_000 + PNG_TAIL,
    "PNG, chunks after the pixels": png_declaring(100, 100)[:-12]
    + _png_chunk(b"abCD") * 20_000
    + _png_chunk(b"IEND"),
    "JPEG, fill bytes": JPEG[:2] + b"\xff" * 20_000 + JPEG[2:],
    "JPEG, empty segments": JPEG[:2] + b"\xff\xe0\x00\x02" * 20_000 + JPEG[2:],
    "GIF, comment sub-blocks": _with_gif_comments(20_000),
}


@pytest.mark.parametrize("data", HEADER_BOMBS.values(), ids=HEADER_BOMBS.keys())
def test_countless_metadata_blocks_are_refused_before_pil_parses_them(
    data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("PIL opened the file"))
    error = refusal(data)
    assert (error.code, error.status) == ("too_large", 413)
    assert "16384 chunks, segments or blocks" in error.message


@pytest.mark.parametrize(
    "data",
    [
        _png_one_data_chunk_per_row(500, 10_000),
        _with_gif_comments(200),
        JPEG[:2] + b"\xff" * 64 + JPEG[2:],
    ],
    ids=["PNG with one data chunk per row", "GIF with a comment", "JPEG with fill bytes"],
)
def test_ordinary_metadata_passes(data: bytes) -> None:
    assert open_image(data).size


def test_a_48_megapixel_camera_jpeg_is_decoded_at_an_eighth() -> None:
    grey, alpha = decode_image(encode(Image.new("L", (8000, 6000), 255), "JPEG"))
    assert grey.shape == (750, 1000) and alpha is None


def test_too_many_pixels_is_refused() -> None:
    error = refusal(encode(dark_on_light(seven_coverage(100))), Limits(max_pixels=5000))
    assert (error.code, error.status) == ("too_large", 413)
    assert "100×100" in error.message


def test_too_many_bytes_is_refused_before_opening(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("the image was opened"))
    error = refusal(b"\x89PNG" + b"\x00" * 2000, Limits(max_bytes=1000))
    assert (error.code, error.status) == ("too_large", 413)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_a_bad_image(fmt: str) -> None:
    data = encode(dark_on_light(seven_coverage()).convert("RGB"), fmt)
    error = refusal(data[: len(data) // 2])
    assert (error.code, error.status) == ("bad_image", 400)
    assert "damaged or truncated" in error.message


@pytest.mark.parametrize(
    "data",
    [b"hello, this is text", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", b"\x00" * 64],
    ids=["text", "pdf", "zeros"],
)
def test_non_image_data_is_an_unsupported_format(data: bytes) -> None:
    error = refusal(data)
    assert (error.code, error.status) == ("unsupported_format", 400)


def test_empty_body_is_a_bad_image() -> None:
    assert refusal(b"").code == "bad_image"


def test_opencv_decodes_colour_png_as_pil_does() -> None:
    """OpenCV decodes PNG; PIL's grey and alpha are the reference (luma rounded ±1 level)."""
    colours = np.random.default_rng(0).integers(0, 256, (40, 60, 4), dtype=np.uint8)
    data = encode(Image.fromarray(colours, "RGBA"))
    grey, alpha = decode_image(data)
    expected = Image.open(io.BytesIO(data)).convert("LA")
    assert np.abs(grey.astype(int) - np.asarray(expected.getchannel("L"))).max() <= 1
    np.testing.assert_array_equal(alpha, np.asarray(expected.getchannel("A")))


def test_opencv_decodes_a_colour_photo_as_pil_does() -> None:
    """libjpeg's luma against PIL's grey from RGB: equal but for a few saturated pixels."""
    data = render_sample("photo", 1, 0)[0]  # 431×541, decoded at full size
    grey, _ = decode_image(data)
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    assert np.mean(np.abs(grey.astype(int) - expected) > 1) < 0.001


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_the_size_as_sent_is_upright_too(orientation: int) -> None:
    upright = dark_on_light(seven_coverage(60)).resize((60, 40))
    data = _stored_with_orientation(upright, orientation, "JPEG")
    assert decode_image_and_size(data)[1] == (60, 40)


def test_the_size_as_sent_is_the_files_when_a_jpeg_is_decoded_smaller() -> None:
    (grey, _), size = decode_image_and_size(encode(Image.new("L", (4000, 1000), 255), "JPEG"))
    assert grey.shape[1] < 4000 and size == (4000, 1000)
