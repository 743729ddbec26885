"""handler.preprocess: the whole pipeline is deterministic and previews round-trip.

Each stage has its own tests (test_decode.py, test_ink.py, test_normalize.py).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from handler.normalize import is_normalised
from handler.preprocess import preprocess, to_png
from tests.unit.handler.digit_images import dark_on_light, encode, seven_coverage, similarity


def test_same_bytes_same_digit() -> None:
    data = encode(dark_on_light(seven_coverage(333, 0.7, (0.4, 0.6))), "JPEG", quality=75)
    np.testing.assert_array_equal(preprocess(data), preprocess(data))


def test_to_png_round_trips(reference: np.ndarray) -> None:
    decoded = np.asarray(Image.open(io.BytesIO(to_png(reference))))
    np.testing.assert_array_equal(decoded, reference)


# ---- a digit already in MNIST's form -----------------------------------------------------------


def test_a_digit_in_mnists_form_is_passed_through_as_it_is(reference: np.ndarray) -> None:
    """reference is the handler's own 28×28 of a canvas seven: sent back, it is not re-blurred."""
    assert is_normalised(reference)
    np.testing.assert_array_equal(preprocess(to_png(reference)), reference)


@pytest.mark.parametrize(
    ("size", "scale", "at"),
    [(280, 1.0, (0.5, 0.5)), (900, 0.2, (0.15, 0.2)), (600, 0.5, (0.7, 0.4))],
)
def test_normalising_is_idempotent(size: int, scale: float, at: tuple[float, float]) -> None:
    digit = preprocess(encode(dark_on_light(seven_coverage(size, scale, at))))
    np.testing.assert_array_equal(preprocess(to_png(digit)), digit)


def test_a_28x28_image_not_in_mnists_form_is_normalised(reference: np.ndarray) -> None:
    filling = np.asarray(seven_coverage(28, 1.2).convert("L"))  # ink to the edges: box over 20
    off_centre = np.roll(reference, (2, -2), axis=(0, 1))  # centre of mass 2 px off on each axis
    for image in (filling, off_centre, 255 - reference):  # the last: dark ink on light paper
        assert not is_normalised(image)
        digit = preprocess(to_png(image))
        assert is_normalised(digit)
        assert not np.array_equal(digit, image)
    assert similarity(preprocess(to_png(off_centre)), reference) > 0.95  # re-centred


def test_mnists_form_is_28x28_with_the_ink_19_or_20_px_long_and_centred_by_mass() -> None:
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 13:16] = 255  # a bar 20 px tall, centre of mass (13.5, 14)
    assert is_normalised(digit)
    assert not is_normalised(np.pad(digit, 1))  # 30×30
    short = np.zeros_like(digit)
    short[6:22, 13:16] = 255  # 16 px tall: normalising would enlarge it
    assert not is_normalised(short)
    low = np.roll(digit, 1, axis=0)  # centre of mass 14.5: still the nearest whole-pixel place
    assert is_normalised(low)
    assert not is_normalised(np.roll(digit, 2, axis=0))
    noisy = digit.copy()
    noisy[0, 0] = 1  # one faint pixel in the corner: the box is the whole field
    assert not is_normalised(noisy)
