"""Stage 3, MNIST's normalisation: ink map → the 28×28 digit, and pixels → the model's input.

The digit's bounding box is fitted into 20×20 keeping the aspect ratio (fine-pen strokes widened
to MNIST's 2–3 px first), and its centre of mass is placed at (14, 14).

Training imports `scale_pixels` from this module alone, so it imports nothing from the handler
package: thresholds come in as arguments. For the same reason `sliding_filter`, which the ink
stage uses too, is defined here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def scale_pixels(x: Any) -> Any:
    """Scale uint8-range pixels (numpy array or torch tensor) to the model's input: float32."""
    if isinstance(x, np.ndarray):
        return ((x.astype(np.float32) / 255.0 - MNIST_MEAN) / MNIST_STD).astype(np.float32)
    # A torch tensor: duck-typed so this module does not need torch to be importable.
    return (x.float() / 255.0 - MNIST_MEAN) / MNIST_STD


def ink_bbox(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the ink, bottom and right exclusive."""
    rows, cols = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    if not rows.size:
        raise ValueError("the ink map is blank")  # the ink stage refuses blank images first
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def normalize_digit(ink: np.ndarray, min_stroke: float) -> np.ndarray:
    """Crop to the ink, fit into 20×20 keeping the aspect ratio, centre of mass at (14, 14).

    Strokes thinner than `min_stroke` px of the 20×20 box are widened first (0: never).
    """
    top, left, bottom, right = ink_bbox(ink)
    crop = ink[top:bottom, left:right]
    if min_stroke > 0:
        crop = thicken_strokes(crop, min_stroke)
        top, left, bottom, right = ink_bbox(crop)
        crop = crop[top:bottom, left:right]

    height, width = crop.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(np.ascontiguousarray(crop), mode="F").resize(
        size, Image.Resampling.LANCZOS
    )
    patch = np.clip(np.asarray(resized), 0.0, None)
    patch = patch / max(float(patch.max()), 1e-6)  # strongest stroke = full white, like MNIST

    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    top = _place(patch.sum(axis=1), size[1])
    left = _place(patch.sum(axis=0), size[0])
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
    small = np.asarray(Image.fromarray(np.ascontiguousarray(crop), mode="F").resize(size, method))
    mask = (small > 0.05 * small.max()).astype(np.float32)
    boundary = mask.sum() - (sliding_filter(mask, 3, np.nanmin) > 0.5).sum()
    width = 2.0 * float(small.sum()) / max(float(boundary), 1.0)  # area / half the perimeter
    grow = round(min_stroke * detail - width)
    if grow < 1:
        return crop
    return sliding_filter(np.pad(small, grow), grow + 1, np.nanmax)


def _place(profile: np.ndarray, length: int) -> int:
    """Offset putting the profile's centre of mass at CENTRE (whole pixels, as MNIST did)."""
    centre_of_mass = float((profile * np.arange(length)).sum() / profile.sum())
    return int(np.clip(round(CENTRE - centre_of_mass), 0, FIELD - length))


def sliding_filter(image: np.ndarray, window: int, reduce: Callable) -> np.ndarray:
    """Separable square min or max filter that ignores the outside (NaN padding): a stroke along
    the edge stays a stroke, where repeating the edge pixels outward would widen it."""
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (window // 2, window // 2)
        padded = np.pad(image, pad, constant_values=np.nan)
        image = reduce(np.lib.stride_tricks.sliding_window_view(padded, window, axis=axis), axis=-1)
    return image.astype(np.float32)
