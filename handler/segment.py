"""Reading a whole number: the ink map of a line of digits → one MNIST-style digit per digit.

The ink comes from the single-digit pipeline (handler.preprocess.find_ink) and each digit found is
normalised exactly as a single digit is (handler.normalize.normalize_digit). In between:
  slant       the line's slant is measured (the shear that makes its strokes most upright) and
              horizontal positions are read along it, so slanted digits do not overlap in x
  pieces      8-connected blobs of ink
  merge       pieces overlapping in x are one digit (a 4 or 5 in two strokes, a 7 with a separate
              bar); a small piece close to a digit joins it (a stroke broken by a pen lift)
  pairs       the pair reader (when packed) reads every piece too wide for one digit whole, in
              one batch: surely two touching digits "ab", one digit, or neither
  split       a pair is cut in two (below), each half answering its digit from the reader's
              pair and the model's reading of the half; one digit stays whole; any other piece
              too wide for one digit may be several that touch: cuts at the minima of its
              column profile and at even places are tried, straight along the slant and as the
              least-ink path near each; the model (a batch function the handler passes) and the
              digit check (is this one whole digit?) keep the cut whose halves they are surest
              of, or no cut when the whole reads better
  order       left to right
Boxes are given in pixels of the image as sent (the ink map may be a shrunk copy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from handler.limits import InputError, Limits
from handler.normalize import normalize_digit, normalize_pair
from handler.preprocess import Ink, find_ink

# 28×28 uint8 digits → (N, 10) class probabilities: the model, as the handler runs it.
Classify = Callable[[list[np.ndarray]], np.ndarray]
# 28×28 uint8 digits → (N, 11) probabilities: one whole digit 0-9, or not one digit (a part of
# one, or a pair): the digit check packed beside the model (tools.digit_check trains it).
Check = Callable[[list[np.ndarray]], np.ndarray]
DIGIT_CHECK_FILE = "digit_check.pt"  # its file in the .mar, beside the model (tools.archive)
# 28×56 pieces (handler.normalize.normalize_pair) → (N, 102) probabilities from the pair reader
# (tools.pair_reader): two touching digits "ab" (class 10·a + b), one digit, or anything else.
ReadPairs = Callable[[list[np.ndarray]], np.ndarray]
PAIR_READER_FILE = "pair_reader.pt"  # its file in the .mar
ONE_DIGIT, NOT_A_PAIR = 100, 101  # the pair reader's classes after the hundred pairs
Box = tuple[int, int, int, int]  # x0, y0, x1, y1; x1 and y1 exclusive


@dataclass(frozen=True)
class SegmentConfig:
    """How a line of digits is cut up; chosen on strings of MNIST validation digits (bench)."""

    max_digits: int = 12  # more digits found answer 422 too_many_digits
    max_pieces_per_digit: int = 8  # more blobs of ink than this × max_digits: too_many_digits too
    max_slant: float = 0.5  # steepest slant searched, as a shear (x shift per row; 0.5 ≈ 27°)
    slant_steps: int = 11  # shears tried between −max_slant and max_slant
    merge_overlap: float = 0.7  # pieces overlapping in x by this share of the narrower: one digit
    fragment_height: float = 0.5  # a piece shorter than this share of the line's digit height…
    fragment_gap: float = 0.15  # …within this share of that height of a digit joins it
    noise_size: float = 0.2  # a lone piece smaller than this share of the digit height is dropped
    split_aspect: float = 0.6  # pieces wider than this times their height may be several digits
    split_margin: float = 0.2  # cuts are tried between this share of the width and 1 − it
    split_cuts: int = 4  # the deepest minima of the column profile tried as cuts…
    split_steps: int = 7  # …and this many cuts evenly spaced between the margins
    path_band: float = 0.15  # each cut is also tried as the least-ink path within ± this × height
    check_weight: float = 1.0  # weight of the digit check's log probability beside the model's
    # The classifier is sure of many a squeezed pair too: as one digit, a piece wider than
    # `wide_aspect` × its height loses wide_weight × the excess from its log confidence.
    wide_aspect: float = 1.4
    wide_weight: float = 2.0
    split_depth: int = 2  # a half may be split again, this many times (three touching digits)
    # The pair reader (when packed): a wide piece is cut as two touching digits when it gives
    # pairs at least `pair_threshold` in all; below, it stays whole when "one digit" is its
    # likeliest answer, else it is cut as without a pair reader.
    pair_threshold: float = 0.95
    # A pair's digits: the reader's joint probabilities × the model's reading of each half, to
    # this power, renormalised (0: the reader's alone).
    pair_model_weight: float = 1.0


class Segment(NamedTuple):
    """One digit of the number: what the model reads, and where it was drawn."""

    digit: np.ndarray  # uint8 (28, 28), normalised like a single digit
    box: Box  # its ink's bounding box in the image as sent
    # (10,) probabilities of each digit when the pair reader read it (one of two touching
    # digits); None: the model reads `digit`.
    probabilities: np.ndarray | None = None


@dataclass(eq=False)  # pieces are told apart by identity
class Piece:
    """Ink pixels read as one unit (a blob, several merged, or part of a cut blob)."""

    rows: np.ndarray
    columns: np.ndarray
    along: np.ndarray  # horizontal position along the slant, per pixel
    probabilities: np.ndarray | None = (
        None  # what the pair reader says this digit is, if it read it
    )

    @property
    def left(self) -> float:
        return float(self.along.min())

    @property
    def right(self) -> float:
        return float(self.along.max()) + 1.0

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> int:
        return int(self.rows.max() - self.rows.min()) + 1

    def join(self, other: Piece) -> Piece:
        return Piece(
            *(np.concatenate(pair) for pair in zip(self.arrays, other.arrays, strict=True))
        )

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.rows, self.columns, self.along

    def part(self, keep: np.ndarray) -> Piece:
        return Piece(*(array[keep] for array in self.arrays))


def read_number(
    data: bytes,
    classify: Classify,
    limits: Limits = Limits(),
    config: SegmentConfig = SegmentConfig(),
    check: Check | None = None,
    read_pairs: ReadPairs | None = None,
) -> list[Segment]:
    """Image file bytes → the number's digits, left to right; raises InputError (no_digit, …).
    Without a digit check, cuts are chosen by the model's confidence alone; without a pair
    reader, touching pairs are found by cutting alone."""
    ink = find_ink(data, limits)
    return segment_ink(ink, classify, limits.min_stroke, config, check, read_pairs)


def segment_ink(
    ink: Ink,
    classify: Classify,
    min_stroke: float,
    config: SegmentConfig = SegmentConfig(),
    check: Check | None = None,
    read_pairs: ReadPairs | None = None,
) -> list[Segment]:
    """The ink map of a line of digits → its digits, left to right, each normalised."""
    strength = ink.strength
    pieces = line_pieces(strength, config)
    if not pieces:
        raise InputError("no_digit", 422, "No digit found: the image is blank.")
    # Merging compares pieces pairwise: so many blobs are no number (noise, a page of text).
    _refuse_too_many(len(pieces), config, config.max_pieces_per_digit)
    pieces = merge_pieces(pieces, config)
    _refuse_too_many(len(pieces), config)
    scorer = _Scorer(strength, classify, check, min_stroke, config)
    readings = _pair_readings(pieces, strength, min_stroke, read_pairs, config)
    pieces = [
        cut
        for piece, reading in zip(pieces, readings, strict=True)
        for cut in (
            _split(piece, scorer, config)
            if reading is None
            else _split_as_read(piece, reading, scorer)
        )
    ]
    _refuse_too_many(len(pieces), config)
    pieces.sort(key=lambda piece: float(piece.along.mean()))
    return [
        Segment(
            normalize_digit(crop(piece, strength), min_stroke),
            _box(piece, ink),
            piece.probabilities,
        )
        for piece in pieces
    ]


def _refuse_too_many(count: int, config: SegmentConfig, per_digit: int = 1) -> None:
    if count > config.max_digits * per_digit:
        found = f"{count} digits" if per_digit == 1 else f"{count} separate marks"
        raise InputError(
            "too_many_digits",
            422,
            f"{found} found; a number may have at most {config.max_digits} digits.",
        )


# ---- pieces and slant ----------------------------------------------------------------------------


def line_pieces(strength: np.ndarray, config: SegmentConfig) -> list[Piece]:
    """The 8-connected blobs of ink, with positions read along the line's slant."""
    count, labels = cv2.connectedComponents((strength > 0).view(np.uint8), connectivity=8)
    rows, columns = np.nonzero(labels)
    if not rows.size:
        return []
    shear = _slant(rows, columns, strength[rows, columns], config)
    along = columns + shear * (rows - rows.mean())
    order = np.argsort(labels[rows, columns], kind="stable")
    bounds = np.cumsum(np.bincount(labels[rows, columns], minlength=count)[1:])[:-1]
    return [
        Piece(r, c, a)
        for r, c, a in zip(
            *(np.split(array[order], bounds) for array in (rows, columns, along)), strict=True
        )
    ]


