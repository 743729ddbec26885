"""Stage 3, MNIST's normalisation: ink map → the 28×28 digit, and pixels → the model's input.

The digit's bounding box is fitted into 20×20 keeping the aspect ratio (fine-pen strokes widened
to MNIST's 2–3 px first), and its centre of mass is placed at (14, 14). Two touching digits are
normalised alike for the pair reader, into a field twice as wide (normalize_pair).

Training imports `scale_pixels` from this module alone, so it imports nothing from the handler
package: thresholds come in as arguments. For the same reason the min and max filters, which the
ink stage uses too, are defined here.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from PIL import Image

# Mean and standard deviation of MNIST's training pixels scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# MNIST geometry: the digit's bounding box fits 20×20, its centre of mass sits at (14, 14)
# (row, column; measured on the MNIST test set: 13.99, 14.01).
DIGIT_BOX = 20
FIELD = 28
CENTRE = 14.0
# A pair of touching digits, for the pair reader (handler.segment): digit height as above.
PAIR_BOX = (20, 48)  # rows, columns the ink is fitted into
PAIR_FIELD = (28, 56)


def is_normalised(grey: np.ndarray) -> bool:
    """Whether `grey` is already a digit in MNIST's form, which normalize_digit would only blur.

    That form: 28×28, white ink on black (everything that is not ink exactly 0), the ink's longer
    side 19 or 20 px, its centre of mass within 0.55 px of (14, 14) on each axis. Every one of
    MNIST's 70,000 digits is in it (longer side 19–20, centre within 0.52 px), and so is nearly
    every output of normalize_digit: normalising is then idempotent.
    """
    if grey.shape != (FIELD, FIELD):
        return False
    _, _, width, height = cv2.boundingRect(grey)
    if max(width, height) not in (DIGIT_BOX - 1, DIGIT_BOX):
        return False
    moments = cv2.moments(grey)
    # cv2's centroid is in pixel-index units like _place's: (14, 14) is MNIST's centre.
    row, column = moments["m01"] / moments["m00"], moments["m10"] / moments["m00"]
    return abs(row - CENTRE) <= 0.55 and abs(column - CENTRE) <= 0.55


def scale_pixels(x: Any) -> Any:
    """Scale uint8-range pixels (numpy array or torch tensor) to the model's input: float32."""
    if isinstance(x, np.ndarray):
        return ((x.astype(np.float32) / 255.0 - MNIST_MEAN) / MNIST_STD).astype(np.float32)
    # A torch tensor: duck-typed so this module does not need torch to be importable.
    return (x.float() / 255.0 - MNIST_MEAN) / MNIST_STD


