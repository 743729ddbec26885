"""The pipeline: the bytes people send (canvas drawings, uploads, photos) → an MNIST-style digit.

This is the project's only preprocessing implementation. It ships inside the .mar next to the
handler, so its modules import nothing else from this repository (only PIL and numpy).

The stages, each in its own module, in the order `preprocess` runs them:
  handler.decode
    decode_image            bytes → PIL image: size limits, then decode, first frame, EXIF
    grey_and_alpha          any mode (1, L, P, I;16, RGB, RGBA, CMYK…) → grey and alpha in [0, 1]
  handler.ink
    flatten_alpha           transparent pixels get a backdrop contrasting with the drawn pixels
    paint_out_surroundings  a sheet photographed on a darker desk: the desk takes the paper's shade
    ink_map                 polarity, uneven light and noise → ink strength in [0, 1] (1 = ink)
    remove_specks           drop blobs far smaller than the digit, so noise cannot stretch the crop
  handler.normalize
    normalize_digit         MNIST's normalisation: fit into 20×20, centre of mass at (14, 14),
                            widening fine-pen strokes to MNIST's 2–3 px first (thicken_strokes)
Limits and InputError (handler.limits) hold the thresholds and the refusals.
See docs/preprocessing.md for why each step exists and what it gains on realistic input.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from handler.decode import decode_image, grey_and_alpha
from handler.ink import flatten_alpha, ink_map, paint_out_surroundings, remove_specks
from handler.limits import Limits
from handler.normalize import normalize_digit


def preprocess(data: bytes, limits: Limits = Limits()) -> np.ndarray:
    """Image file bytes → uint8 (28, 28) digit, white ink on black, normalised like MNIST.

    Raises InputError for anything that is not a readable image of a digit.
    """
    image = decode_image(data, limits)
    grey, alpha = grey_and_alpha(image, limits)
    grey, on_desk = paint_out_surroundings(flatten_alpha(grey, alpha))
    ink = ink_map(grey, limits, dark_ink=True if on_desk else None)
    return normalize_digit(remove_specks(ink, limits), limits.min_stroke)


def to_png(digit: np.ndarray) -> bytes:
    """The 28×28 digit as PNG bytes: the preview of what the model sees."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(digit, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()