def _slant(
    rows: np.ndarray, columns: np.ndarray, weight: np.ndarray, config: SegmentConfig
) -> float:
    """The shear that makes the strokes most upright: the sharpest column profile (its energy)."""
    centred = rows - rows.mean()
    best, best_energy = 0.0, -1.0
    for shear in np.linspace(-config.max_slant, config.max_slant, config.slant_steps):
        along = np.round(columns + shear * centred).astype(np.int64)
        profile = np.bincount(along - along.min(), weights=weight)
        energy = float(np.dot(profile, profile))
        if energy > best_energy * 1.0001:  # ties keep the smaller shear (upright first)
            best, best_energy = float(shear), energy
    return best


def _digit_height(pieces: list[Piece]) -> float:
    """The line's digit height: the median height of its big pieces (not bars, dots or breaks)."""
    sizes = np.array([piece.rows.size for piece in pieces])
    big = [
        piece.height for piece, size in zip(pieces, sizes, strict=True) if size >= 0.3 * sizes.max()
    ]
    return float(np.median(big))


# ---- merge -------------------------------------------------------------------------------------


def merge_pieces(pieces: list[Piece], config: SegmentConfig) -> list[Piece]:
    """Join the pieces of one digit: overlapping in x, or a small piece close to a digit."""
    height = _digit_height(pieces)
    pieces = sorted(pieces, key=lambda piece: piece.left)
    merged = True
    while merged:  # a join can make a piece overlap the next: repeat until nothing changes
        merged = False
        for i in range(len(pieces) - 1):
            for j in range(i + 1, len(pieces)):
                a, b = pieces[i], pieces[j]
                overlap = min(a.right, b.right) - max(a.left, b.left)
                if overlap >= config.merge_overlap * min(a.width, b.width):
                    pieces[i] = a.join(b)
                    del pieces[j]
                    merged = True
                    break
            if merged:
                break
    return _join_fragments(pieces, height, config)


