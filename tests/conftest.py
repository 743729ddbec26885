"""Fixtures shared by every component's tests: free ports and one real TorchServe per session.

`torchserve` serves an archive built from the current sources (training/shipped/model.pt, the
handler, serve_config/) in a temporary model store and working directory, on free ports, with the
project's config. It starts once per test session, only when a test asks for it, and is always
stopped, even when tests fail; the stop must leave no process of its group behind.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from handler.archive import stock_model_store
from handler.server import TorchServe, free_port, process_group_alive

__all__ = ["free_port"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = REPO_ROOT / "training" / "shipped" / "model.pt"


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
def torchserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServe]:
    """A started TorchServe serving model mnist 1.0, built from the current sources."""
    root = tmp_path_factory.mktemp("torchserve")
    store = root / "model_store"
    try:
        stock_model_store(store)
    except FileNotFoundError as error:
        pytest.skip(str(error))
    server = TorchServe(
        inference_port=free_port(),
        management_port=free_port(),
        metrics_port=free_port(),
        workdir=root / "work",
        model_store=store,
    )
    server.start(timeout=180)
    pgid = server.process_group
    try:
        yield server
    finally:
        server.stop()
    assert pgid is not None and not process_group_alive(pgid), "TorchServe left processes behind"
