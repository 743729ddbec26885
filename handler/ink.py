"""Stage 2, finding the ink: grey and alpha → ink strength in [0, 1] (1 where the pen was).

Transparency and a desk around a photographed sheet become paper; then polarity, uneven light and
noise are dealt with and specks dropped. Raises InputError no_digit when no digit stands out.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from handler.limits import InputError, Limits
from handler.normalize import sliding_filter


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
    sheet_rim = (sliding_filter(desk, 3, np.nanmax) > 0.5) & (desk < 0.5)
    desk_rim = (desk > 0.5) & (sliding_filter(desk, 3, np.nanmin) < 0.5)
    sheet = desk < 0.5
    if (
        sheet.mean() < 0.4  # a sheet is big…
        or light[sheet].mean() < 0.75  # …and mostly paper; a big light "0" on black is not
        or _border(desk).mean() < 0.7  # a desk surrounds the sheet; shade on one side does not
        or np.median(small[sheet_rim]) - np.median(small[desk_rim]) < 0.1  # a sharp step
    ):
        return grey, False
    desk = sliding_filter(desk, 5, np.nanmax) > 0.5  # also the sheet's shaded rim
    paper = _resize(_extend_into(small, desk), grey.shape, Image.Resampling.BILINEAR)
    outside = _resize(desk.astype(np.float32), grey.shape, Image.Resampling.BILINEAR) > 0.5
    return np.where(outside, paper, grey), True


def _extend_into(image: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Fill the missing pixels with the mean of their known neighbours, growing inward."""
    filled = np.where(missing, 0.0, image).astype(np.float32)
    known = (~missing).astype(np.float32)
    while True:
        total = sliding_filter(filled * known, 3, np.nansum)
        count = sliding_filter(known, 3, np.nansum)
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
    small = _shrink_to(bright_ink, 64)
    opened = sliding_filter(sliding_filter(small, window, np.nanmin), window, np.nanmax)
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


def remove_specks(ink: np.ndarray, limits: Limits = Limits()) -> np.ndarray:
    """Zero the ink blobs much smaller than the largest one (dust, noise, JPEG ringing).

    Raises no_digit when what is left spans less than `min_digit_extent` of the image: a speck.
    """
    starts, ends, rows, roots = _connected_runs(ink > 0)
    if not roots.size:
        raise InputError("no_digit", 422, "No digit found: the image is blank.")
    areas = np.bincount(roots, weights=ends - starts)
    small = areas[roots] < limits.speck_fraction * areas.max()
    kept_rows, kept_starts, kept_ends = rows[~small], starts[~small], ends[~small]
    extent = max(kept_rows.max() + 1 - kept_rows.min(), kept_ends.max() - kept_starts.min())
    if extent < limits.min_digit_extent * max(ink.shape):
        raise InputError("no_digit", 422, "No digit found: only a tiny speck of ink.")
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
