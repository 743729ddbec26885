"""Genuine MNIST test digits written as PNG and preprocessed by the handler are classified as the
raw tensors are: the serving pipeline loses nothing on digits already in MNIST's form (it passes
them through, handler.normalize.is_normalised)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handler.normalize import scale_pixels
from handler.preprocess import preprocess, to_png
from tools.paths import SHIPPED_MODEL


def test_mnist_digits_as_png_are_classified_like_the_raw_tensor(mnist) -> None:
    if not SHIPPED_MODEL.exists():
        pytest.skip(f"{SHIPPED_MODEL} is absent: train and export the model first (make train)")
    images = mnist.test_images[:200]
    through_png = np.stack([preprocess(to_png(image.numpy())) for image in images])
    model = torch.jit.load(str(SHIPPED_MODEL), map_location="cpu").eval()
    with torch.no_grad():
        direct = model(scale_pixels(images.unsqueeze(1))).argmax(1)
        via_handler = model(scale_pixels(torch.from_numpy(through_png).unsqueeze(1))).argmax(1)
    np.testing.assert_array_equal(through_png, images.numpy())
    assert torch.equal(direct, via_handler)
