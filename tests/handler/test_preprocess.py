"""handler.preprocess: the whole pipeline is deterministic, previews round-trip, and MNIST digits
written as PNG are classified as the raw tensors are.

Each stage has its own tests (test_decode.py, test_ink.py, test_normalize.py).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from handler.normalize import scale_pixels
from handler.preprocess import preprocess, to_png
from tests.conftest import REPO_ROOT
from tests.handler.digit_images import dark_on_light, encode, seven_coverage

SHIPPED_MODEL = REPO_ROOT / "training" / "shipped" / "model.pt"
MNIST_DIR = REPO_ROOT / "data" / "mnist"


def test_same_bytes_same_digit() -> None:
    data = encode(dark_on_light(seven_coverage(333, 0.7, (0.4, 0.6))), "JPEG", quality=75)
    np.testing.assert_array_equal(preprocess(data), preprocess(data))


def test_to_png_round_trips(reference: np.ndarray) -> None:
    decoded = np.asarray(Image.open(io.BytesIO(to_png(reference))))
    np.testing.assert_array_equal(decoded, reference)


# ---- acceptance: MNIST through the preprocessing is classified as fed directly -----------------


def test_mnist_digits_as_png_are_classified_like_the_raw_tensor() -> None:
    if not SHIPPED_MODEL.exists():
        pytest.skip(f"{SHIPPED_MODEL} is absent: train and export the model first (make train)")
    if not (MNIST_DIR / "t10k-images-idx3-ubyte").exists():
        pytest.skip(f"MNIST is absent from {MNIST_DIR}: run make data")
    from training.data import load_mnist

    mnist = load_mnist(MNIST_DIR, fetch=False, quiet=True)
    images = mnist.test_images[:200]
    through_png = np.stack([preprocess(to_png(image.numpy())) for image in images])
    model = torch.jit.load(str(SHIPPED_MODEL), map_location="cpu").eval()
    with torch.no_grad():
        direct = model(scale_pixels(images.unsqueeze(1))).argmax(1)
        via_handler = model(scale_pixels(torch.from_numpy(through_png).unsqueeze(1))).argmax(1)
    agreement = (direct == via_handler).float().mean().item()
    assert agreement >= 0.99, f"only {agreement:.1%} of predictions agree"
