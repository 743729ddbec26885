"""tools.normalised_mnist: the cache holds exactly the handler's output for each digit as PNG, in
order, and its key follows the handler's sources."""

from __future__ import annotations

import numpy as np

from handler.preprocess import preprocess, to_png
from tools import normalised_mnist
from tools.normalised_mnist import build, cache_key, served_digits


def digits(n: int) -> np.ndarray:
    """Bars of different lengths and places, one with no ink at all (refused as no_digit)."""
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for i in range(1, n):
        images[i, 4 + i % 5 : 20 + i % 5, 10 + i % 7 : 13 + i % 7] = 255
    return images


def test_served_digits_are_the_handlers_output_for_the_png_and_refusals_blank():
    images = digits(6)
    out, refused = served_digits(images)
    assert refused.tolist() == [True, False, False, False, False, False]
    assert not out[0].any()
    for image, digit in zip(images[1:], out[1:], strict=True):
        np.testing.assert_array_equal(digit, preprocess(to_png(image)))


def test_build_over_processes_keeps_the_order(monkeypatch):
    monkeypatch.setattr(normalised_mnist, "CHUNK", 3)  # several chunks from a few images
    images = digits(10)
    out, refused = build(images, workers=2, quiet=True)
    expected, expected_refused = served_digits(images)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(refused, expected_refused)


def test_the_key_changes_with_the_data_and_the_handlers_code(tmp_path, monkeypatch):
    key = cache_key({"train": "a"})
    assert cache_key({"train": "a"}) == key
    assert cache_key({"train": "b"}) != key
    handler = tmp_path / "handler"
    handler.mkdir()
    (handler / "normalize.py").write_text("X = 1\n")
    monkeypatch.setattr(normalised_mnist, "HANDLER_DIR", handler)
    before = cache_key({"train": "a"})
    (handler / "normalize.py").write_text("X = 2\n")
    assert cache_key({"train": "a"}) != before
