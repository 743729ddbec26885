"""Fixtures for the handler tests: a tiny template-matching model and a fake TorchServe context.

The tiny model scores each class by correlation with a template: class 1's template is the
preprocessed "one" image, class 7's the preprocessed "seven". So the right answer depends on the
image, and a mix-up inside a batch shows as a wrong digit.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from handler.mnist_handler import MnistHandler
from handler.normalize import scale_pixels
from handler.preprocess import preprocess
from tests.conftest import REPO_ROOT
from tests.handler.digit_images import dark_on_light, encode, seven_coverage


@pytest.fixture(scope="session")
def reference() -> np.ndarray:
    """The output for the plainest input: a black 7 on white, greyscale PNG."""
    return preprocess(encode(dark_on_light(seven_coverage())))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, images: dict[str, bytes]) -> Path:
    """A directory laid out like an unpacked .mar: model.pt and index_to_name.json."""
    weights = torch.zeros(10, 28 * 28)
    for digit, name in ((1, "one"), (7, "seven")):
        template = scale_pixels(preprocess(images[name]).astype(np.float32)).reshape(-1)
        weights[digit] = torch.from_numpy(template - template.mean()) / 100.0
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    with torch.no_grad():
        model[1].weight.copy_(weights)
        model[1].bias.copy_(torch.linspace(0.0, 0.9, 10))  # distinct, so top-3 order is defined
    path = tmp_path_factory.mktemp("model")
    torch.jit.script(model).save(str(path / "model.pt"))
    shutil.copy(REPO_ROOT / "serve_config" / "index_to_name.json", path)
    return path


@dataclass
class FakeMetrics:
    """Records what the handler emits, as (kind, name, value, dimension names and values)."""

    recorded: list[tuple[str, str, float, dict[str, str]]] = field(default_factory=list)

    def _record(self, kind: str, name: str, value: float, dimensions: list | None) -> None:
        dims = {d.name: d.value for d in dimensions or []}
        self.recorded.append((kind, name, value, dims))

    def add_time(self, name, value, idx=None, unit="ms", dimensions=None, metric_type=None):
        self._record("time", name, value, dimensions)

    def add_counter(self, name, value, idx=None, dimensions=None):
        self._record("counter", name, value, dimensions)

    def add_metric(self, name, value, unit, idx=None, dimensions=None, metric_type=None):
        self._record("metric", name, value, dimensions)

    def named(self, name: str) -> list[tuple[str, str, float, dict[str, str]]]:
        return [entry for entry in self.recorded if entry[1] == name]


@dataclass
class FakeContext:
    """The parts of ts.context.Context the handler uses, recording what it sets."""

    model_dir: Path
    handler_settings: dict[str, Any] = field(default_factory=dict)
    headers: dict[int, dict[str, str]] = field(default_factory=dict)  # per request index
    statuses: dict[int, tuple[int, str]] = field(default_factory=dict)
    content_types: dict[int, str] = field(default_factory=dict)
    metrics: FakeMetrics = field(default_factory=FakeMetrics)

    @property
    def system_properties(self) -> dict[str, Any]:
        return {"model_dir": str(self.model_dir), "gpu_id": None, "batch_size": 8}

    @property
    def manifest(self) -> dict[str, Any]:
        return {"model": {"modelName": "mnist", "serializedFile": "model.pt"}}

    @property
    def model_yaml_config(self) -> dict[str, Any]:
        return {"minWorkers": 1, "handler": self.handler_settings}

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.statuses[idx] = (code, phrase)

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.content_types[idx] = value

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.headers.get(idx, {}).get(key)

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return self.headers.get(idx, {})


@pytest.fixture
def context(model_dir: Path) -> FakeContext:
    return FakeContext(model_dir=model_dir)


@pytest.fixture
def handler(context: FakeContext) -> MnistHandler:
    service = MnistHandler()
    service.initialize(context)
    return service
