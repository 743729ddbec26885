"""bench.realistic_digits and its parts (bench.strokes, bench.renderers): deterministic, and every
category makes images preprocess accepts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.realistic_digits import Config, contact_sheet, generate, main, render_sample
from bench.renderers import CATEGORIES
from bench.strokes import TEMPLATES
from handler.preprocess import preprocess


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first = render_sample("photo", 4, 0, seed=3)
    assert render_sample("photo", 4, 0, seed=3) == first
    assert render_sample("photo", 4, 0, seed=4)[0] != first[0]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    """Sample 0 of every digit in every category, drawn once for the tests below."""
    folder = tmp_path_factory.mktemp("generated")
    return folder, generate(Config(out=folder, per_class=1, seed=0))


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_yields_images_preprocess_accepts(
    category: str, generated: tuple[Path, list[dict[str, str]]]
) -> None:
    folder, rows = generated
    for row in (row for row in rows if row["category"] == category):
        assert Path(row["file"]).suffix in (".png", ".jpg")
        assert row["style"] in TEMPLATES[int(row["digit"])]
        output = preprocess((folder / row["file"]).read_bytes())
        assert output.shape == (28, 28) and output.max() == 255


def test_generate_writes_files_and_labels(generated: tuple[Path, list[dict[str, str]]]) -> None:
    folder, rows = generated
    with (folder / "labels.csv").open() as handle:
        labels = list(csv.DictReader(handle))
    assert labels == rows and len(rows) == 10 * len(CATEGORIES)
    assert sorted({row["category"] for row in rows}) == sorted(CATEGORIES)
    assert all((folder / row["file"]).stat().st_size > 0 for row in rows)
    assert {row["file"].split("_")[1] for row in rows} == {str(d) for d in range(10)}
    digits = [int(row["digit"]) for row in rows]
    assert np.bincount(digits).tolist() == [len(CATEGORIES)] * 10
    assert (folder / rows[0]["file"]).read_bytes() == render_sample("canvas", 0, 0)[0]


def test_contact_sheet_has_a_row_per_category(
    generated: tuple[Path, list[dict[str, str]]], tmp_path: Path
) -> None:
    folder, rows = generated
    contact_sheet(folder, rows, tmp_path / "sheet.png", per_row=10)
    with Image.open(tmp_path / "sheet.png") as sheet:  # a 64 px tile per sample, names on the left
        assert sheet.size == (90 + 10 * 64, len(CATEGORIES) * 64)


def test_cli_takes_its_config_from_flags(tmp_path: Path) -> None:
    sheet = tmp_path / "sheets" / "sheet.png"
    main(["--out", str(tmp_path / "set"), "--per-class", "0", "--sheet", str(sheet)])
    assert (tmp_path / "set" / "labels.csv").read_text().strip() == "file,category,digit,style"
    assert sheet.exists()
