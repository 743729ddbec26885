"""Strings of real MNIST digits, composed the way people write numbers, as image files.

Each string has 2–6 digits, each scaled (uneven sizes), sheared by the writer's slant (with a
little per-digit wobble), set on a jittered baseline, and placed after the previous one with a
gap measured row by row between the inks, as a pen leaves it; the whole line may then be
tilted a few degrees. Two sets: "apart" (every gap leaves paper between the digits) and "touching"
(one neighbouring pair touches or overlaps by a few pixels). Each string is rendered in one of
two styles: "paper" (dark ink on light paper, with noise, as PNG or JPEG) or "canvas" (black ink on
a transparent background, RGBA PNG, as a browser canvas exports it).

Every digit is also rendered alone, the same way (same size, slant, tilt, style): the reference
for per-digit accuracy inside numbers. bench.number_eval scores both.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from training.data import load_mnist, split_train_val
from training.train import TrainConfig

SETS = ("apart", "touching")
STYLES = ("paper", "canvas")


@dataclass(frozen=True)
class StringConfig:
    """What the strings look like; MNIST digits are 28 px, scaled to `scale` times that."""

    min_digits: int = 2  # digits per string, at least…
    max_digits: int = 6  # …and at most
    min_scale: float = 2.0  # pixels per MNIST pixel, per string: smallest…
    max_scale: float = 4.0  # …and largest
    size_jitter: float = 0.2  # each digit's scale varies by up to this share, up or down
    max_slant: float = 0.3  # the writer's slant (a shear: x shift per row), up to this either way
    slant_jitter: float = 0.08  # each digit's slant varies by up to this
    baseline_jitter: float = 0.08  # each digit moves up or down by up to this share of its height
    max_tilt: float = 5.0  # the line of writing rises or falls by up to this many degrees
    min_gap: float = 2.0  # "apart": MNIST pixels of paper between neighbours, at least…
    max_gap: float = 9.0  # …and at most
    max_overlap: float = 3.0  # "touching": the pair touches or overlaps by up to this (MNIST px)
    margin: float = 0.5  # paper around the line, as a share of the digit height


@dataclass
class NumberString:
    """One generated string: the image file, the truth, and each digit rendered alone."""

    data: bytes
    extension: str  # png or jpg
    style: str  # paper or canvas
    labels: list[int]
    alone: list[bytes]  # each digit alone on the same kind of image, the same way
    # Each digit's ink coverage in [0, 1], (digits, rows, columns) in the image's pixels, when
    # asked for (tools.digit_check labels the segmenter's pieces with it).
    digit_ink: np.ndarray | None = None


def mnist_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images (N, 28, 28) uint8 and labels, by split:

    train  the 55,000 training digits the shipped model learns from: the segmenter's helper
           networks learn from strings of these (tools.digit_check, tools.pair_reader);
    val    the 5,000 validation digits held out of them (make train's split): segmentation
           parameters are chosen on strings of these, which no network has seen;
    test   the 10,000 test digits: the report, scored once.
    """
    mnist = load_mnist(quiet=True)
    if split == "test":
        return mnist.test_images.numpy(), mnist.test_labels.numpy()
    if split not in ("train", "val"):
        raise ValueError(f"split must be train, val or test, not {split!r}")
    split_config = TrainConfig()
    train, val = split_train_val(len(mnist.train_labels), split_config.val_size, split_config.seed)
    chosen = train if split == "train" else val
    return mnist.train_images[chosen].numpy(), mnist.train_labels[chosen].numpy()


def generate(
    images: np.ndarray,
    labels: np.ndarray,
    which: str,
    count: int,
    seed: int,
    config: StringConfig = StringConfig(),
    digit_ink: bool = False,
) -> Iterator[NumberString]:
    """`count` strings of the set `which` ("apart" or "touching"), reproducibly from `seed`."""
    rng = np.random.default_rng([seed, SETS.index(which)])
    for _ in range(count):
        yield make_string(images, labels, which == "touching", rng, config, digit_ink)


