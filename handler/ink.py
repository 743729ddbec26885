"""Stage 2, finding the ink: grey and alpha → ink strength in [0, 1] (1 where the pen was).

Transparency becomes paper. A clean drawing (one paper shade, one ink) is read directly; anything
else gets the photo analysis: a desk around a photographed sheet becomes paper, then polarity,
uneven light and noise are dealt with. Specks are dropped last. Raises InputError no_digit when
no digit stands out. Images are uint8 grey levels until the ink strength, which is float32.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from handler.limits import InputError, Limits
from handler.normalize import max_filter, min_filter

# A clean drawing: most of its border (90%) is one shade (±2 grey levels), few of its pixels
# are mid-greys (20–80% of the way from paper to ink: anti-aliased edges take about 1%), and the
# ink covers at most 30% (past 20% of the way). A photo's noise and shading fail the border
# test; a sheet on a desk, whose sheet would pass for ink, covers 40% of the frame or more.
FLAT_SHADES = 2
FLAT_BORDER = 0.9
MAX_MID_GREYS = 0.05
MAX_INK = 0.3

# [1, 2, 1] / 4: the binomial blur, row and column.
BINOMIAL = np.array([0.25, 0.5, 0.25], dtype=np.float32)

# The diagonal second difference of a pixel's 2×2 block (as filter2D weighs it, anchored top-left).
DIAGONAL = np.array([[1, -1], [-1, 1]], dtype=np.float32)


def flatten_alpha(grey: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Replace transparency by a backdrop of the opposite shade to what was drawn.

    A browser canvas exports black ink on transparent black pixels: read without alpha, the digit
    vanishes. Drawn (opaque) pixels that are dark go on white, light ones on black.
    """
    if alpha is None or alpha.min() >= 253:  # 99% opaque everywhere
        return grey
    opacity = cv2.sumElems(alpha)[0]
    if opacity == 0.0:
        return np.full_like(grey, 255)  # fully transparent: blank, the ink stage will say so
    darkest, lightest, _, _ = cv2.minMaxLoc(grey)
    if darkest == lightest:  # one colour, as a canvas stores its ink: no mean to take
        drawn = darkest
    else:
        drawn = cv2.sumElems(cv2.multiply(grey, alpha, dtype=cv2.CV_32F))[0] / opacity
    if drawn < 127.5:  # dark ink on white: 255 − (255 − grey) × alpha
        return 255 - cv2.multiply(255 - grey, alpha, scale=1 / 255)
    return cv2.multiply(grey, alpha, scale=1 / 255)  # light ink on black: grey × alpha


# ---- clean drawings: the fast path -------------------------------------------------------------


class Shades(NamedTuple):
    """A clean drawing's two grey levels."""

    paper: int  # the border's median
    ink: float  # the level farthest from the paper


def clean_drawing(grey: np.ndarray) -> Shades | None:
    """One paper shade and one ink, as a drawing app exports: no noise, shading or desk to handle.

    Returns the two shades, or None for photos, scans and blurry enlarged thumbnails, which get
    the photo analysis.
    """
    paper, border = _paper(grey)
    ink = _ink_shade(grey, paper)
    if _share_near(border, paper) < FLAT_BORDER or abs(ink - paper) <= 2 * FLAT_SHADES:
        return None  # noise, shading or a desk along the edge; or blank (refused as always)
    way_to_ink = (np.arange(256) - paper) / (ink - paper)  # of each grey level
    mid_greys = _count_levels(grey, (way_to_ink >= 0.2) & (way_to_ink <= 0.8)) / grey.size
    inked = _count_levels(grey, way_to_ink >= 0.2) / grey.size
    return Shades(paper, ink) if mid_greys <= MAX_MID_GREYS and inked <= MAX_INK else None


def _count_levels(grey: np.ndarray, levels: np.ndarray) -> int:
    """How many pixels have a grey level where `levels` (256 booleans, one run of True) is set.

    One range test, several times quicker than a histogram of the whole image.
    """
    inside = np.flatnonzero(levels)
    if not inside.size:
        return 0
    return cv2.countNonZero(cv2.inRange(grey, int(inside[0]), int(inside[-1])))


def drawing_ink(
    grey: np.ndarray, shades: Shades, limits: Limits = Limits()
) -> tuple[tuple[int, int], np.ndarray]:
    """Ink strength of a clean drawing (`clean_drawing` gave its shades) over the drawn region,
    and the (row, column) where that region starts; raises no_digit when it is blank.

    What `ink_map` computes, without what a clean drawing does not need: its paper is one shade
    (no background to estimate) and it has no sensor noise (the noise floor, one grey level).
    Only the drawn pixels' bounding box, one pixel wider each way, is worked on: beyond that
    the 3×3 blur sees only paper, so the ink is exactly what the whole image would give.
    """
    paper_image = np.full_like(grey, shades.paper)
    if shades.ink < shades.paper:
        depth = cv2.subtract(paper_image, grey)  # dark ink; subtract saturates at 0
    else:
        depth = cv2.subtract(grey, paper_image)
    left, top, width, height = cv2.boundingRect(depth)  # of the pixels that are not paper
    top, left = max(top - 1, 0), max(left - 1, 0)
    depth = depth[top : top + height + 2, left : left + width + 2]
    return (top, left), _ink_strength(_smooth3(depth), 1.0, limits)


