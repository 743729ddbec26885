"""bench.preprocess_speed: every kind of input is timed and reported."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bench.preprocess_speed import enlarged_photo, main


def test_photos_are_enlarged_to_the_megapixels_asked_for() -> None:
    image = Image.open(io.BytesIO(enlarged_photo("desk", 3, 1.0)))
    assert image.format == "JPEG"
    assert image.width * image.height == pytest.approx(1e6, rel=0.01)


def test_every_kind_of_input_gets_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--runs", "2", "--warmup", "0", "--per-kind", "1"])
    lines = capsys.readouterr().out.splitlines()
    kinds = ["canvas PNG", "small upload", "upload PNG", "photo JPEG 1 MP", "photo JPEG 4 MP"]
    assert len(lines) == 1 + len(kinds)
    assert all(line.startswith(kind) for line, kind in zip(lines[1:], kinds, strict=True))
