"""Turn the bytes people send (canvas drawings, uploads, photos) into an MNIST-style 28×28 digit.

This is the project's only preprocessing implementation. It ships inside the .mar next to the
handler, so it imports nothing else from this repository (only PIL and numpy).

The steps, each a function below, in the order `preprocess` runs them:
  decode_image            bytes → PIL image: size limits first, then decode, first frame, EXIF
  grey_and_alpha          any mode (1, L, P, I;16, RGB, RGBA, CMYK…) → grey and alpha in [0, 1]
  flatten_alpha           transparent pixels get a backdrop contrasting with the drawn pixels
  paint_out_surroundings  a sheet photographed on a darker desk: the desk takes the paper's shade
  ink_map                 polarity, uneven light and noise → ink strength in [0, 1] (1 = ink)
  remove_specks           drop blobs far smaller than the digit, so noise cannot stretch the crop
  normalize_digit         MNIST's normalisation: fit into 20×20, centre of mass at (14, 14),
                          widening fine-pen strokes to MNIST's 2–3 px first (thicken_strokes)
See docs/preprocessing.md for why each step exists and what it gains on realistic input.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Mean and standard deviation of MNIST's training pixels scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# MNIST geometry: the digit's bounding box fits 20×20, its centre of mass sits at (14, 14)
# (row, column; measured on the MNIST test set: 13.99, 14.01).
DIGIT_BOX = 20
FIELD = 28
CENTRE = 14.0

# Formats PIL may decode. Restricting them keeps risky plugins (EPS runs Ghostscript) unreachable.
# "JPEG" also opens MPO, the JPEG with extra frames that many phone cameras write.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")


@dataclass(frozen=True)
class Limits:
    """Safety limits and detection thresholds; the defaults suit canvases, uploads and photos."""

    max_bytes: int = 10_000_000  # larger bodies are refused before decoding (413)
    max_pixels: int = 40_000_000  # declared width × height above this is refused undecoded (413)
    work_size: int = 640  # long side the image is shrunk to before analysis (speed)
    min_work_size: int = 64  # long side tiny images are enlarged to, so filters have room
    min_contrast: float = 0.12  # ink must differ from the paper by this much of the full range
    min_snr: float = 6.0  # …and by this many times the image's noise level
    speck_fraction: float = 0.05  # blobs under this fraction of the largest blob are speckle
    min_digit_extent: float = 0.04  # ink spanning less of the image's long side is a speck
    min_stroke: float = 2.5  # strokes thinner than this (px of the 20×20 box) are widened; 0: off


class InputError(Exception):
    """An input the service refuses, with the HTTP status and a message for a person."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code  # no_digit, bad_image, unsupported_format or too_large
        self.status = status  # 422, 400, 400, 413
        self.message = message


def scale_pixels(x: Any) -> Any:
    """Scale uint8-range pixels (numpy array or torch tensor) to the model's input: float32."""
    if isinstance(x, np.ndarray):
        return ((x.astype(np.float32) / 255.0 - MNIST_MEAN) / MNIST_STD).astype(np.float32)
    # A torch tensor: duck-typed so this module does not need torch to be importable.
    return (x.float() / 255.0 - MNIST_MEAN) / MNIST_STD


def preprocess(data: bytes, limits: Limits = Limits()) -> np.ndarray:
    """Image file bytes → uint8 (28, 28) digit, white ink on black, normalised like MNIST.

    Raises InputError for anything that is not a readable image of a digit.
    """
    image = decode_image(data, limits)
    grey, alpha = grey_and_alpha(image, limits)
    grey, on_desk = paint_out_surroundings(flatten_alpha(grey, alpha))
    ink = ink_map(grey, limits, dark_ink=True if on_desk else None)
    return normalize_digit(remove_specks(ink, limits), limits)


