"""Fixtures for the handler tests: a fake TorchServe context around the tiny model (`model_dir`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import ImageFile

from handler.mnist_handler import MnistHandler
from handler.preprocess import preprocess
from tests.unit.handler.digit_images import dark_on_light, encode, seven_coverage


@pytest.fixture(scope="session")
def reference() -> np.ndarray:
    """The output for the plainest input: a black 7 on white, greyscale PNG."""
    return preprocess(encode(dark_on_light(seven_coverage())))


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


@pytest.fixture
def no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any pixel decoding, by PIL or OpenCV, fails the test: for what must be refused unread."""

    def refuse(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)  # PIL
    monkeypatch.setattr(cv2, "imdecode", refuse)  # OpenCV
