"""The preprocessing, rewritten for speed with OpenCV, still gives the outputs it gave before.

tests/data/golden_preprocess.npz holds the old pipeline's outputs (PIL and numpy) for a fixed
sample of inputs, which bench.golden_preprocess regenerates; the tolerances are explained there.
Here: sample 0 of every category and digit of the realistic set, and the first 500 MNIST test
digits as PNG when data/mnist holds MNIST (passed through exactly, being in MNIST's form).
tests/integration/test_preprocess_accuracy.py compares the whole sample, and the accuracy of the
shipped model.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.golden_preprocess import compare, mnist_inputs, problems, realistic_inputs, run
from tools.paths import REPO_ROOT
from training.data import DEFAULT_DATA_DIR, MnistDataError, load_mnist


def test_realistic_digits_give_the_golden_outputs() -> None:
    assert problems(compare(run(realistic_inputs([0])))) == []


def test_mnist_digits_as_png_give_the_golden_outputs() -> None:
    try:
        samples = list(mnist_inputs(500))
    except MnistDataError as error:
        pytest.skip(f"MNIST is not in data/mnist (make data): {error}")
    outputs = run(samples)
    assert problems(compare(outputs)) == []
    mnist = load_mnist(REPO_ROOT / DEFAULT_DATA_DIR, fetch=False).test_images[:500].numpy()
    np.testing.assert_array_equal(outputs["digits"], mnist)  # in MNIST's form: passed through