def to_png(digit: np.ndarray) -> bytes:
    """The 28×28 digit as PNG bytes: the preview of what the model sees."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(digit, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


# ---- decoding ----------------------------------------------------------------------------------


def decode_image(data: bytes, limits: Limits = Limits()) -> Image.Image:
    """Decode the first frame, upright. Sizes are checked before any pixel is decoded."""
    if len(data) > limits.max_bytes:
        raise InputError(
            "too_large",
            413,
            f"The file is {len(data) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.1f} MB.",
        )
    if not data:
        raise InputError("bad_image", 400, "The request is empty; send an image file.")
    # PIL only warns between MAX_IMAGE_PIXELS and twice that; make the warning an error too.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(bytes(data)), formats=FORMATS)
            _check_pixel_count(image.size, limits)  # Image.open has read only the header
            if image.format in ("JPEG", "MPO"):
                # Let libjpeg decode big photos at 1/2, 1/4 or 1/8 scale: much faster.
                image.draft(image.mode, (limits.work_size, limits.work_size))
            image.load()
            image = ImageOps.exif_transpose(image)
        except InputError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            message = "The image has too many pixels to decode."
            raise InputError("too_large", 413, message) from error
        except UnidentifiedImageError as error:
            raise InputError(
                "unsupported_format",
                400,
                "This is not an image in a supported format (PNG, JPEG, GIF, BMP, WebP, TIFF).",
            ) from error
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError) as error:
            raise InputError(
                "bad_image", 400, f"The image file is damaged or truncated ({error})."
            ) from error
    return image


def _check_pixel_count(size: tuple[int, int], limits: Limits) -> None:
    width, height = size
    if width * height > limits.max_pixels:
        raise InputError(
            "too_large",
            413,
            f"The image is {width}×{height} pixels; the limit is "
            f"{limits.max_pixels / 1e6:.0f} megapixels.",
        )


def grey_and_alpha(
    image: Image.Image,
    limits: Limits = Limits(),
) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey level and opacity as float32 arrays in [0, 1], at a working size; alpha may be None."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # High bit depth grey: keep the precision, scale by the range the values actually use.
        values = np.asarray(image, dtype=np.float32)
        full_scale = 255.0 if values.max(initial=0) <= 255 else 65535.0
        image = Image.fromarray(np.clip(values / full_scale, 0, 1).astype(np.float32), mode="F")
    elif "transparency" in image.info or image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image = image.convert("RGBA").convert("LA")
    else:  # 1, L, P without transparency, RGB, CMYK, YCbCr…: luma is all we need
        image = image.convert("L")
    image = _resize_for_work(image, limits)

    if image.mode == "F":
        return np.asarray(image, dtype=np.float32), None
    if image.mode == "LA":
        grey, alpha = (np.asarray(band, dtype=np.float32) / 255.0 for band in image.split())
        return grey, alpha
    return np.asarray(image, dtype=np.float32) / 255.0, None


def _resize_for_work(image: Image.Image, limits: Limits) -> Image.Image:
    """Shrink big images (area averaging, no aliasing); enlarge tiny ones (smooth bicubic)."""
    long_side = max(image.size)
    if long_side > limits.work_size:
        scale, method = limits.work_size / long_side, Image.Resampling.BOX
    elif long_side < limits.min_work_size:
        scale, method = limits.min_work_size / long_side, Image.Resampling.BICUBIC
    else:
        return image
    size = tuple(max(1, round(side * scale)) for side in image.size)
    return image.resize(size, method)


def flatten_alpha(grey: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Replace transparency by a backdrop of the opposite shade to what was drawn.

    A browser canvas exports black ink on transparent black pixels: read without alpha, the digit
    vanishes. Drawn (opaque) pixels that are dark go on white, light ones on black.
    """
    if alpha is None or alpha.min() >= 0.99:
        return grey
    opacity = float(alpha.sum())
    if opacity == 0.0:
        return np.ones_like(grey)  # fully transparent: blank, ink_map will say so
    backdrop = 1.0 if float((grey * alpha).sum()) / opacity < 0.5 else 0.0
    return grey * alpha + backdrop * (1.0 - alpha)


# ---- finding the ink ---------------------------------------------------------------------------


