"""Fixtures for the training unit tests: a small synthetic stand-in for MNIST, built in memory.

No test in this folder reads data/ or touches the network; those that need genuine MNIST live in
tests/integration.
"""

from __future__ import annotations

import pytest
import torch

from training.data import Mnist

# The seven segments each digit lights: a top, b top right, c bottom right, d bottom,
# e bottom left, f top left, g middle.
SEGMENTS = {
    0: "abcdef",
    1: "bc",
    2: "abdeg",
    3: "abcdg",
    4: "bcfg",
    5: "acdfg",
    6: "acdefg",
    7: "abc",
    8: "abcdefg",
    9: "abcdfg",
}


def seven_segment_digits(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """uint8 (N, 28, 28) seven-segment digits, white on black.

    Size, position, stroke width and brightness are random: each class has its own shape, so a
    small CNN learns it in a few steps, but no single pixel gives it away.
    """
    images = torch.zeros(len(labels), 28, 28, dtype=torch.uint8)

    def randint(lo: int, hi: int) -> int:  # both bounds included
        return int(torch.randint(lo, hi + 1, (), generator=gen))

    for image, label in zip(images, labels.tolist(), strict=True):
        w, h, t = randint(10, 14), randint(16, 20), randint(2, 3)
        x0, y0 = (28 - w) // 2 + randint(-2, 2), (28 - h) // 2 + randint(-2, 2)
        x1, y1, ym = x0 + w, y0 + h, y0 + h // 2
        boxes = {  # segment -> rows top:bottom, columns left:right
            "a": (y0, y0 + t, x0, x1),
            "b": (y0, ym + 1, x1 - t, x1),
            "c": (ym, y1, x1 - t, x1),
            "d": (y1 - t, y1, x0, x1),
            "e": (ym, y1, x0, x0 + t),
            "f": (y0, ym + 1, x0, x0 + t),
            "g": (ym - t // 2, ym - t // 2 + t, x0, x1),
        }
        ink = randint(180, 255)
        for segment in SEGMENTS[label]:
            top, bottom, left, right = boxes[segment]
            image[top:bottom, left:right] = ink
    return images


def make_synthetic_mnist(n_train: int, n_test: int, seed: int = 0) -> Mnist:
    """An `Mnist` of seven-segment digits, the ten classes equally represented in train and test."""
    gen = torch.Generator().manual_seed(seed)
    train_labels = torch.arange(n_train) % 10
    test_labels = torch.arange(n_test) % 10
    return Mnist(
        train_images=seven_segment_digits(train_labels, gen),
        train_labels=train_labels,
        test_images=seven_segment_digits(test_labels, gen),
        test_labels=test_labels,
        checksums={"synthetic-images": "0" * 64, "synthetic-labels": "1" * 64},
    )


@pytest.fixture(scope="session")
def synthetic_mnist() -> Mnist:
    """1000 training and 300 test images: a few seconds of training on two cores, not more."""
    return make_synthetic_mnist(n_train=1000, n_test=300)


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """train() sets torch's process-wide thread count (cfg.threads): give the next tests theirs."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
