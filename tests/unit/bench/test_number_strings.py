"""bench.number_strings: strings of digits as people write them, apart or with one touching pair."""

from __future__ import annotations

import io
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from bench import number_strings
from bench.number_strings import StringConfig, generate
from training.data import split_train_val
from training.train import TrainConfig


@pytest.fixture(scope="module")
def bars() -> tuple[np.ndarray, np.ndarray]:
    """Stand-ins for MNIST: each "digit" is one upright bar (one blob of ink), labelled 0–9."""
    images = np.zeros((10, 28, 28), dtype=np.uint8)
    images[:, 4:24, 11:17] = 255
    return images, np.arange(10)


def blobs(data: bytes) -> int:
    """8-connected blobs of ink in a rendered string (either style)."""
    image = Image.open(io.BytesIO(data))
    if image.mode == "RGBA":
        ink = np.asarray(image)[..., 3] > 127  # canvas: ink is the opaque part
    else:
        ink = np.asarray(image.convert("L")) < 128
    return cv2.connectedComponents(ink.view(np.uint8), connectivity=8)[0] - 1


@pytest.mark.parametrize(("which", "missing"), [("apart", 0), ("touching", 1)])
def test_apart_strings_keep_digits_apart_and_touching_ones_join_one_pair(bars, which, missing):
    config = StringConfig(max_tilt=0.0)
    strings = list(generate(*bars, which, 12, seed=3, config=config))
    for string in strings:
        assert 2 <= len(string.labels) <= 6
        assert len(string.alone) == len(string.labels)
        assert blobs(string.data) == len(string.labels) - missing
        assert all(blobs(alone) == 1 for alone in string.alone)


def test_both_styles_are_rendered_and_the_set_is_reproducible(bars):
    strings = list(generate(*bars, "apart", 16, seed=1))
    again = list(generate(*bars, "apart", 16, seed=1))
    assert [s.data for s in strings] == [s.data for s in again]
    assert {s.style for s in strings} == {"paper", "canvas"}
    for string in strings:
        image = Image.open(io.BytesIO(string.data))
        if string.style == "canvas":
            assert image.format == "PNG" and image.mode == "RGBA"
            assert np.asarray(image)[0, 0, 3] == 0  # a transparent background
        else:
            assert image.format == {"png": "PNG", "jpg": "JPEG"}[string.extension]
            assert image.mode == "L" and np.asarray(image)[0, 0] > 150  # light paper


def test_validation_strings_are_made_of_make_trains_validation_digits(monkeypatch):
    """Segmentation is chosen on "val": the digits make train holds out, which no network
    learns from; the segmenter's helper networks learn from "train", the rest."""
    n = TrainConfig().val_size + 1000
    images = torch.arange(n, dtype=torch.int32).reshape(n, 1, 1).expand(n, 28, 28)
    fake = SimpleNamespace(train_images=images, train_labels=torch.arange(n) % 10)
    monkeypatch.setattr(number_strings, "load_mnist", lambda quiet: fake)
    train_images, _ = number_strings.mnist_digits("train")
    val_images, val_labels = number_strings.mnist_digits("val")
    train_ids, val_ids = set(train_images[:, 0, 0].tolist()), set(val_images[:, 0, 0].tolist())
    _, held_out = split_train_val(n, TrainConfig().val_size, TrainConfig().seed)
    assert val_ids == set(held_out.tolist()) and len(val_ids) == TrainConfig().val_size
    assert train_ids.isdisjoint(val_ids) and len(train_ids | val_ids) == n
    np.testing.assert_array_equal(val_labels, val_images[:, 0, 0] % 10)
    with pytest.raises(ValueError, match="train, val or test"):
        number_strings.mnist_digits("validation")
