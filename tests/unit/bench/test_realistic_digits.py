"""bench.realistic_digits: deterministic, and every category makes images preprocess accepts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from bench.realistic_digits import CATEGORIES, TEMPLATES, Config, generate, render_sample
from handler.preprocess import preprocess


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first = render_sample("photo", 4, 0, seed=3)
    assert render_sample("photo", 4, 0, seed=3) == first
    assert render_sample("photo", 4, 0, seed=4)[0] != first[0]


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_yields_images_preprocess_accepts(category: str) -> None:
    for digit in range(10):
        data, extension, style = render_sample(category, digit, index=0)
        assert extension in ("png", "jpg") and style in TEMPLATES[digit]
        output = preprocess(data)
        assert output.shape == (28, 28) and output.max() == 255


def test_generate_writes_files_and_labels(tmp_path: Path) -> None:
    rows = generate(Config(out=tmp_path, per_class=1, seed=0))
    with (tmp_path / "labels.csv").open() as handle:
        labels = list(csv.DictReader(handle))
    assert labels == rows and len(rows) == 10 * len(CATEGORIES)
    assert sorted({row["category"] for row in rows}) == sorted(CATEGORIES)
    assert all((tmp_path / row["file"]).stat().st_size > 0 for row in rows)
    assert {row["file"].split("_")[1] for row in rows} == {str(d) for d in range(10)}
    digits = [int(row["digit"]) for row in rows]
    assert np.bincount(digits).tolist() == [len(CATEGORIES)] * 10