def _paper(grey: np.ndarray) -> tuple[int, np.ndarray]:
    """The paper's shade (the median of the border) and the border's histogram."""
    border = _histogram(_border(grey))
    return round(_percentile_of_counts(border, 50)), border


def _share_near(counts: np.ndarray, level: int) -> float:
    """The share of a histogram's pixels within FLAT_SHADES grey levels of `level`."""
    return float(counts[max(0, level - FLAT_SHADES) : level + FLAT_SHADES + 1].sum() / counts.sum())


def _ink_shade(grey: np.ndarray, paper: float) -> float:
    """The grey level farthest from the paper (the darker one on a tie)."""
    darkest, lightest, _, _ = cv2.minMaxLoc(grey)
    return darkest if paper - darkest >= lightest - paper else lightest


# ---- photos and everything else ----------------------------------------------------------------


def paint_out_surroundings(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """A light sheet photographed on a darker desk: give the desk the paper's shade.

    Otherwise the border decides the polarity wrongly and the desk is the biggest "stroke".
    Recognised on a 64 px copy: dark regions touching the edge (the desk) that fill most of
    the border, around a region (the sheet) covering 40% of the image or more that is mostly
    light, and a sharp step between the two (light falling off across a sheet changes slowly).
    The desk is painted with the nearby paper's shade, so no edge is left to pass for ink.
    Returns the image and whether a sheet was found (its ink is then dark).
    """
    small = _shrink_to(grey, 64) / 255
    edges, light_level = float(np.median(_border(small))), float(np.percentile(small, 95))
    if light_level - edges < 0.2:
        return grey, False
    light = small > edges + 0.3 * (light_level - edges)  # nearer the desk: shade is sheet
    desk = _touching_the_edge(~light)
    sheet_rim = (max_filter(desk, 3) > 0) & (desk == 0)
    desk_rim = (desk > 0) & (min_filter(desk, 3) == 0)
    sheet = desk == 0
    if (
        sheet.mean() < 0.4  # a sheet is big…
        or light[sheet].mean() < 0.75  # …and mostly paper; a big light "0" on black is not
        or _border(desk).mean() < 0.7  # a desk surrounds the sheet; shade on one side does not
        or np.median(small[sheet_rim]) - np.median(small[desk_rim]) < 0.1  # a sharp step
    ):
        return grey, False
    desk = max_filter(desk, 5).astype(bool)  # also the sheet's shaded rim
    paper = np.round(_extend_into(small, desk) * 255).astype(np.uint8)
    outside = _resize(desk.astype(np.float32), grey.shape, cv2.INTER_LINEAR) > 0.5
    return np.where(outside, _resize(paper, grey.shape, cv2.INTER_LINEAR), grey), True


def _touching_the_edge(mask: np.ndarray) -> np.ndarray:
    """The 8-connected regions of a mask that touch the image's edge: uint8, 1 inside them."""
    _, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    edge_labels = np.unique(np.concatenate([labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel()]))
    edge_labels = edge_labels[edge_labels > 0]  # label 0 is outside the mask
    return np.isin(labels, edge_labels).view(np.uint8)


def _extend_into(image: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Fill the missing pixels with the mean of their known neighbours, growing inward."""
    filled = np.where(missing, 0.0, image).astype(np.float32)
    known = (~missing).astype(np.float32)
    while True:
        total = _sum3(filled * known)
        count = _sum3(known)
        grown = (known == 0) & (count > 0)
        if not grown.any():  # all filled (or nothing known to grow from)
            return filled
        filled[grown] = total[grown] / count[grown]
        known[grown] = 1.0


def _sum3(image: np.ndarray) -> np.ndarray:
    """Sum over each pixel's 3×3 neighbourhood; outside the image counts as nothing."""
    return cv2.boxFilter(image, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)


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
    bright_ink = 255.0 - smooth if dark_ink else smooth
    return _ink_strength(bright_ink - estimate_background(bright_ink), noise, limits)


def _ink_strength(signal: np.ndarray, noise: float, limits: Limits) -> np.ndarray:
    """Ink signal (grey levels above the paper) → strength in [0, 1], by a soft threshold.

    Below a quarter of the ink level is paper, above 60% of it full ink, linear between: stroke
    edges stay anti-aliased as in MNIST, and faint shading falls to zero. Raises no_digit when
    the ink level is too low for the contrast or noise limits.
    """
    candidates = signal[signal > 4.0 * noise]
    # A high percentile, not the maximum, so one dark blot does not set the scale for the strokes.
    level = _percentile(candidates, 95) if candidates.size else 0.0
    if level < limits.min_contrast * 255 or level < limits.min_snr * noise:
        raise InputError("no_digit", 422, "No digit found: the image is blank or too faint.")
    low = max(0.25 * level, 3.0 * noise)
    high = max(0.6 * level, low + 0.25)
    strength = signal - np.float32(low)
    strength *= np.float32(1.0 / (high - low))
    return np.clip(strength, 0.0, 1.0, out=strength)


def _percentile(values: np.ndarray, q: float) -> float:
    """np.percentile(values, q) (linear interpolation), bit for bit, for 1-D float32 values.

    A partial sort around the two ranks needed: np.percentile's own overhead costs 3× more here.
    """
    rank = q / 100 * (values.size - 1)
    below = int(np.floor(rank))
    above = min(below + 1, values.size - 1)
    ordered = np.partition(values, [below, above])
    low, high, t = ordered[below], ordered[above], rank - below
    # numpy's lerp: from the nearer end, so the ends are exact.
    return float(high - (high - low) * (1 - t) if t >= 0.5 else low + (high - low) * t)


def pixel_noise(grey: np.ndarray) -> float:
    """Standard deviation of pixel noise, in grey levels, at least 1.

    From the diagonal second difference, which cancels smooth shading and straight edges, so
    neither the lighting nor how much of the image is ink can pass for noise.
    """
    diagonal = cv2.filter2D(grey, cv2.CV_16S, DIAGONAL, anchor=(0, 0))[:-1, :-1]
    # |…| saturates at 255 levels, far above any noise the median could report.
    median = _percentile_of_counts(_histogram(cv2.convertScaleAbs(diagonal)), 50)
    return max(1.4826 * median / 2.0, 1.0)


def _histogram(image: np.ndarray) -> np.ndarray:
    """How many pixels of a uint8 image have each grey level 0…255."""
    return cv2.calcHist([image], [0], None, [256], [0, 256]).ravel()


def _percentile_of_counts(counts: np.ndarray, q: float) -> float:
    """numpy's percentile (linear interpolation) of the bin numbers, seen `counts` times each."""
    cumulative = np.cumsum(counts, dtype=np.float64)
    rank = q / 100 * (cumulative[-1] - 1)
    below, above = np.searchsorted(cumulative, [np.floor(rank), np.ceil(rank)], side="right")
    return float(below + (rank - np.floor(rank)) * (above - below))


def _smooth3(image: np.ndarray) -> np.ndarray:
    """3×3 binomial blur (edges repeated), as float32: tames pixel noise."""
    return cv2.sepFilter2D(image, cv2.CV_32F, BINOMIAL, BINOMIAL, borderType=cv2.BORDER_REPLICATE)


def _ink_is_dark(grey: np.ndarray) -> bool:
    """Decide polarity from the border, which is mostly paper: is the far extreme darker?"""
    paper = float(np.median(_border(grey)))
    return _ink_shade(grey, paper) < paper


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
    small = _shrink_to(bright_ink, 64)
    opened = max_filter(min_filter(small, window), window)
    return _resize(opened, bright_ink.shape, cv2.INTER_LINEAR)


def _shrink_to(image: np.ndarray, long_side: int) -> np.ndarray:
    """Box-averaged float32 copy whose long side is `long_side` pixels.

    PIL's box resampling: as fast as cv2.INTER_AREA at these factors, and what the thresholds
    of the desk check were set with.
    """
    scale = long_side / max(image.shape)
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    as_float = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32))
    return np.asarray(as_float.resize(size, Image.Resampling.BOX))


