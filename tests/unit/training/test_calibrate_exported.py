"""training.calibrate_exported on the synthetic digits: an over-confident exported model gets a
temperature inside its TorchScript file, the same answers, and the figures in its report."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from handler.normalize import scale_pixels
from training.calibrate_exported import SECTION, CalibrateConfig, calibrate
from training.data import Mnist, MnistDataError
from training.report import predict


@pytest.fixture
def served(synthetic_mnist: Mnist) -> Mnist:
    """The raw tensors blank: only the served digits can give the model its answers."""
    return dataclasses.replace(
        synthetic_mnist,
        train_images=torch.zeros_like(synthetic_mnist.train_images),
        served_train=synthetic_mnist.train_images,
        served_test=synthetic_mnist.test_images,
    )


def overconfident_model(mnist: Mnist) -> torch.nn.Module:
    """Each class's mean training digit as a template, the logits scaled up tenfold: mostly right,
    far too sure."""
    x = scale_pixels(mnist.train_images.unsqueeze(1)).flatten(1)
    templates = torch.stack([x[mnist.train_labels == d].mean(0) for d in range(10)])
    templates = templates / templates.norm(dim=1, keepdim=True)
    linear = torch.nn.Linear(784, 10, bias=False)
    linear.weight.data = 10 * templates
    return torch.nn.Sequential(torch.nn.Flatten(), linear).eval()


@pytest.fixture
def exported(served: Mnist, synthetic_mnist: Mnist, tmp_path: Path) -> Path:
    """model.pt, report.json and report.md as an export before calibration leaves them."""
    scripted = torch.jit.script(overconfident_model(synthetic_mnist))
    scripted.save(str(tmp_path / "model.pt"))
    accuracy = (predict(scripted, served.test_images) == served.test_labels).float().mean()
    report = {
        "test_accuracy": round(accuracy.item(), 5),
        "test_errors": 1,
        "data_sha256": served.checksums,
        "config": {"val_size": 200, "seed": 0},
    }
    (tmp_path / "report.json").write_text(json.dumps(report))
    (tmp_path / "report.md").write_text("# Model report\n\n![Confusion matrix](c.png)\n")
    return tmp_path / "model.pt"


def logits(model: torch.jit.ScriptModule, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(scale_pixels(images.unsqueeze(1)))


def test_temperature_goes_into_the_model_and_the_report(exported: Path, served: Mnist) -> None:
    before = torch.jit.load(str(exported))
    old_report = json.loads(exported.with_name("report.json").read_text())
    figures = calibrate(CalibrateConfig(model=str(exported)), served)

    after = torch.jit.load(str(exported))
    temperature = figures["temperature"]
    assert float(after.temperature) == pytest.approx(temperature, rel=1e-4)
    assert temperature > 1  # the model was made over-confident: T softens its probabilities
    original, scaled = logits(before, served.test_images), logits(after, served.test_images)
    torch.testing.assert_close(scaled * float(after.temperature), original)
    assert torch.equal(scaled.argmax(1), original.argmax(1))
    assert figures["val_ece_calibrated"] < figures["val_ece"]
    assert figures["test_ece_calibrated"] < figures["test_ece"]

    report = json.loads(exported.with_name("report.json").read_text())
    assert report == old_report | figures  # earlier figures kept, the new ones added
    assert report["calibration"]["ece_bins"] == 15
    text = exported.with_name("report.md").read_text()
    assert text.startswith("# Model report\n\n![Confusion matrix](c.png)\n\n" + SECTION)
    assert f"after (T = {temperature:.3f})" in text
    ece = f"{100 * figures['test_ece']:.2f}% | **{100 * figures['test_ece_calibrated']:.2f}%**"
    assert ece in text
    assert (exported.parent / "reliability.png").read_bytes().startswith(b"\x89PNG")


def test_calibrating_again_replaces_the_temperature(exported: Path, served: Mnist) -> None:
    first = calibrate(CalibrateConfig(model=str(exported)), served)
    first_md = exported.with_name("report.md").read_text()
    second = calibrate(CalibrateConfig(model=str(exported)), served)
    assert second["temperature"] == first["temperature"]
    assert not hasattr(torch.jit.load(str(exported)).model, "temperature")  # not stacked
    second_md = exported.with_name("report.md").read_text()
    assert second_md.count(SECTION) == 1
    strip = [line for line in first_md.splitlines() if not line.startswith("Calibrated at")]
    assert strip == [line for line in second_md.splitlines() if not line.startswith("Calibrated")]


def test_out_leaves_the_source_untouched(exported: Path, served: Mnist, tmp_path: Path) -> None:
    source_bytes = exported.read_bytes()
    out = tmp_path / "calibrated" / "model.pt"
    calibrate(CalibrateConfig(model=str(exported), out=str(out)), served)
    assert exported.read_bytes() == source_bytes
    assert "temperature" in json.loads((out.parent / "report.json").read_text())
    assert not hasattr(torch.jit.load(str(exported)), "temperature")


def test_a_report_that_disagrees_with_the_model_stops_it(exported: Path, served: Mnist) -> None:
    path = exported.with_name("report.json")
    report = json.loads(path.read_text())
    path.write_text(json.dumps(report | {"test_accuracy": report["test_accuracy"] - 0.01}))
    with pytest.raises(AssertionError, match="not the report's"):
        calibrate(CalibrateConfig(model=str(exported)), served)


def test_other_mnist_files_or_no_served_digits_stop_it(
    exported: Path, served: Mnist, synthetic_mnist: Mnist
) -> None:
    other = dataclasses.replace(served, checksums={"elsewhere": "2" * 64})
    with pytest.raises(MnistDataError, match="other MNIST files"):
        calibrate(CalibrateConfig(model=str(exported)), other)
    with pytest.raises(MnistDataError, match="as served"):
        calibrate(CalibrateConfig(model=str(exported)), synthetic_mnist)
