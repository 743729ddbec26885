"""The committed model really scores what its report says, on the genuine MNIST test set."""

import json

import pytest
import torch

from tests.training_integration.conftest import REPO
from training.report import predict

SHIPPED = REPO / "training" / "shipped"


@pytest.mark.slow
def test_shipped_model_scores_at_least_99_6_percent_on_mnist_test(mnist):
    model = torch.jit.load(str(SHIPPED / "model.pt")).eval()
    accuracy = (predict(model, mnist.test_images) == mnist.test_labels).float().mean().item()
    assert accuracy >= 0.996, f"shipped model scores {accuracy:.4%} on the MNIST test set"
    report = json.loads((SHIPPED / "report.json").read_text())
    assert report["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)
    assert report["data_sha256"] == mnist.checksums