def _resize(image: np.ndarray, shape: tuple[int, ...], method: int) -> np.ndarray:
    """Resize an image to `shape` (rows, columns)."""
    return cv2.resize(image, (shape[1], shape[0]), interpolation=method)


# ---- both: specks ------------------------------------------------------------------------------


def remove_specks(
    ink: np.ndarray, limits: Limits = Limits(), image_side: int | None = None
) -> np.ndarray:
    """Zero the ink blobs much smaller than the largest one (dust, noise, JPEG ringing).

    Raises no_digit when what is left spans less than `min_digit_extent` of the image's long side
    (`image_side`, when `ink` is a region of the image): a speck.
    """
    count, labels = cv2.connectedComponents((ink > 0).view(np.uint8), connectivity=8)
    if count == 1:  # label 0 is the background
        raise InputError("no_digit", 422, "No digit found: the image is blank.")
    cleaned = ink
    if count > 2:  # several blobs: keep those at least speck_fraction of the largest
        areas = np.bincount(labels.ravel(), minlength=count)[1:]
        kept = np.flatnonzero(areas >= limits.speck_fraction * areas.max()) + 1
        cleaned = ink * np.isin(labels, kept)  # few blobs are kept: a few comparisons
    _, _, width, height = cv2.boundingRect((cleaned > 0).view(np.uint8))
    if max(width, height) < limits.min_digit_extent * (image_side or max(ink.shape)):
        raise InputError("no_digit", 422, "No digit found: only a tiny speck of ink.")
    return cleaned
