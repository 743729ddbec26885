"""The pipeline: the bytes people send (canvas drawings, uploads, photos) → an MNIST-style digit.

This is the project's only preprocessing implementation. It ships inside the .mar next to the
handler, so its modules import nothing else from this repository (only OpenCV, PIL and numpy).

The stages, each in its own module, in the order `preprocess` runs them:
  handler.decode
    decode_image            bytes → grey and alpha: size limits, then decode, first frame, EXIF
    to_work_size            big images shrunk (box averaging), tiny ones enlarged (bicubic)
  handler.ink
    flatten_alpha           transparent pixels get a backdrop contrasting with the drawn pixels
    clean_drawing           one paper shade and one ink, as drawing apps export: the fast path…
    drawing_ink             …reads the ink directly (no background, noise or desk to handle)
    paint_out_surroundings  otherwise, a sheet photographed on a darker desk: the desk becomes paper
    ink_map                 polarity, uneven light and noise → ink strength in [0, 1] (1 = ink)
    remove_specks           drop blobs far smaller than the digit, so noise cannot stretch the crop
  handler.normalize
    is_normalised           a digit already in MNIST's form is passed through as it is
    normalize_digit         MNIST's normalisation: fit into 20×20, centre of mass at (14, 14),
                            widening fine-pen strokes to MNIST's 2–3 px first (thicken_strokes)
`find_ink` runs the first two stages; `handler.segment` cuts its ink map into digits when a whole
number is read, and normalises each like a single digit.
Limits and InputError (handler.limits) hold the thresholds and the refusals.
See docs/preprocessing.md for why each step exists and what it gains on realistic input.
"""

from __future__ import annotations

import ctypes
import io
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from handler.decode import Pixels, Size, decode_image_and_size, to_work_size
from handler.ink import (
    clean_drawing,
    drawing_ink,
    flatten_alpha,
    ink_map,
    paint_out_surroundings,
    remove_specks,
)
from handler.limits import Limits
from handler.normalize import FIELD, is_normalised, normalize_digit

# One image at a time per worker, and one worker per core: OpenCV's own threads would only
# compete with the other workers for the cores.
cv2.setNumThreads(1)

# glibc malloc: serve allocations under 8 MB from the heap and keep up to 64 MB of freed heap.
# With the defaults, every 280×280 temporary (78–313 kB) past the first is its own mmap, given
# back to the kernel when freed, so each call page-faults fresh zeroed pages: a canvas took
# 1.55 ms to preprocess instead of 1.3. Each worker keeps up to 64 MB of freed heap for reuse.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's malloc.h
MALLOC_KEEP_BYTES, MALLOC_HEAP_BELOW_BYTES = 64 << 20, 8 << 20


def _tune_malloc() -> None:
    """Apply the settings above where the C library is glibc; elsewhere change nothing."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):  # no mallopt (macOS); musl's accepts and ignores it
        return
    mallopt(M_MMAP_THRESHOLD, MALLOC_HEAP_BELOW_BYTES)
    mallopt(M_TRIM_THRESHOLD, MALLOC_KEEP_BYTES)


_tune_malloc()


class Ink(NamedTuple):
    """The ink stage's result: what `preprocess` normalises, and `handler.segment` cuts up."""

    strength: np.ndarray  # float32 ink strength in [0, 1], specks removed; all ink is inside it
    origin: tuple[int, int]  # (row, column) of strength[0, 0] in the image at the working size
    work_shape: tuple[int, int]  # (rows, columns) of the image at the working size
    sent_size: Size  # (width, height) of the upright image as sent: boxes are given in it


def find_ink(data: bytes, limits: Limits = Limits()) -> Ink:
    """Image file bytes → its ink map (decode, work size, ink, specks); raises InputError."""
    return _ink_of(*decode_image_and_size(data, limits), limits)


def _ink_of(pixels: Pixels, sent_size: Size, limits: Limits) -> Ink:
    grey = flatten_alpha(*to_work_size(pixels, limits))
    origin, shades = (0, 0), clean_drawing(grey)
    if shades is not None:
        origin, ink = drawing_ink(grey, shades, limits)  # the drawn region only: the rest is paper
    else:
        grey, on_desk = paint_out_surroundings(grey)
        ink = ink_map(grey, limits, dark_ink=True if on_desk else None)
    work_shape = (grey.shape[0], grey.shape[1])
    return Ink(remove_specks(ink, limits, max(work_shape)), origin, work_shape, sent_size)


def preprocess(data: bytes, limits: Limits = Limits()) -> np.ndarray:
    """Image file bytes → uint8 (28, 28) digit, white ink on black, normalised like MNIST.

    An image already in that form (28×28 like MNIST's own digits, or a preview this handler
    made) is returned as it is: normalising it again would only blur it (is_normalised).
    Raises InputError for anything that is not a readable image of a digit.
    """
    pixels, sent_size = decode_image_and_size(data, limits)
    if pixels[0].shape == (FIELD, FIELD):  # the only size MNIST's form comes in
        grey = flatten_alpha(*pixels)
        if is_normalised(grey):
            return grey
    return normalize_digit(_ink_of(pixels, sent_size, limits).strength, limits.min_stroke)


def to_png(digit: np.ndarray) -> bytes:
    """The 28×28 digit as PNG bytes: the preview of what the model sees."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(digit, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()
