"""MNIST test digits as PNG through a real TorchServe read as the handler reads them in-process:
the chain accuracy in the model report is what the service answers (bench/mnist_chain.py runs all
10,000)."""

from __future__ import annotations

import numpy as np
import torch

from bench.mnist_chain import in_process_predictions, served_predictions
from handler.preprocess import preprocess, to_png
from tools.client import InferenceClient
from tools.paths import SHIPPED_MODEL

COUNT = 1000  # about 10 s on the wire on two busy cores


def test_test_digits_through_torchserve_match_the_in_process_chain(torchserve, mnist) -> None:
    images, labels = mnist.test_images[:COUNT], mnist.test_labels[:COUNT].tolist()
    pngs = [to_png(image.numpy()) for image in images]
    with InferenceClient(torchserve.inference_url, key_file=torchserve.key_file) as client:
        served = served_predictions(client, pngs, per_request=32, concurrency=4)
    digits = torch.from_numpy(np.stack([preprocess(png) for png in pngs]))
    local = in_process_predictions(SHIPPED_MODEL, digits)

    assert served == local  # same code on both sides: every answer, not only the accuracy
    accuracy = np.mean([p == y for p, y in zip(served, labels, strict=True)])
    assert accuracy >= 0.99, f"{accuracy:.2%} of the first {COUNT} test digits through TorchServe"