def ink_bbox(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the ink, bottom and right exclusive."""
    left, top, width, height = cv2.boundingRect((ink > 0).view(np.uint8))
    if not width:
        raise ValueError("the ink map is blank")  # the ink stage refuses blank images first
    return top, left, top + height, left + width


def normalize_digit(ink: np.ndarray, min_stroke: float) -> np.ndarray:
    """Crop to the ink, fit into 20×20 keeping the aspect ratio, centre of mass at (14, 14).

    Strokes thinner than `min_stroke` px of the 20×20 box are widened first (0: never).
    """
    crop = _crop_to_ink(ink)
    if min_stroke > 0:
        crop = _crop_to_ink(thicken_strokes(crop, min_stroke))
    return _fit(crop, (DIGIT_BOX, DIGIT_BOX), (FIELD, FIELD))


def normalize_pair(ink: np.ndarray, min_stroke: float) -> np.ndarray:
    """Two touching digits, for the pair reader: the ink fitted into 20 rows × 48 columns keeping
    the aspect ratio (digit height as a single digit's), centre of mass at the centre of 28×56.

    Strokes are widened to `min_stroke` px at that scale, as a single digit's are.
    """
    crop = _crop_to_ink(ink)
    if min_stroke > 0:
        # thicken_strokes measures strokes with the longer side fitted to 20 px; here the
        # height is, so a stroke of `min_stroke` px is that much thinner there.
        fit = min(PAIR_BOX[0] / crop.shape[0], PAIR_BOX[1] / crop.shape[1])
        as_digit = DIGIT_BOX / max(crop.shape)
        crop = _crop_to_ink(thicken_strokes(crop, min_stroke * as_digit / fit))
    return _fit(crop, PAIR_BOX, PAIR_FIELD)


def _fit(crop: np.ndarray, box: tuple[int, int], field_shape: tuple[int, int]) -> np.ndarray:
    """The crop scaled to fit `box` (rows, columns) keeping its aspect ratio, strongest stroke
    full white, its centre of mass at the centre of a `field_shape` field (whole pixels)."""
    height, width = crop.shape
    scale = min(box[0] / height, box[1] / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = _as_image(crop).resize(size, Image.Resampling.LANCZOS)
    patch = np.maximum(np.asarray(resized), 0.0)  # Lanczos undershoots next to strokes
    patch /= max(float(patch.max()), 1e-6)  # strongest stroke = full white, like MNIST

    field = np.zeros(field_shape, dtype=np.float32)
    top = _place(patch.sum(axis=1), size[1], field_shape[0])
    left = _place(patch.sum(axis=0), size[0], field_shape[1])
    field[top : top + size[1], left : left + size[0]] = patch
    return np.round(field * 255.0).astype(np.uint8)


def thicken_strokes(crop: np.ndarray, min_stroke: float) -> np.ndarray:
    """Widen strokes that would be thinner than `min_stroke` px in the 20×20 box.

    A fine pen shrunk to MNIST size becomes a faint 1 px line, where MNIST strokes are 2–3 px.
    Works on a copy 4× the final size; returns the crop unchanged when strokes are wide enough.
    """
    detail = 4
    scale = DIGIT_BOX * detail / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = np.asarray(_as_image(crop).resize(size, method))
    mask = (small > 0.05 * cv2.minMaxLoc(small)[1]).view(np.uint8)
    boundary = cv2.countNonZero(mask) - cv2.countNonZero(min_filter(mask, 3))
    width = 2.0 * cv2.sumElems(small)[0] / max(boundary, 1)  # area / half the perimeter
    grow = round(min_stroke * detail - width)
    if grow < 1:
        return crop
    padded = cv2.copyMakeBorder(small, grow, grow, grow, grow, cv2.BORDER_CONSTANT, value=0)
    return max_filter(padded, grow + 1)


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    top, left, bottom, right = ink_bbox(ink)
    return ink[top:bottom, left:right]


def _as_image(image: np.ndarray) -> Image.Image:
    """A float32 PIL image ("F"), which PIL's Lanczos and box resampling take.

    Image.frombuffer directly: Image.fromarray reads the array interface first, which cost as
    much again (18 against 9 µs for a canvas's crop). PIL copies the pixels either way.
    """
    pixels = np.ascontiguousarray(image, dtype=np.float32)
    height, width = pixels.shape
    return Image.frombuffer("F", (width, height), pixels, "raw", "F", 0, 1)


def _place(profile: np.ndarray, length: int, field: int) -> int:
    """Offset putting the profile's centre of mass at the field's centre (whole pixels, as MNIST
    did: CENTRE for a digit)."""
    centre_of_mass = float((profile * np.arange(length)).sum() / profile.sum())
    return min(max(round(field / 2 - centre_of_mass), 0), field - length)


# cv2's erode and dilate with a box are sliding min and max filters; by default they ignore the
# pixels outside the image, so a stroke along the edge stays a stroke (repeating the edge pixels
# outward would widen it).


def min_filter(image: np.ndarray, window: int) -> np.ndarray:
    """Minimum over a `window` × `window` square around each pixel."""
    return cv2.erode(image, np.ones((window, window), np.uint8))


def max_filter(image: np.ndarray, window: int) -> np.ndarray:
    """Maximum over a `window` × `window` square around each pixel."""
    return cv2.dilate(image, np.ones((window, window), np.uint8))
