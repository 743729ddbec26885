"""tools.digit_check: the segmenter's candidates, labelled from each string's per-digit ink."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.number_strings import StringConfig, generate
from handler.limits import Limits
from handler.segment import SegmentConfig
from tools.digit_check import DigitCheckConfig, candidates, network


@pytest.fixture(scope="module")
def bars() -> tuple[np.ndarray, np.ndarray]:
    """Stand-ins for MNIST: each "digit" is one upright block, 12 × 20, labelled 0–9 (two joined
    are wide enough for the segmenter to try cutting)."""
    images = np.zeros((10, 28, 28), dtype=np.uint8)
    images[:, 4:24, 8:20] = 255
    return images, np.arange(10)


def labelled(bars, which: str) -> list[tuple[list[np.ndarray], list[int], int]]:
    config = StringConfig(max_tilt=0.0)
    strings = generate(*bars, which, 6, seed=3, config=config, digit_ink=True)
    return [
        (*candidates(string, Limits(), SegmentConfig(), DigitCheckConfig()), len(string.labels))
        for string in strings
    ]


def test_apart_blocks_are_each_one_whole_digit(bars):
    """Blocks apart: each piece is labelled whole, and so is whatever is cut from it not."""
    for digits, labels, count in labelled(bars, "apart"):
        assert labels.count(1) == count
        assert all(digit.shape == (28, 28) and digit.dtype == np.uint8 for digit in digits)


def test_touching_blocks_give_candidates_that_are_not_one_digit(bars):
    """Where two blocks join, the joined piece or a cut through a block is labelled not whole;
    the blocks that stand apart are whole."""
    results = labelled(bars, "touching")
    assert sum(labels.count(0) for _, labels, _ in results) >= 1
    for _, labels, count in results:
        assert labels.count(1) >= count - 2


def test_the_network_reads_a_batch_of_digits():
    logits = network()(torch.zeros(5, 1, 28, 28))
    assert logits.shape == (5, 2)
