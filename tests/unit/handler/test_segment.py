"""handler.segment on synthetic drawings: several strokes, touching digits, slant, sizes, limits.

Drawings are canvas-style strokes on white. The classifier is a stand-in that says how sure it is
by the digit's shape alone (a tall narrow stroke is a confident 1; anything wider than a digit
is unsure), so the tests see the segmentation's own decisions; the shipped model reads real
digits in tests/unit/handler/test_mnist_handler.py and in bench.number_eval.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from handler.limits import InputError
from handler.preprocess import find_ink, preprocess
from handler.segment import (
    NOT_A_PAIR,
    ONE_DIGIT,
    Piece,
    SegmentConfig,
    cut_halves,
    line_pieces,
    read_number,
    segment_ink,
)
from tests.unit.handler.digit_images import encode

Stroke = list[tuple[float, float]]


def drawing(strokes: list[Stroke], size: tuple[int, int] = (840, 280), width: int = 16) -> bytes:
    """Black strokes on white paper, as a greyscale PNG."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line(stroke, fill=0, width=width, joint="curve")
    return encode(image)


def one(x: float, top: float = 60, bottom: float = 220) -> Stroke:
    return [(x, top), (x, bottom)]


def seven_in_two_strokes(x: float) -> list[Stroke]:
    """A 7 whose bar is drawn apart from its stem (no ink in common)."""
    return [[(x, 60), (x + 100, 60)], [(x + 100, 80), (x + 40, 220)]]


def four_in_two_strokes(x: float) -> list[Stroke]:
    """An open 4: the L, then the upright drawn apart from it."""
    return [[(x, 60), (x, 160), (x + 90, 160)], [(x + 60, 70), (x + 60, 220)]]


def by_shape(digits: list[np.ndarray]) -> np.ndarray:
    """A stand-in classifier: narrow digits are 1s, surely; a digit as wide as it is high is
    an unsure 7 (what a squeezed pair of 1s looks like)."""
    probabilities = np.full((len(digits), 10), 0.01)
    for row, digit in enumerate(digits):
        columns = np.flatnonzero(digit.max(axis=0) > 64)
        rows = np.flatnonzero(digit.max(axis=1) > 64)
        narrow = columns.size < 0.6 * rows.size
        probabilities[row, 1 if narrow else 7] = 0.9 if narrow else 0.3
    return probabilities / probabilities.sum(axis=1, keepdims=True)


# The stand-in classifier is unsure of anything wide, so it would cut a wide 7 or 4 in two: tests
# of merging and normalising leave splitting out (the real model is sure of them: test_browser).
MERGE_ONLY = SegmentConfig(split_depth=0)


def count(data: bytes, config: SegmentConfig | None = None) -> int:
    return len(read_number(data, by_shape, config=config or SegmentConfig()))


def test_separate_digits_are_read_left_to_right_with_their_boxes():
    data = drawing([one(300), one(100), one(500)])
    segments = read_number(data, by_shape)
    assert [segment.box[0] for segment in segments] == sorted(s.box[0] for s in segments)
    for segment, x in zip(segments, (100, 300, 500), strict=True):
        x0, y0, x1, y1 = segment.box
        assert x0 < x < x1 and abs(y0 - 60) <= 3 and abs(y1 - 220) <= 3  # around the stroke
        assert x1 - x0 < 40 and segment.digit.shape == (28, 28)


def test_each_digit_is_normalised_exactly_as_a_single_digit():
    """The number's first digit is the same 28×28 as that digit drawn alone."""
    alone = preprocess(drawing(seven_in_two_strokes(100)))
    strokes = [*seven_in_two_strokes(100), one(500)]
    segments = read_number(drawing(strokes), by_shape, config=MERGE_ONLY)
    np.testing.assert_array_equal(segments[0].digit, alone)


@pytest.mark.parametrize(
    "strokes",
    [
        pytest.param([*seven_in_two_strokes(100), one(400)], id="seven-with-separate-bar"),
        pytest.param([*four_in_two_strokes(100), one(400)], id="four-in-two-strokes"),
        pytest.param(
            [[(100, 60), (100, 130), (160, 130), (170, 220)], [(110, 60), (190, 60)], one(400)],
            id="five-with-separate-bar",
        ),
    ],
)
def test_a_digit_in_several_strokes_is_one_digit(strokes):
    assert count(drawing(strokes), MERGE_ONLY) == 2


def test_touching_digits_are_split_where_the_classifier_is_surest():
    """Two 1s joined by a tie: one blob, about as wide as a digit is high."""
    data = drawing([one(100), one(250), [(100, 140), (250, 140)]])
    assert count(data) == 2
    assert count(data, SegmentConfig(split_depth=0)) == 1  # the split, not the drawing, did it


