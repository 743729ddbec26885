"""tools.pair_reader: wide pieces, labelled from each string's per-digit ink."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.number_strings import StringConfig, generate
from handler.limits import Limits
from handler.normalize import PAIR_FIELD
from handler.segment import NOT_A_PAIR, ONE_DIGIT, SegmentConfig
from tools.pair_reader import PairReader, PairReaderConfig, wide_pieces


@pytest.fixture(scope="module")
def blocks() -> tuple[np.ndarray, np.ndarray]:
    """Stand-ins for MNIST: each "digit" is the outline of a block, 16 × 20 with 3 px strokes,
    labelled 0–9: wide enough alone (0.8 of its height) to be shown to the pair reader."""
    images = np.zeros((10, 28, 28), dtype=np.uint8)
    images[:, 4:24, 6:22] = 255
    images[:, 7:21, 9:19] = 0
    return images, np.arange(10)


# Upright blocks on a level line: what touches is one piece, what stands apart is not.
LEVEL = {"max_tilt": 0.0, "max_slant": 0.0, "slant_jitter": 0.0, "baseline_jitter": 0.0}


def labelled(blocks, which: str, **config: int) -> list[tuple[list, list[int], list[int]]]:
    """Per string: its wide pieces, their labels, and the string's digits."""
    config = StringConfig(**LEVEL, **config)
    strings = generate(*blocks, which, 8, seed=5, config=config, digit_ink=True)
    return [
        (*wide_pieces(string, Limits(), SegmentConfig(), PairReaderConfig()), string.labels)
        for string in strings
    ]


def test_blocks_apart_are_each_one_digit(blocks):
    for pieces, labels, truth in labelled(blocks, "apart"):
        assert labels == [ONE_DIGIT] * len(truth)
        assert all(piece.shape == PAIR_FIELD and piece.dtype == np.uint8 for piece in pieces)


def test_two_touching_blocks_are_labelled_with_both_digits_in_reading_order(blocks):
    for pieces, labels, truth in labelled(blocks, "touching", min_digits=2, max_digits=2):
        assert labels == [truth[0] * 10 + truth[1]]
        assert len(pieces) == 1


def test_a_line_with_a_touching_pair_has_one_pair_and_single_digits(blocks):
    for _, labels, truth in labelled(blocks, "touching"):
        pairs = [label for label in labels if label < ONE_DIGIT]
        assert len(pairs) == 1 and labels.count(ONE_DIGIT) == len(truth) - 2
        assert NOT_A_PAIR not in labels


def test_the_network_answers_log_probabilities_of_the_102_classes_from_its_three_heads():
    model = PairReader().eval()
    pieces = torch.rand(5, 1, *PAIR_FIELD)
    with torch.no_grad():
        out = model(pieces)
        features = model.trunk(pieces)
        kind, first, second = (
            head(features).softmax(1) for head in (model.kind, model.first, model.second)
        )
    assert out.shape == (5, NOT_A_PAIR + 1)
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(5))
    # "47" is a pair whose first digit is 4 and second 7; then one digit, then anything else.
    torch.testing.assert_close(out[:, 47].exp(), kind[:, 0] * first[:, 4] * second[:, 7])
    torch.testing.assert_close(out[:, ONE_DIGIT].exp(), kind[:, 1])
    torch.testing.assert_close(out[:, NOT_A_PAIR].exp(), kind[:, 2])
    torch.jit.script(model)  # the handler loads it as TorchScript
