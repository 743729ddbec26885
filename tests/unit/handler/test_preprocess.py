"""handler.preprocess: every format and mode, both polarities, canvases, photos, limits, refusals.

Images are drawn in memory. Most checks compare against the output for the plainest input (a
black "7" on white, greyscale PNG), so a format that loses the digit, inverts it or moves it fails.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFile, ImageFilter

from handler.preprocess import (
    CENTRE,
    DIGIT_BOX,
    InputError,
    Limits,
    decode_image,
    preprocess,
    scale_pixels,
    to_png,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO_ROOT / "training" / "shipped" / "model.pt"
MNIST_DIR = REPO_ROOT / "data" / "mnist"


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


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """The output for the plainest input: a black 7 on white, greyscale PNG."""
    return preprocess(encode(dark_on_light(seven_coverage())))


# ---- scale_pixels ------------------------------------------------------------------------------


def test_scale_pixels_numpy_and_torch_agree() -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    from_numpy = scale_pixels(pixels)
    from_torch = scale_pixels(torch.from_numpy(pixels))
    assert from_numpy.dtype == np.float32 and from_torch.dtype == torch.float32
    np.testing.assert_allclose(from_numpy, from_torch.numpy(), atol=1e-6)
    np.testing.assert_allclose(from_numpy[0, 0], -0.1307 / 0.3081, atol=1e-6)
    np.testing.assert_allclose(scale_pixels(pixels.astype(np.float64)), from_numpy, atol=1e-6)


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


def test_exif_orientation_is_honoured(reference: np.ndarray) -> None:
    stored_sideways = dark_on_light(seven_coverage()).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": undoes the counter-clockwise turn
    upright = preprocess(encode(stored_sideways.convert("RGB"), "JPEG", exif=exif.tobytes()))
    sideways = preprocess(encode(stored_sideways.convert("RGB"), "JPEG"))
    assert similarity(upright, reference) > 0.95
    assert similarity(sideways, reference) < 0.5


# ---- transparency and polarity -----------------------------------------------------------------


def test_transparent_canvas_export_keeps_the_digit(reference: np.ndarray) -> None:
    """Black ink, alpha 255, on transparent black pixels: what canvas.toBlob() writes."""
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    canvas.putalpha(seven_coverage())
    assert similarity(preprocess(encode(canvas)), reference) > 0.98


def test_white_ink_on_transparent_keeps_the_digit(reference: np.ndarray) -> None:
    canvas = Image.new("RGBA", (280, 280), (255, 255, 255, 0))
    canvas.putalpha(seven_coverage())
    assert similarity(preprocess(encode(canvas)), reference) > 0.98


def test_light_on_dark_and_dark_on_light_give_the_same_digit(reference: np.ndarray) -> None:
    light_on_dark = preprocess(encode(seven_coverage()))
    assert np.abs(light_on_dark.astype(int) - reference.astype(int)).max() <= 2
    assert reference[reference > 0].size < 0.5 * reference.size  # white ink on black, like MNIST


# ---- size, position and MNIST geometry ---------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "scale", "at"),
    [
        (280, 1.0, (0.5, 0.5)),  # the usual canvas
        (900, 0.2, (0.15, 0.2)),  # small, in the top-left corner of a big canvas
        (600, 0.35, (0.8, 0.75)),  # bottom-right
        (1200, 1.2, (0.5, 0.5)),  # filling a big image
        (14, 1.0, (0.5, 0.5)),  # a tiny upload: enlarged
    ],
)
def test_digit_is_fitted_into_20x20_and_centred_by_mass(
    size: int, scale: float, at: tuple[float, float], reference: np.ndarray
) -> None:
    digit = preprocess(encode(dark_on_light(seven_coverage(size, scale, at))))
    rows, cols = np.nonzero(digit)
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert max(height, width) in (DIGIT_BOX - 1, DIGIT_BOX) and min(height, width) <= DIGIT_BOX
    row, col = centre_of_mass(digit)
    assert abs(row - CENTRE) <= 1.0 and abs(col - CENTRE) <= 1.0
    assert similarity(digit, reference) > (0.7 if size < 28 else 0.95)  # 14 px: a jagged 7


def test_fine_pen_strokes_are_widened_and_marker_strokes_left_alone(reference: np.ndarray) -> None:
    fine_pen = Image.new("L", (600, 600), 255)
    ImageDraw.Draw(fine_pen).line([(200, 150), (400, 150), (260, 450)], fill=0, width=2)
    widened = preprocess(encode(fine_pen))
    as_drawn = preprocess(encode(fine_pen), Limits(min_stroke=0))
    assert widened.sum() > 1.5 * as_drawn.sum()
    assert similarity(widened, reference) > 0.9
    marker = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(marker).line([(90, 60), (190, 60), (120, 220)], fill=0, width=40)
    data = encode(marker)
    np.testing.assert_array_equal(preprocess(data), preprocess(data, Limits(min_stroke=0)))


def test_speckle_does_not_stretch_the_crop(reference: np.ndarray) -> None:
    image = dark_on_light(seven_coverage(600, 0.5))
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(0)
    for x, y in rng.integers(5, 595, (40, 2)):
        draw.ellipse((x, y, x + 2, y + 2), fill=0)  # dust: 3 px dots all over the page
    assert similarity(preprocess(encode(image)), reference) > 0.95


def test_photo_with_uneven_light_noise_and_jpeg(reference: np.ndarray) -> None:
    ink = np.asarray(seven_coverage(480, 0.6), dtype=float) / 255
    rows, cols = np.mgrid[0:480, 0:480] / 480
    paper = 0.85 * (1.0 - 0.45 * cols) * (1.0 - 0.25 * rows)  # light falls off to one corner
    photo = paper * (1 - ink) + 0.15 * ink + np.random.default_rng(0).normal(0, 0.04, ink.shape)
    image = Image.fromarray(np.clip(photo * 255, 0, 255).astype(np.uint8)).convert("RGB")
    data = encode(image.filter(ImageFilter.GaussianBlur(1)), "JPEG", quality=70)
    assert similarity(preprocess(data), reference) > 0.9


def test_sheet_photographed_on_a_darker_desk(reference: np.ndarray) -> None:
    ink = np.asarray(seven_coverage(400, 0.6), dtype=float) / 255
    cols = np.mgrid[0:400, 0:400][1] / 400
    sheet = Image.fromarray(np.uint8(255 * ((0.9 - 0.3 * cols) * (1 - ink) + 0.1 * ink)))
    desk = Image.new("L", (560, 520), 60)
    desk.paste(sheet, (70, 50))
    assert similarity(preprocess(encode(desk.convert("RGB"), "JPEG", quality=80)), reference) > 0.9


def test_same_bytes_same_digit() -> None:
    data = encode(dark_on_light(seven_coverage(333, 0.7, (0.4, 0.6))), "JPEG", quality=75)
    np.testing.assert_array_equal(preprocess(data), preprocess(data))


def test_to_png_round_trips(reference: np.ndarray) -> None:
    decoded = np.asarray(Image.open(io.BytesIO(to_png(reference))))
    np.testing.assert_array_equal(decoded, reference)


# ---- refusals ----------------------------------------------------------------------------------


def _noise(sigma: float, base: float = 0.8) -> Image.Image:
    values = base + np.random.default_rng(1).normal(0, sigma, (280, 280))
    return Image.fromarray(np.clip(values * 255, 0, 255).astype(np.uint8))


def _speck() -> Image.Image:
    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).ellipse((100, 100, 103, 103), fill=0)
    return image


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (280, 280), 255),
        Image.new("L", (280, 280), 0),
        Image.new("RGB", (280, 280), (120, 160, 200)),
        Image.new("RGBA", (280, 280), (0, 0, 0, 0)),  # an empty canvas export
        Image.new("L", (1, 1), 0),
        _speck(),
        _noise(2 / 255),  # very faint noise
        _noise(0.03),  # a blank sheet photographed with a noisy sensor
    ],
    ids=["white", "black", "colour", "transparent", "1x1", "speck", "faint-noise", "noise"],
)
def test_blank_and_near_blank_images_are_refused_not_guessed(image: Image.Image) -> None:
    error = refusal(encode(image))
    assert (error.code, error.status) == ("no_digit", 422)
    assert error.message


def _png_declaring(width: int, height: int) -> bytes:
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


@pytest.fixture
def no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.usefixtures("no_pixel_decoding")
@pytest.mark.parametrize("limits", [Limits(), Limits(max_pixels=10**12)], ids=["ours", "PIL's"])
def test_decompression_bomb_is_refused_before_decoding(limits: Limits) -> None:
    data = _png_declaring(30000, 30000)
    assert len(data) < 200
    error = refusal(data, limits)
    assert (error.code, error.status) == ("too_large", 413)


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


def test_decode_image_returns_an_upright_loaded_image() -> None:
    image = decode_image(encode(dark_on_light(seven_coverage(50))))
    assert image.size == (50, 50)


# ---- acceptance: MNIST through the preprocessing is classified as fed directly -----------------


def test_mnist_digits_as_png_are_classified_like_the_raw_tensor() -> None:
    if not SHIPPED_MODEL.exists():
        pytest.skip(f"{SHIPPED_MODEL} is absent: train and export the model first (make train)")
    if not (MNIST_DIR / "t10k-images-idx3-ubyte").exists():
        pytest.skip(f"MNIST is absent from {MNIST_DIR}: run make data")
    from training.data import load_mnist

    mnist = load_mnist(MNIST_DIR, fetch=False, quiet=True)
    images = mnist.test_images[:200]
    through_png = np.stack([preprocess(to_png(image.numpy())) for image in images])
    model = torch.jit.load(str(SHIPPED_MODEL), map_location="cpu").eval()
    with torch.no_grad():
        direct = model(scale_pixels(images.unsqueeze(1))).argmax(1)
        via_handler = model(scale_pixels(torch.from_numpy(through_png).unsqueeze(1))).argmax(1)
    agreement = (direct == via_handler).float().mean().item()
    assert agreement >= 0.99, f"only {agreement:.1%} of predictions agree"
