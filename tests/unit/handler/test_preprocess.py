"""handler.preprocess: the whole pipeline is deterministic and previews round-trip.

Each stage has its own tests (test_decode.py, test_ink.py, test_normalize.py).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from handler.preprocess import preprocess, to_png
from tests.unit.handler.digit_images import dark_on_light, encode, seven_coverage


def test_same_bytes_same_digit() -> None:
    data = encode(dark_on_light(seven_coverage(333, 0.7, (0.4, 0.6))), "JPEG", quality=75)
    np.testing.assert_array_equal(preprocess(data), preprocess(data))


def test_to_png_round_trips(reference: np.ndarray) -> None:
    decoded = np.asarray(Image.open(io.BytesIO(to_png(reference))))
    np.testing.assert_array_equal(decoded, reference)
