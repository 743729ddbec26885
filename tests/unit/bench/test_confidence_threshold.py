"""bench.confidence_threshold: confidences from a model, accuracy per band, and the choice."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from bench.confidence_threshold import (
    ThresholdConfig,
    band_table,
    choose_threshold,
    confidences,
    realistic_images,
)
from handler.normalize import scale_pixels


def test_confidences_are_top1_probabilities_in_order_across_batches(
    first_row_model: torch.jit.ScriptModule,
) -> None:
    n = 2500  # confidences runs the model 1000 images at a time
    images = torch.zeros(n, 1, 28, 28)
    images[torch.arange(n), 0, 0, torch.arange(n) % 10] = 255.0  # image i reads as i % 10
    conf, digit = confidences(first_row_model, images)
    assert torch.equal(digit, torch.arange(n) % 10)
    # Logits: the inked pixel once, a blank pixel nine times, both as the model sees them.
    inked, blank = scale_pixels(torch.tensor(255.0)), scale_pixels(torch.tensor(0.0))
    top = inked.exp() / (inked.exp() + 9 * blank.exp())
    assert torch.allclose(conf, top.expand(n))


def test_band_table_counts_and_scores_each_band() -> None:
    conf = torch.tensor([0.32, 0.33, 0.41, 0.47, 0.62, 0.97, 0.99])
    right = torch.tensor([False, True, True, True, True, True, False])
    rows = band_table(conf, right, ThresholdConfig(band=0.2, step=0.2))
    assert [(edge, n) for edge, n, _ in rows] == [(0.3, 4), (0.5, 1), (0.7, 0), (0.9, 2)]
    accuracies = [accuracy for _, _, accuracy in rows]
    assert accuracies[:2] == [0.75, 1.0] and math.isnan(accuracies[2]) and accuracies[3] == 0.5


def test_default_bands_overlap_so_an_answer_counts_in_two() -> None:
    rows = band_table(torch.tensor([0.37, 0.99]), torch.tensor([True, False]), ThresholdConfig())
    assert [edge for edge, _, _ in rows] == [round(0.3 + 0.05 * i, 2) for i in range(14)]
    assert [n for _, n, _ in rows] == [1, 1, *[0] * 10, 1, 1]
    assert [rows[i][2] for i in (0, 1, 12, 13)] == [1.0, 1.0, 0.0, 0.0]


NAN = float("nan")


@pytest.mark.parametrize(
    ("rows", "threshold"),
    [
        # Every band from 0.4 up is good enough; 0.5 is bad but too small to judge.
        ([(0.3, 50, 0.6), (0.4, 50, 0.95), (0.5, 5, 0.2), (0.6, 100, 0.99)], 0.4),
        # Exactly at the target is good enough: the lowest edge.
        ([(0.3, 50, 0.9), (0.4, 50, 0.95)], 0.3),
        # Empty bands are not judged.
        ([(0.3, 0, NAN), (0.4, 30, 0.95)], 0.3),
        # A good band below a bad one does not count: only the bands above the bad one.
        ([(0.3, 50, 0.95), (0.4, 50, 0.5), (0.5, 50, 0.95)], 0.5),
        # The top band is bad: never confident.
        ([(0.3, 50, 0.95), (0.4, 50, 0.5)], 1.0),
    ],
)
def test_choose_threshold(rows: list[tuple], threshold: float) -> None:
    assert choose_threshold(rows, ThresholdConfig(target=0.9, min_band_size=20)) == threshold


def test_realistic_images_leaves_refused_images_out(realistic_set: Path) -> None:
    images, labels = realistic_images(realistic_set)
    assert images.shape == (20, 1, 28, 28) and images.dtype == torch.float32
    assert labels.tolist() == [*range(10), *range(10)]  # the blank canvas is not among them
    assert images.max() == 255
