"""Temperature scaling: T is recovered from data, never changes the answer, and travels inside the
TorchScript model; the calibration error and its diagram."""

from __future__ import annotations

import pytest
import torch

from training.calibrate import (
    Calibrated,
    calibration_bins,
    expected_calibration_error,
    fit_temperature,
    plot_reliability,
)


def sampled(n: int, temperature: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose labels are drawn from softmax(logits / temperature): calibrated at T."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 10, generator=gen) * 4
    labels = torch.multinomial((logits / temperature).softmax(1), 1, generator=gen).squeeze(1)
    return logits, labels


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_temperature_the_labels_were_drawn_at(temperature):
    logits, labels = sampled(20_000, temperature)
    assert fit_temperature(logits, labels) == pytest.approx(temperature, rel=0.05)


def test_calibration_error_is_small_when_calibrated_and_large_when_overconfident():
    logits, labels = sampled(20_000, 2.0)
    assert expected_calibration_error((logits / 2.0).softmax(1), labels) < 0.02
    assert expected_calibration_error(logits.softmax(1), labels) > 0.1


def test_bins_cover_every_answer_once():
    logits, labels = sampled(1000, 1.0)
    rows = calibration_bins(logits.softmax(1), labels, bins=15)
    assert len(rows) == 15 and sum(n for _, _, n in rows) == 1000
    assert all(k / 15 < conf <= (k + 1) / 15 for k, (conf, _, n) in enumerate(rows) if n)


def test_calibrated_model_scripts_divides_the_logits_and_keeps_the_answer(tmp_path):
    base = torch.nn.Linear(4, 10)
    model = Calibrated(base, 1.7).eval()
    path = tmp_path / "model.pt"
    torch.jit.script(model).save(str(path))
    loaded = torch.jit.load(str(path))
    x = torch.randn(8, 4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), base(x) / 1.7)
        assert torch.equal(loaded(x).argmax(1), base(x).argmax(1))
    assert float(loaded.temperature) == pytest.approx(1.7)


def test_reliability_diagram_is_a_png(tmp_path):
    logits, labels = sampled(500, 1.0)
    path = tmp_path / "reliability.png"
    plot_reliability(path, {"before": (logits.softmax(1), labels)})
    assert path.read_bytes().startswith(b"\x89PNG")