def make_string(
    images: np.ndarray,
    labels: np.ndarray,
    touching: bool,
    rng: np.random.Generator,
    config: StringConfig = StringConfig(),
    digit_ink: bool = False,
) -> NumberString:
    """One string of random digits of `images`, and each digit alone, rendered alike."""
    length = int(rng.integers(config.min_digits, config.max_digits + 1))
    picks = rng.integers(0, len(images), size=length)
    scale = rng.uniform(config.min_scale, config.max_scale)
    slant = rng.uniform(-config.max_slant, config.max_slant)
    glyphs = [
        _glyph(
            images[i],
            scale * (1 + rng.uniform(-config.size_jitter, config.size_jitter)),
            slant + rng.uniform(-config.slant_jitter, config.slant_jitter),
        )
        for i in picks
    ]
    height = 20 * scale  # MNIST digits are 20 px high inside their 28
    gaps = rng.uniform(config.min_gap, config.max_gap, size=length - 1) * scale
    if touching:
        gaps[rng.integers(0, length - 1)] = -rng.uniform(0, config.max_overlap) * scale
    shifts = rng.uniform(-1, 1, size=length) * config.baseline_jitter * height
    placements: list[tuple[int, int]] = []
    line = _compose(glyphs, gaps, shifts, round(config.margin * height), placements)
    tilt = rng.uniform(-config.max_tilt, config.max_tilt)
    style = STYLES[int(rng.integers(0, 2))]
    look = _look(style, rng)
    margin = round(config.margin * height)
    alone = [_render(_tilt(_compose([g], [], [0.0], margin), tilt), look) for g in glyphs]
    data, extension = _render(_tilt(line, tilt), look)
    inks = None
    if digit_ink:  # each glyph alone where it was placed, tilted with the line
        inks = np.stack(
            [
                _tilt(_paste(np.zeros_like(line), glyph, y, x)[:, : line.shape[1]], tilt)
                for glyph, (y, x) in zip(glyphs, placements, strict=True)
            ]
        )
    return NumberString(
        data, extension, style, [int(labels[i]) for i in picks], [a for a, _ in alone], inks
    )


def _glyph(image: np.ndarray, scale: float, slant: float) -> np.ndarray:
    """An MNIST digit as ink coverage in [0, 1], enlarged and sheared, cropped to its ink."""
    size = max(1, round(28 * scale))
    big = cv2.resize(image.astype(np.float32) / 255, (size, size), interpolation=cv2.INTER_CUBIC)
    width = size + int(np.ceil(abs(slant) * size))
    # x' = x + slant × (centre row − y): the top leans right for a positive slant.
    shear = np.array([[1.0, -slant, slant * (size - 1) / 2 + (width - size) / 2], [0.0, 1.0, 0.0]])
    sheared = np.clip(cv2.warpAffine(big, shear, (width, size), flags=cv2.INTER_LINEAR), 0, 1)
    rows, columns = np.nonzero(sheared > 0.05)
    return sheared[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]