def test_the_digit_check_keeps_a_piece_whole_when_no_half_is_a_whole_digit():
    """The same tie-joined 1s, with a check that says narrow things are parts of a digit: the
    model's sure 1s no longer win the cut, and the weight says how much the check counts."""

    def narrow_is_a_part(digits: list[np.ndarray]) -> np.ndarray:
        """(N, 11): a whole digit (as the model reads it) with 0.99, or a part with 0.99."""
        whole = np.where(by_shape(digits)[:, 1] > 0.5, 0.01, 0.99)[:, None]
        return np.hstack([by_shape(digits) * whole, 1 - whole])

    data = drawing([one(100), one(250), [(100, 140), (250, 140)]])
    assert len(read_number(data, by_shape, check=narrow_is_a_part)) == 1
    ignored = SegmentConfig(check_weight=0.0)
    assert len(read_number(data, by_shape, config=ignored, check=narrow_is_a_part)) == 2


def reads_every_piece_as(kind: int | dict[int, float], seen: list[np.ndarray] | None = None):
    """A stand-in pair reader that gives class `kind` 0.9 (or each class of a {class: p} its
    p), the rest shared, and keeps what it was shown in `seen`."""
    sure = {kind: 0.9} if isinstance(kind, int) else kind

    def read_pairs(pairs: list[np.ndarray]) -> np.ndarray:
        if seen is not None:
            seen.extend(pairs)
        rest = (1 - sum(sure.values())) / (NOT_A_PAIR + 1 - len(sure))
        probabilities = np.full((len(pairs), NOT_A_PAIR + 1), rest)
        for index, p in sure.items():
            probabilities[:, index] = p
        return probabilities

    return read_pairs


TIED_ONES = [one(100), one(250), [(100, 140), (250, 140)]]  # one blob, about as wide as high


def test_a_pair_the_pair_reader_reads_is_cut_and_answers_its_digits():
    """Read as "47", the tied 1s are cut in two (where the classifier is surest), and each half
    answers the pair reader's digit probabilities (the model's 1 left out: weight 0)."""
    seen: list[np.ndarray] = []
    alone = SegmentConfig(pair_model_weight=0.0)
    read_pairs = reads_every_piece_as(47, seen)
    segments = read_number(drawing(TIED_ONES), by_shape, config=alone, read_pairs=read_pairs)
    assert [int(np.argmax(segment.probabilities)) for segment in segments] == [4, 7]
    for segment in segments:
        assert segment.probabilities.shape == (10,)
        assert segment.probabilities.sum() == pytest.approx(1.0)
        assert segment.digit.shape == (28, 28)
    assert segments[0].box[2] <= segments[1].box[0] + 20  # left, then right
    (pair,) = seen  # the blob alone was asked about, normalised into 28×56
    assert pair.shape == (28, 56) and pair.dtype == np.uint8


def test_a_pair_is_cut_where_the_model_reads_the_halves_as_the_reader_reads_the_pair():
    """The tied 1s read as "11" are cut near the middle of the tie (two narrow halves: 1s to
    the model); read as "71", further right, so that the left half, a bar with most of the tie,
    is wide (the model's 7); read as "17", further left."""
    data = drawing(TIED_ONES)
    cut = {}
    for pair in (11, 71, 17):
        segments = read_number(data, by_shape, read_pairs=reads_every_piece_as(pair))
        assert [int(np.argmax(segment.probabilities)) for segment in segments] == [
            *divmod(pair, 10)
        ]
        cut[pair] = segments[0].box[2]  # where the left half ends
    assert cut[17] < cut[11] < cut[71]


def test_a_pairs_digits_weigh_the_models_reading_of_each_half():
    """The reader hesitates between "47" and "11"; the model reads each half as a sure 1."""
    read_pairs = reads_every_piece_as({47: 0.5, 11: 0.47})
    segments = read_number(drawing(TIED_ONES), by_shape, read_pairs=read_pairs)
    assert [int(np.argmax(segment.probabilities)) for segment in segments] == [1, 1]
    alone = SegmentConfig(pair_model_weight=0.0)
    segments = read_number(drawing(TIED_ONES), by_shape, config=alone, read_pairs=read_pairs)
    assert [int(np.argmax(segment.probabilities)) for segment in segments] == [4, 7]


def test_a_pair_the_reader_is_unsure_of_is_cut_as_without_it():
    """Pairs about 0.7 in all, below the 0.95 threshold: the tied 1s are cut by the scorer alone
    (two 1s, read by the model), and kept whole when the reader's likeliest answer is one digit."""
    unsure = SegmentConfig(pair_threshold=0.95)
    data = drawing(TIED_ONES)
    read_pairs = reads_every_piece_as({47: 0.5, ONE_DIGIT: 0.3})
    segments = read_number(data, by_shape, config=unsure, read_pairs=read_pairs)
    assert len(segments) == 2 and all(segment.probabilities is None for segment in segments)
    one = reads_every_piece_as({ONE_DIGIT: 0.5, 47: 0.45})
    assert len(read_number(data, by_shape, config=unsure, read_pairs=one)) == 1


def test_what_the_pair_reader_reads_as_one_digit_stays_whole():
    segments = read_number(drawing(TIED_ONES), by_shape, read_pairs=reads_every_piece_as(ONE_DIGIT))
    assert len(segments) == 1 and segments[0].probabilities is None  # the model reads it