def paint_out_surroundings(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """A light sheet photographed on a darker desk: give the desk the paper's shade.

    Otherwise the border decides the polarity wrongly and the desk is the biggest "stroke".
    Recognised on a 64 px copy: dark regions touching the edge (the desk) that fill most of
    the border, around a region (the sheet) covering 40% of the image or more that is mostly
    light, and a sharp step between the two (light falling off across a sheet changes slowly).
    The desk is painted with the nearby paper's shade, so no edge is left to pass for ink.
    Returns the image and whether a sheet was found (its ink is then dark).
    """
    small = _shrink_to(grey, 64)
    edges, light_level = float(np.median(_border(small))), float(np.percentile(small, 95))
    if light_level - edges < 0.2:
        return grey, False
    light = small > edges + 0.3 * (light_level - edges)  # nearer the desk: shade is sheet
    starts, ends, rows, roots = _connected_runs(~light)
    touching = (rows == 0) | (rows == small.shape[0] - 1) | (starts == 0) | (ends == small.shape[1])
    desk = np.zeros(small.shape, dtype=np.float32)
    keep = np.isin(roots, roots[touching])
    for row, start, end in zip(rows[keep], starts[keep], ends[keep], strict=True):
        desk[row, start:end] = 1.0
    sheet_rim = (_sliding(desk, 3, np.nanmax) > 0.5) & (desk < 0.5)
    desk_rim = (desk > 0.5) & (_sliding(desk, 3, np.nanmin) < 0.5)
    sheet = desk < 0.5
    if (
        sheet.mean() < 0.4  # a sheet is big…
        or light[sheet].mean() < 0.75  # …and mostly paper; a big light "0" on black is not
        or _border(desk).mean() < 0.7  # a desk surrounds the sheet; shade on one side does not
        or np.median(small[sheet_rim]) - np.median(small[desk_rim]) < 0.1  # a sharp step
    ):
        return grey, False
    desk = _sliding(desk, 5, np.nanmax) > 0.5  # also the sheet's shaded rim
    paper = _resize(_extend_into(small, desk), grey.shape, Image.Resampling.BILINEAR)
    outside = _resize(desk.astype(np.float32), grey.shape, Image.Resampling.BILINEAR) > 0.5
    return np.where(outside, paper, grey), True


def _extend_into(image: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Fill the missing pixels with the mean of their known neighbours, growing inward."""
    filled = np.where(missing, 0.0, image).astype(np.float32)
    known = (~missing).astype(np.float32)
    while True:
        total = _sliding(filled * known, 3, np.nansum)
        count = _sliding(known, 3, np.nansum)
        grown = (known == 0) & (count > 0)
        if not grown.any():  # all filled (or nothing known to grow from)
            return filled
        filled[grown] = total[grown] / count[grown]
        known[grown] = 1.0


def ink_map(
    grey: np.ndarray,
    limits: Limits = Limits(),
    dark_ink: bool | None = None,  # None: decide from the border
) -> np.ndarray:
    """Grey image → ink strength in [0, 1]; raises no_digit when nothing stands out.

    Works for dark ink on light paper and light ink on dark, under uneven lighting and noise:
    the background is estimated at a large scale and subtracted, then the contrast is judged
    against the noise, and the result is stretched softly so stroke edges stay anti-aliased.
    """
    noise = pixel_noise(grey)
    smooth = _smooth3(grey)
    if dark_ink is None:
        dark_ink = _ink_is_dark(smooth)
    bright_ink = 1.0 - smooth if dark_ink else smooth
    signal = bright_ink - estimate_background(bright_ink)

    candidates = signal[signal > 4.0 * noise]
    # A high percentile, not the maximum, so one dark blot does not set the scale for the strokes.
    level = float(np.percentile(candidates, 95)) if candidates.size else 0.0
    if level < limits.min_contrast or level < limits.min_snr * noise:
        raise InputError("no_digit", 422, "No digit found: the image is blank or too faint.")

    low = max(0.25 * level, 3.0 * noise)
    high = max(0.6 * level, low + 1e-3)
    return np.clip((signal - low) / (high - low), 0.0, 1.0).astype(np.float32)


def pixel_noise(grey: np.ndarray) -> float:
    """Standard deviation of pixel noise, at least 1/255.

    From the diagonal second difference, which cancels smooth shading and straight edges, so
    neither the lighting nor how much of the image is ink can pass for noise.
    """
    diagonal = grey[1:, 1:] - grey[1:, :-1] - grey[:-1, 1:] + grey[:-1, :-1]
    return max(1.4826 * float(np.median(np.abs(diagonal))) / 2.0, 1.0 / 255)


def _smooth3(image: np.ndarray) -> np.ndarray:
    """3×3 binomial blur (numpy; PIL cannot blur float images): tames pixel noise."""
    padded = np.pad(image, 1, mode="edge")
    rows = padded[:-2] + 2.0 * padded[1:-1] + padded[2:]
    return ((rows[:, :-2] + 2.0 * rows[:, 1:-1] + rows[:, 2:]) / 16.0).astype(np.float32)


def _ink_is_dark(grey: np.ndarray) -> bool:
    """Decide polarity from the border, which is mostly paper: is the far extreme darker?"""
    paper = float(np.median(_border(grey)))
    return paper - float(grey.min()) >= float(grey.max()) - paper


def _border(grey: np.ndarray) -> np.ndarray:
    """The pixels of a thin ring along the image's edges."""
    ring = max(1, min(grey.shape) // 50)
    return np.concatenate(
        [grey[:ring].ravel(), grey[-ring:].ravel(), grey[:, :ring].ravel(), grey[:, -ring:].ravel()]
    )


def estimate_background(bright_ink: np.ndarray, window: int = 15) -> np.ndarray:
    """Large-scale background (paper under uneven light) of an image where ink is bright.

    A morphological opening, on a 64 px copy, with a window a quarter of the image wide: it
    removes every stroke (strokes are thinner than that) and keeps slow illumination gradients.
    """
    opened = _sliding(_sliding(_shrink_to(bright_ink, 64), window, np.nanmin), window, np.nanmax)
    return _resize(opened, bright_ink.shape, Image.Resampling.BILINEAR)


def _shrink_to(image: np.ndarray, long_side: int) -> np.ndarray:
    """Area-averaged copy whose long side is `long_side` pixels."""
    scale = long_side / max(image.shape)
    shape = tuple(max(1, round(side * scale)) for side in image.shape)
    return _resize(image, shape, Image.Resampling.BOX)


def _resize(image: np.ndarray, shape: tuple[int, ...], method: Image.Resampling) -> np.ndarray:
    """Resize a float image to `shape` (rows, columns)."""
    resized = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32), mode="F").resize(
        (shape[1], shape[0]), method
    )
    return np.asarray(resized, dtype=np.float32)


def _sliding(image: np.ndarray, window: int, reduce: Callable) -> np.ndarray:
    """Separable square min or max filter that ignores the outside (NaN padding): a stroke along
    the edge stays a stroke, where repeating the edge pixels outward would widen it."""
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (window // 2, window // 2)
        padded = np.pad(image, pad, constant_values=np.nan)
        image = reduce(np.lib.stride_tricks.sliding_window_view(padded, window, axis=axis), axis=-1)
    return image.astype(np.float32)


def remove_specks(ink: np.ndarray, limits: Limits = Limits()) -> np.ndarray:
    """Zero the ink blobs much smaller than the largest one (dust, noise, JPEG ringing)."""
    starts, ends, rows, roots = _connected_runs(ink > 0)
    if not roots.size:
        raise InputError("no_digit", 422, "No digit found: the image is blank.")
    areas = np.bincount(roots, weights=ends - starts)
    small = areas[roots] < limits.speck_fraction * areas.max()
    cleaned = ink.copy()
    for row, start, end in zip(rows[small], starts[small], ends[small], strict=True):
        cleaned[row, start:end] = 0.0
    return cleaned


def _connected_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of a mask, as horizontal runs: (starts, ends, rows, component).

    Run-length labelling with union-find: a digit is a few runs per row, so this is fast in
    plain Python where a pixel-by-pixel flood fill would not be.
    """
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    parent = list(range(len(starts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(rows, np.arange(mask.shape[0] + 1))
    for row in range(1, mask.shape[0]):
        above = range(row_first[row - 1], row_first[row])
        i = above.start
        for j in range(row_first[row], row_first[row + 1]):
            # Skip runs above that end before this one starts (diagonal contact counts).
            while i < above.stop and ends[i] < starts[j]:
                i += 1
            k = i
            while k < above.stop and starts[k] <= ends[j]:
                parent[find(j)] = find(k)
                k += 1
    roots = np.array([find(i) for i in range(len(starts))], dtype=np.int64)
    return starts, ends, rows, roots


# ---- MNIST normalisation -----------------------------------------------------------------------


def ink_bbox(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the ink, bottom and right exclusive."""
    rows, cols = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    if not rows.size:
        raise InputError("no_digit", 422, "No digit found: the image is blank.")
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def normalize_digit(ink: np.ndarray, limits: Limits = Limits()) -> np.ndarray:
    """Crop to the ink, fit into 20×20 keeping the aspect ratio, centre of mass at (14, 14)."""
    top, left, bottom, right = ink_bbox(ink)
    if max(bottom - top, right - left) < limits.min_digit_extent * max(ink.shape):
        raise InputError("no_digit", 422, "No digit found: only a tiny speck of ink.")
    crop = ink[top:bottom, left:right]
    if limits.min_stroke > 0:
        crop = thicken_strokes(crop, limits.min_stroke)
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
    boundary = mask.sum() - (_sliding(mask, 3, np.nanmin) > 0.5).sum()
    width = 2.0 * float(small.sum()) / max(float(boundary), 1.0)  # area / half the perimeter
    grow = round(min_stroke * detail - width)
    if grow < 1:
        return crop
    return _sliding(np.pad(small, grow), grow + 1, np.nanmax)


def _place(profile: np.ndarray, length: int) -> int:
    """Offset putting the profile's centre of mass at CENTRE (whole pixels, as MNIST did)."""
    centre_of_mass = float((profile * np.arange(length)).sum() / profile.sum())
    return int(np.clip(round(CENTRE - centre_of_mass), 0, FIELD - length))
