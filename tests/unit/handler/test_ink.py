"""handler.ink: transparency, both polarities, specks, photos, desks, blank images refused, and
which images take the fast path for clean drawings."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from bench.realistic_digits import render_sample
from handler.decode import decode_image, to_work_size
from handler.ink import (
    clean_drawing,
    drawing_ink,
    flatten_alpha,
    ink_map,
    paint_out_surroundings,
    remove_specks,
)
from handler.limits import Limits
from handler.normalize import normalize_digit
from handler.preprocess import preprocess
from tests.unit.handler.digit_images import (
    dark_on_light,
    encode,
    refusal,
    seven_coverage,
    similarity,
)

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


# ---- specks, uneven light, desks ---------------------------------------------------------------


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


# ---- the fast path for clean drawings ----------------------------------------------------------


def _work_grey(data: bytes) -> np.ndarray:
    return flatten_alpha(*to_work_size(decode_image(data)))


def _flat_desk() -> Image.Image:
    """A noiseless sheet on a flat desk: a light shape covering most of the frame."""
    ink = np.asarray(seven_coverage(400, 0.6), dtype=float) / 255
    desk = Image.new("L", (560, 520), 60)
    desk.paste(Image.fromarray(np.uint8(255 * (0.9 - 0.8 * ink))), (70, 50))
    return desk


@pytest.mark.parametrize(
    "sample",
    [("canvas", 7), ("offcentre", 3), ("thin", 5), ("inverted", 8), ("large", 2)],
    ids=lambda sample: f"{sample[0]}-{sample[1]}",
)
def test_clean_drawings_take_the_fast_path_and_read_as_the_photo_analysis_does(sample) -> None:
    grey = _work_grey(render_sample(*sample, 0)[0])
    shades = clean_drawing(grey)
    assert shades is not None
    _, drawn = drawing_ink(grey, shades)
    fast = normalize_digit(remove_specks(drawn), Limits().min_stroke)
    full = normalize_digit(remove_specks(ink_map(grey)), Limits().min_stroke)
    assert np.abs(fast.astype(int) - full).mean() < 1.0  # grey levels


@pytest.mark.parametrize(
    "data",
    [
        render_sample("photo", 4, 0)[0],
        render_sample("desk", 4, 0)[0],
        render_sample("small", 4, 0)[0],  # a thumbnail enlarged 2–4×: blurry, many mid-greys
        encode(_flat_desk()),  # the sheet would pass for ink
    ],
    ids=["photo", "desk", "thumbnail", "flat-desk"],
)
def test_photos_desks_and_thumbnails_get_the_photo_analysis(data: bytes) -> None:
    assert clean_drawing(_work_grey(data)) is None


def test_a_sheet_on_a_flat_desk_is_still_found(reference: np.ndarray) -> None:
    assert paint_out_surroundings(_work_grey(encode(_flat_desk())))[1]
    assert similarity(preprocess(encode(_flat_desk())), reference) > 0.95