def test_neither_one_digit_nor_a_pair_is_cut_as_without_a_pair_reader():
    data = drawing(TIED_ONES)
    segments = read_number(data, by_shape, read_pairs=reads_every_piece_as(NOT_A_PAIR))
    assert len(segments) == count(data) == 2
    assert all(segment.probabilities is None for segment in segments)


def test_narrow_pieces_are_not_shown_to_the_pair_reader():
    seen: list[np.ndarray] = []
    segments = read_number(
        drawing([one(100), one(300)]), by_shape, read_pairs=reads_every_piece_as(47, seen)
    )
    assert len(segments) == 2 and not seen


def test_a_cut_may_follow_the_paper_between_digits_that_overlap():
    """A bar whose spur reaches over a second, shorter bar, and a tie between them: no straight
    cut keeps the spur with its bar and off the other; the least-ink path around it does."""
    ink = np.zeros((60, 40), dtype=np.float32)
    ink[5:55, 8:12] = 1.0  # the left bar…
    ink[5:9, 12:28] = 1.0  # …its spur, reaching over the right bar
    ink[25:55, 25:31] = 1.0  # the right bar, shorter
    ink[38:41, 12:25] = 1.0  # a tie: one piece
    (piece,) = line_pieces(ink, SegmentConfig(max_slant=0.0))

    def keeps_the_spur_with_its_bar(left: Piece) -> bool:
        mask = np.zeros(ink.shape, dtype=bool)
        mask[left.rows, left.columns] = True
        return bool(mask[5:55, 8:12].all() and mask[5:9, 12:28].all() and not mask[25:, 25:].any())

    straight = SegmentConfig(max_slant=0.0, path_band=0.0)
    halves = cut_halves(piece, ink, straight)
    assert halves and not any(keeps_the_spur_with_its_bar(left) for left, _ in halves)
    paths = SegmentConfig(max_slant=0.0)
    assert any(keeps_the_spur_with_its_bar(left) for left, _ in cut_halves(piece, ink, paths))


def test_a_wide_digit_the_classifier_is_sure_of_stays_whole():
    def sure_sevens(digits: list[np.ndarray]) -> np.ndarray:
        probabilities = np.full((len(digits), 10), 0.02)
        probabilities[:, 7] = 0.82
        return probabilities

    data = drawing([[(100, 60), (260, 60), (180, 220)]])  # a wide 7
    assert len(read_number(data, sure_sevens)) == 1


def test_a_slanted_line_of_writing():
    """Digits leaning right, so close that their boxes overlap in x, but not their ink."""
    data = drawing([[(x + 60, 60), (x, 220)] for x in (100, 150, 200, 250)])
    segments = read_number(data, by_shape)
    assert len(segments) == 4
    assert segments[0].box[2] > segments[1].box[0]  # the premise: the boxes overlap


def test_a_rising_line_with_uneven_sizes():
    strokes = [one(100, 160, 260), [(220, 40), (300, 40), (250, 220)], one(380, 20, 120)]
    segments = read_number(drawing(strokes), by_shape)
    assert len(segments) == 3
    assert segments[1].box[3] - segments[1].box[1] > 1.5 * (segments[0].box[3] - segments[0].box[1])


def test_boxes_are_in_the_image_as_sent_when_it_was_shrunk():
    """A 2400 px wide image is analysed at 640 px: the box is scaled back."""
    data = drawing([one(600, 100, 500), one(1800, 100, 500)], size=(2400, 600), width=40)
    segments = read_number(data, by_shape)
    assert len(segments) == 2
    x0, y0, x1, y1 = segments[1].box
    assert abs((x0 + x1) / 2 - 1800) < 12 and abs(y0 - 100) < 12 and abs(y1 - 500) < 12


def test_more_than_twelve_digits_are_refused():
    data = drawing([one(40 + 60 * i) for i in range(13)], size=(840, 280), width=10)
    with pytest.raises(InputError) as caught:
        read_number(data, by_shape)
    assert (caught.value.code, caught.value.status) == ("too_many_digits", 422)
    assert count(drawing([one(40 + 60 * i) for i in range(12)], width=10)) == 12


def test_a_blank_image_is_no_digit():
    with pytest.raises(InputError) as caught:
        read_number(drawing([]), by_shape)
    assert (caught.value.code, caught.value.status) == ("no_digit", 422)


def test_segment_ink_takes_the_ink_stage_result():
    ink = find_ink(drawing([one(100), one(300)]))
    assert len(segment_ink(ink, by_shape, min_stroke=2.5)) == 2


def test_a_field_of_marks_is_refused_before_any_merging():
    image = Image.new("L", (840, 280), 255)
    for i in range(100):  # 100 equal blobs: none is a speck next to the others
        x, y = 20 + (i % 25) * 32, 40 + (i // 25) * 60
        ImageDraw.Draw(image).rectangle([x, y, x + 12, y + 12], fill=0)
    with pytest.raises(InputError) as caught:
        read_number(encode(image), by_shape)
    assert caught.value.code == "too_many_digits" and "100 separate marks" in caught.value.message
