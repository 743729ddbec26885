"""Fixtures for the bench tests: tiny TorchScript models for the tiny realistic set.

`template_model` scores each digit by correlation with that digit's canvas sample (after the
handler's preprocessing), so it recognises every canvas sample of the set, and an image scored in
the place of another shows as a wrong digit. `first_row_model` answers with the first ten pixels
of each image as logits, so a test can set the answer it wants pixel by pixel.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from handler.normalize import scale_pixels
from handler.preprocess import preprocess


@pytest.fixture(scope="session")
def template_model(tmp_path_factory: pytest.TempPathFactory, realistic_set: Path) -> Path:
    """A TorchScript model (model.pt) whose weights are the set's centred, unit-length canvas
    digits: by Cauchy-Schwarz each canvas sample correlates best with its own digit."""
    weights = torch.zeros(10, 28 * 28)
    for digit in range(10):
        data = (realistic_set / f"canvas_{digit}_0.png").read_bytes()
        template = scale_pixels(preprocess(data)).reshape(-1)
        centred = torch.from_numpy(template - template.mean())
        weights[digit] = centred / centred.norm()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    with torch.no_grad():
        model[1].weight.copy_(weights)
        model[1].bias.zero_()
    path = tmp_path_factory.mktemp("model") / "model.pt"
    torch.jit.script(model).save(str(path))
    return path


class FirstRow(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, 0, :10]


@pytest.fixture(scope="session")
def first_row_model() -> torch.jit.ScriptModule:
    """Logits = the first ten pixels of row 0, as the model sees them (scaled): an image whose
    pixel (0, k) alone is inked reads as digit k."""
    return torch.jit.script(FirstRow()).eval()
