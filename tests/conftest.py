"""Fixtures every tier shares, and the tiers themselves.

The folder a test sits in is its tier, and marks it: tests/unit (no servers, no network, no
browser: `make test-fast`), tests/integration (real TorchServe, real WSGI servers, real processes
on free ports), tests/browser (real headless Chromium), tests/containers (the compose stack in
real containers: `make test-containers`) and tests/chaos (the whole stack killed, overloaded and
abused under load, with its figures: `make test-chaos`).
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageDraw

from bench.realistic_digits import render_sample
from handler.normalize import scale_pixels
from handler.preprocess import preprocess
from tools import paths
from webui import create_app
from webui.config import WebUIConfig

TIERS = ("unit", "integration", "browser", "containers", "chaos")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, taken from the folder under tests/ it sits in."""
    tests_dir = Path(__file__).parent
    for item in items:
        tier = item.path.relative_to(tests_dir).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.path}: tests live in tests/{{{','.join(TIERS)}}}/")
        item.add_marker(tier)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def images() -> dict[str, bytes]:
    """Image files the way people send them: canvas exports, blank canvases, junk."""
    one = Image.new("RGBA", (280, 280), (0, 0, 0, 0))  # canvas export: ink on transparency
    ImageDraw.Draw(one).line([(140, 40), (140, 240)], fill=(0, 0, 0, 255), width=22)
    seven = Image.new("L", (280, 280), 255)  # dark ink on white paper
    ImageDraw.Draw(seven).line([(50, 50), (230, 50), (110, 240)], fill=0, width=22)
    return {
        "one": png(one),
        "seven": png(seven),
        "blank": png(Image.new("L", (280, 280), 255)),
        "garbage": b"this is not an image",
        "wide": png(Image.new("1", (3000, 2000), 1)),  # 6 megapixels in a 4 kB file
        "huge_pixels": png(Image.new("1", (8000, 6000), 1)),  # 48 megapixels: over the limit
    }


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, images: dict[str, bytes]) -> Path:
    """A tiny template-matching model, laid out like an unpacked .mar (model.pt, index_to_name).

    Each class is scored by correlation with a template: class 1's is the preprocessed "one"
    image, class 7's the preprocessed "seven". So the right answer depends on the image, and a
    mix-up inside a batch shows as a wrong digit.
    """
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
    shutil.copy(paths.SERVE_CONFIG_DIR / "index_to_name.json", path)
    return path


@pytest.fixture(scope="session")
def realistic_set(tmp_path_factory: pytest.TempPathFactory, images: dict[str, bytes]) -> Path:
    """Sample 0 of every digit as a canvas export and as a small upload, then a blank canvas
    labelled 0 (preprocess refuses it as no_digit), laid out as bench.realistic_digits writes."""
    folder = tmp_path_factory.mktemp("realistic")
    rows = []
    for category in ("canvas", "small"):
        for digit in range(10):
            data, extension, style = render_sample(category, digit, 0)
            name = f"{category}_{digit}_0.{extension}"
            (folder / name).write_bytes(data)
            rows.append({"file": name, "category": category, "digit": str(digit), "style": style})
    (folder / "canvas_blank.png").write_bytes(images["blank"])
    rows.append({"file": "canvas_blank.png", "category": "canvas", "digit": "0", "style": "blank"})
    with (folder / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "category", "digit", "style"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


# ---- the web UI: each tier's conftest says which TorchServe `config` points at ------------------


@pytest.fixture
def app(config: WebUIConfig) -> Flask:
    app = create_app(config)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