def _join_fragments(pieces: list[Piece], height: float, config: SegmentConfig) -> list[Piece]:
    """A short piece joins the nearest digit within reach; a tiny lone one is noise."""
    kept = list(pieces)
    changed = True
    while changed and len(kept) > 1:
        changed = False
        for i, piece in enumerate(kept):
            if piece.height >= config.fragment_height * height:
                continue
            gaps = [
                max(other.left - piece.right, piece.left - other.right, 0.0) if j != i else np.inf
                for j, other in enumerate(kept)
            ]
            nearest = int(np.argmin(gaps))
            if gaps[nearest] <= config.fragment_gap * height:
                kept[nearest] = kept[nearest].join(piece)
            elif max(piece.height, piece.width) >= config.noise_size * height:
                continue
            del kept[i]
            changed = True
            break
    return sorted(kept, key=lambda piece: piece.left)


# ---- split -------------------------------------------------------------------------------------


@dataclass
class _Scorer:
    """How sure the model and the digit check are that each piece is one digit (log, batched)."""

    strength: np.ndarray
    classify: Classify
    check: Check | None
    min_stroke: float
    config: SegmentConfig

    def __call__(self, pieces: list[Piece]) -> np.ndarray:
        read, whole = self.readings(pieces)
        return np.log(np.maximum(read.max(axis=1), 1e-9)) + self.config.check_weight * whole

    def readings(self, pieces: list[Piece]) -> tuple[np.ndarray, np.ndarray]:
        """The model's (N, 10) reading of each piece, and the digit check's log probability that
        it is one whole digit, whichever digit it is (0 without a check)."""
        digits = [normalize_digit(crop(piece, self.strength), self.min_stroke) for piece in pieces]
        read = np.asarray(self.classify(digits), dtype=np.float64)
        if self.check is None:
            return read, np.zeros(len(pieces))
        whole = np.asarray(self.check(digits), dtype=np.float64)[:, :10].sum(axis=1)
        return read, np.log(np.maximum(whole, 1e-6))