def _compose(
    glyphs: list[np.ndarray],
    gaps: np.ndarray | list,
    shifts: np.ndarray | list,
    margin: int,
    placements: list[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Glyphs side by side on one baseline (shifted each), `gaps` apart row by row; each glyph's
    (row, column) is appended to `placements` when given."""
    tallest = max(g.shape[0] for g in glyphs)
    top = [margin + (tallest - g.shape[0]) + round(s) for g, s in zip(glyphs, shifts, strict=True)]
    top = [t - min(top) + margin for t in top]
    rows = max(t + g.shape[0] for t, g in zip(top, glyphs, strict=True)) + margin
    columns = margin * 2 + sum(g.shape[1] for g in glyphs) + int(np.abs(gaps).sum()) + 2
    page = np.zeros((rows, columns), dtype=np.float32)
    right_edge = np.full(rows, -np.inf)  # per row, where the ink placed so far ends
    for i, (glyph, y) in enumerate(zip(glyphs, top, strict=True)):
        ink = glyph > 0.3
        left_edge = np.full(rows, np.inf)
        for r in range(glyph.shape[0]):
            hit = np.flatnonzero(ink[r])
            if hit.size:
                left_edge[y + r] = hit[0]
        if i == 0:
            x = margin
        else:
            # The gap between the inks where they come closest, row by row (±1 row, for diagonals).
            reach = np.maximum(
                right_edge, np.maximum(np.roll(right_edge, 1), np.roll(right_edge, -1))
            )
            closest = np.max(reach - left_edge)
            if not np.isfinite(closest):  # no row in common: the gap from the last ink at all
                closest = right_edge.max() - np.nanmin(
                    np.where(np.isfinite(left_edge), left_edge, np.nan)
                )
            x = max(0, int(np.ceil(closest + gaps[i - 1])))
        page = _paste(page, glyph, y, x)
        if placements is not None:
            placements.append((y, x))
        for r in range(glyph.shape[0]):
            hit = np.flatnonzero(ink[r])
            if hit.size:
                right_edge[y + r] = max(right_edge[y + r], x + hit[-1])
    columns_used = np.flatnonzero(page.max(axis=0) > 0)
    return page[:, : columns_used[-1] + 1 + margin]


def _paste(page: np.ndarray, glyph: np.ndarray, y: int, x: int) -> np.ndarray:
    """Ink on ink: the darker wins, as two pen strokes crossing."""
    needed = x + glyph.shape[1] - page.shape[1]
    if needed > 0:
        page = np.pad(page, ((0, 0), (0, needed)))
    region = page[y : y + glyph.shape[0], x : x + glyph.shape[1]]
    np.maximum(region, glyph, out=region)
    return page


def _tilt(page: np.ndarray, degrees: float) -> np.ndarray:
    """The whole line turned by a few degrees (the page expands to keep it all)."""
    rows, columns = page.shape
    turn = cv2.getRotationMatrix2D((columns / 2, rows / 2), degrees, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    size = (int(np.ceil(columns * cos + rows * sin)), int(np.ceil(rows * cos + columns * sin)))
    turn[0, 2] += size[0] / 2 - columns / 2
    turn[1, 2] += size[1] / 2 - rows / 2
    return np.clip(cv2.warpAffine(page, turn, size, flags=cv2.INTER_LINEAR), 0, 1)


@dataclass
class _Look:
    """How a string is rendered: drawn on a canvas, or in ink on paper."""

    style: str
    paper: float = 255.0
    ink: float = 0.0
    noise: float = 0.0
    jpeg_quality: int = 0  # 0: PNG
    seed: int = 0


def _look(style: str, rng: np.random.Generator) -> _Look:
    if style == "canvas":
        return _Look(style)
    return _Look(
        style,
        paper=rng.uniform(215, 250),
        ink=rng.uniform(10, 70),
        noise=rng.uniform(0, 4),
        jpeg_quality=int(rng.integers(75, 96)) if rng.random() < 0.5 else 0,
        seed=int(rng.integers(1 << 31)),
    )


def _render(coverage: np.ndarray, look: _Look) -> tuple[bytes, str]:
    """Coverage in [0, 1] → an image file in the look's style, and its extension."""
    buffer = io.BytesIO()
    if look.style == "canvas":
        rgba = np.zeros((*coverage.shape, 4), dtype=np.uint8)
        rgba[..., 3] = np.round(coverage * 255).astype(np.uint8)
        Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
        return buffer.getvalue(), "png"
    noise = np.random.default_rng(look.seed).normal(0, look.noise, coverage.shape)
    grey = look.paper + (look.ink - look.paper) * coverage + noise
    image = Image.fromarray(np.clip(np.round(grey), 0, 255).astype(np.uint8), mode="L")
    if look.jpeg_quality:
        image.save(buffer, format="JPEG", quality=look.jpeg_quality)
        return buffer.getvalue(), "jpg"
    image.save(buffer, format="PNG")
    return buffer.getvalue(), "png"
