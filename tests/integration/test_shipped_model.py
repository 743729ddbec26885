"""The committed model really scores what its report says, on the genuine MNIST test set: from the
raw tensors, through the chain (each digit as PNG through the handler's preprocessing, read from
tools.normalised_mnist's cache, built first when missing) and sent dark on light."""

import json

import pytest
import torch

from tools.normalised_mnist import Config as CacheConfig
from tools.normalised_mnist import ensure
from tools.paths import REPO_ROOT, SHIPPED_DIR
from training.calibrate import expected_calibration_error
from training.data import DEFAULT_DATA_DIR, with_served
from training.report import logits, predict

SHIPPED = SHIPPED_DIR


@pytest.fixture(scope="module")
def served(mnist):
    """MNIST with the handler's output for each digit."""
    return with_served(
        mnist, ensure(CacheConfig(data_dir=REPO_ROOT / DEFAULT_DATA_DIR, quiet=True))
    )


@pytest.fixture(scope="module")
def report():
    return json.loads((SHIPPED / "report.json").read_text())


def accuracy(model, images, labels) -> float:
    return (predict(model, images) == labels).float().mean().item()


def test_shipped_model_scores_its_report_from_tensors_and_through_the_chain(served, report):
    model = torch.jit.load(str(SHIPPED / "model.pt")).eval()
    tensors = accuracy(model, served.test_images, served.test_labels)
    chain = accuracy(model, served.served_test, served.test_labels)
    assert chain >= 0.994, f"shipped model reads {chain:.4%} of the MNIST test set as served"
    assert tensors >= 0.995, f"shipped model scores {tensors:.4%} on the MNIST test tensors"
    assert report["chain_test_accuracy"] == pytest.approx(chain, abs=1e-4)
    assert report["test_accuracy"] == pytest.approx(tensors, abs=1e-4)
    dark = accuracy(model, served.served_test_dark, served.test_labels)  # whole normalisation
    assert report["dark_test_accuracy"] == pytest.approx(dark, abs=1e-4)
    assert report["data_sha256"] == served.checksums


def test_shipped_model_carries_its_reported_temperature_and_is_calibrated(served, report):
    """model.pt divides by the report's T, and its ECE on the test digits as served is the
    report's: below 1% (issue 10's bar), where the network's own probabilities are far off."""
    model = torch.jit.load(str(SHIPPED / "model.pt")).eval()
    assert float(model.temperature) == pytest.approx(report["temperature"], rel=1e-4)
    calibrated = logits(model, served.served_test)
    raw = logits(model.model, served.served_test)
    torch.testing.assert_close(calibrated * model.temperature, raw, rtol=1e-5, atol=1e-4)
    before = expected_calibration_error(raw.softmax(1), served.test_labels)
    after = expected_calibration_error(calibrated.softmax(1), served.test_labels)
    assert before == pytest.approx(report["test_ece"], abs=1e-4)
    assert after == pytest.approx(report["test_ece_calibrated"], abs=1e-4)
    assert after < 0.01 < before