def _split(piece: Piece, scorer: _Scorer, config: SegmentConfig, depth: int = 0) -> list[Piece]:
    """A piece too wide for one digit → the digits the scorer is surest of (or itself)."""
    aspect = piece.width / piece.height
    if depth >= config.split_depth or aspect <= config.split_aspect:
        return [piece]
    halves = cut_halves(piece, scorer.strength, config)
    if not halves:
        return [piece]
    score = scorer([piece, *(half for pair in halves for half in pair)])
    as_two = score[1::2] + score[2::2]
    best = int(np.argmax(as_two))
    as_one = score[0] - config.wide_weight * max(0.0, aspect - config.wide_aspect)
    if as_two[best] <= as_one:
        return [piece]
    left, right = halves[best]
    return [*_split(left, scorer, config, depth + 1), *_split(right, scorer, config, depth + 1)]


def _pair_readings(
    pieces: list[Piece],
    strength: np.ndarray,
    min_stroke: float,
    read_pairs: ReadPairs | None,
    config: SegmentConfig,
) -> list[np.ndarray | None]:
    """The pair reader's (102,) probabilities for each piece wide enough to be two digits, in
    one batch; None for the others, and for all without a pair reader."""
    wide = [i for i, piece in enumerate(pieces) if piece.width / piece.height > config.split_aspect]
    readings: list[np.ndarray | None] = [None] * len(pieces)
    if read_pairs is None or not wide:
        return readings
    pairs = [normalize_pair(crop(pieces[i], strength), min_stroke) for i in wide]
    for i, reading in zip(wide, np.asarray(read_pairs(pairs), dtype=np.float64), strict=True):
        readings[i] = reading
    return readings


def _split_as_read(piece: Piece, reading: np.ndarray, scorer: _Scorer) -> list[Piece]:
    """A wide piece as the pair reader reads it: surely two touching digits (cut where the
    scorer is surest of the halves; each half answers its digit's probabilities from the
    reader's pair and the model's reading of it), else one digit (kept whole), else neither (a
    part, three digits…, or unsure: cut as without a pair reader)."""
    config = scorer.config
    as_pair = reading[:ONE_DIGIT].sum()
    if as_pair < config.pair_threshold:
        if reading[ONE_DIGIT] >= max(as_pair, reading[NOT_A_PAIR]):
            return [piece]
        return _split(piece, scorer, config)
    halves = cut_halves(piece, scorer.strength, config)
    if not halves:
        return [piece]
    read, whole = scorer.readings([half for pair in halves for half in pair])
    # The cut kept: where the model's reading of the two halves agrees most with the reader's
    # reading of the pair, and the digit check is surest that both halves are whole digits.
    pairs = reading[:ONE_DIGIT].reshape(10, 10)
    agreement = np.einsum("ab,ca,cb->c", pairs, read[0::2], read[1::2])
    score = np.log(np.maximum(agreement, 1e-300)) + config.check_weight * (
        whole[0::2] + whole[1::2]
    )
    best = int(np.argmax(score))
    left, right = halves[best]
    # Two readers with different errors: the reader's joint [first, second] × the model's.
    joint = pairs * np.outer(read[2 * best], read[2 * best + 1]) ** config.pair_model_weight
    joint /= joint.sum()
    left.probabilities, right.probabilities = joint.sum(axis=1), joint.sum(axis=0)
    return [left, right]


def cut_halves(
    piece: Piece, strength: np.ndarray, config: SegmentConfig
) -> list[tuple[Piece, Piece]]:
    """The ways of cutting a piece in two that are tried: straight along the slant at each
    candidate place, and along the least-ink path near it (digits that overlap a little)."""
    cuts = _cut_candidates(piece, strength, config)
    lefts = [piece.along < cut for cut in cuts]
    if cuts and config.path_band > 0:
        band = max(1, round(config.path_band * piece.height))
        lefts += _least_ink_paths(piece, strength, cuts, band)
    unique = {left.tobytes(): left for left in lefts if left.any() and not left.all()}
    return [(piece.part(left), piece.part(~left)) for left in unique.values()]


