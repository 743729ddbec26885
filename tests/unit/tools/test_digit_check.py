"""tools.digit_check: the segmenter's candidates, labelled from each string's per-digit ink."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.number_strings import StringConfig, generate
from handler.limits import Limits
from handler.segment import SegmentConfig
from tools.digit_check import NOT_ONE_DIGIT, DigitCheckConfig, candidates, network


@pytest.fixture(scope="module")
def bars() -> tuple[np.ndarray, np.ndarray]:
    """Stand-ins for MNIST: each "digit" is one upright block, 8 × 20, labelled 0–9 (one is
    too narrow for the segmenter to try cutting, two joined are wide enough)."""
    images = np.zeros((10, 28, 28), dtype=np.uint8)
    images[:, 4:24, 10:18] = 255
    return images, np.arange(10)


def labelled(bars, which: str) -> list[tuple[list[np.ndarray], list[int], list[int]]]:
    """Per string: its candidates, their labels, and the string's digits."""
    config = StringConfig(max_tilt=0.0)
    strings = generate(*bars, which, 6, seed=3, config=config, digit_ink=True)
    return [
        (*candidates(string, Limits(), SegmentConfig(), DigitCheckConfig()), string.labels)
        for string in strings
    ]


def test_apart_blocks_are_each_labelled_with_their_digit(bars):
    """Blocks apart: each piece is one whole digit, labelled with the digit it is."""
    for digits, labels, truth in labelled(bars, "apart"):
        assert labels == truth
        assert all(digit.shape == (28, 28) and digit.dtype == np.uint8 for digit in digits)


def test_touching_blocks_give_candidates_that_are_not_one_digit(bars):
    """Where two blocks join, the joined piece or a cut through a block is labelled not one
    digit; the blocks that stand apart keep their digits."""
    results = labelled(bars, "touching")
    assert sum(labels.count(NOT_ONE_DIGIT) for _, labels, _ in results) >= 1
    for _, labels, truth in results:
        digits = [label for label in labels if label != NOT_ONE_DIGIT]
        assert set(digits) <= set(truth) and len(digits) >= len(truth) - 2


def test_the_network_reads_a_batch_of_digits():
    logits = network()(torch.zeros(5, 1, 28, 28))
    assert logits.shape == (5, NOT_ONE_DIGIT + 1)