def _least_ink_paths(
    piece: Piece, strength: np.ndarray, cuts: list[float], band: int
) -> list[np.ndarray]:
    """For each cut, which pixels lie left of the path from top to bottom that crosses the least
    ink, moving at most one column per row and staying within ±band columns of the cut."""
    rows = piece.rows - piece.rows.min()
    columns = np.floor(piece.along - piece.left).astype(np.int64)
    ink = np.zeros((piece.height, int(columns.max()) + 1))
    np.add.at(ink, (rows, columns), strength[piece.rows, piece.columns])
    # One strip of 2·band+1 columns per cut, side by side. The path may not leave the piece: a
    # path around it, all paper, would cut nothing off.
    offsets = np.arange(-band, band + 1)
    places = np.floor(np.asarray(cuts) - piece.left).astype(np.int64)[:, None] + offsets
    inside = (places >= 0) & (places < ink.shape[1])
    strips = np.where(inside, ink[:, np.clip(places, 0, ink.shape[1] - 1)], np.inf)
    strips += 1e-3 * np.abs(offsets)  # where no ink decides, the path stays straight
    # Dynamic programming, row by row: the cheapest path to each place and where it came from.
    cost, moves = strips[0].copy(), np.zeros(strips.shape, dtype=np.int8)
    for row in range(1, piece.height):
        shifted = np.full((3, *cost.shape), np.inf)
        shifted[0, :, 1:], shifted[1], shifted[2, :, :-1] = cost[:, :-1], cost, cost[:, 1:]
        step = np.argmin(shifted, axis=0)
        moves[row] = step - 1
        cost = np.take_along_axis(shifted, step[None], axis=0)[0] + strips[row]
    path = np.empty((len(cuts), piece.height), dtype=np.int64)
    position = np.argmin(cost, axis=1)
    for row in range(piece.height - 1, -1, -1):
        path[:, row] = position
        position = position + moves[row, np.arange(len(cuts)), position]
    boundary = places[np.arange(len(cuts))[:, None], path]  # the path's column, per cut and row
    return [columns < boundary[i, rows] for i in range(len(cuts))]


def _cut_candidates(piece: Piece, strength: np.ndarray, config: SegmentConfig) -> list[float]:
    """Where to try cutting (along the slant): the deepest minima of the ink's column profile,
    and evenly spaced places."""
    start = piece.left
    weight = strength[piece.rows, piece.columns]
    bins = np.floor(piece.along - start).astype(np.int64)
    profile = np.bincount(bins, weights=weight)
    profile = np.convolve(profile, np.ones(3) / 3, mode="same")  # one-pixel dips are not gaps
    low = int(np.ceil(config.split_margin * profile.size))
    high = int(np.floor((1 - config.split_margin) * profile.size))
    inside = np.arange(max(low, 1), min(high, profile.size - 1))
    minima = inside[
        (profile[inside] <= profile[inside - 1]) & (profile[inside] <= profile[inside + 1])
    ]
    if not minima.size:
        minima = inside[np.argsort(profile[inside])[:1]] if inside.size else minima
    deepest = minima[np.argsort(profile[minima], kind="stable")[: config.split_cuts]]
    even = np.linspace(low, high, config.split_steps).round().astype(np.int64)
    columns = np.unique(np.concatenate([deepest, even[(even >= 1) & (even <= profile.size - 2)]]))
    return [start + float(column) + 0.5 for column in columns]


# ---- out ---------------------------------------------------------------------------------------


def crop(piece: Piece, strength: np.ndarray) -> np.ndarray:
    """The piece's ink alone, in its bounding box (what normalize_digit crops to anyway)."""
    top, left = int(piece.rows.min()), int(piece.columns.min())
    crop = np.zeros((piece.height, int(piece.columns.max()) - left + 1), dtype=np.float32)
    crop[piece.rows - top, piece.columns - left] = strength[piece.rows, piece.columns]
    return crop


def _box(piece: Piece, ink: Ink) -> Box:
    """The piece's bounding box in the image as sent (the ink map may be a region of a resized
    copy)."""
    (width, height), (rows, columns), (top, left) = ink.sent_size, ink.work_shape, ink.origin
    x0, x1 = left + int(piece.columns.min()), left + int(piece.columns.max()) + 1
    y0, y1 = top + int(piece.rows.min()), top + int(piece.rows.max()) + 1
    # Integer arithmetic: edges scaled exactly, rounded outwards.
    return (
        x0 * width // columns,
        y0 * height // rows,
        -(-x1 * width // columns),
        -(-y1 * height // rows),
    )
