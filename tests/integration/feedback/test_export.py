"""`make feedback-export` round-trips: the IDX pair gives back the stored digits and labels, the CSV
has a row per correction, the originals come back byte for byte. On SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io

import numpy as np
from PIL import Image

from tools import digit_dataset
from tools.feedback_export import ExportConfig, export, main
from training.data import parse_idx
from webui.feedback.store import DATABASE_URL_ENV, Correction, FeedbackStore


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def test_exported_corrections_round_trip(database_url, tmp_path, monkeypatch):
    rng = np.random.default_rng(12)
    digits = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = [3, 1, 4, 1, 5]
    number = b"\xff\xd8\xff a number's photo"  # two digits of one number share it
    originals = [b"\x89PNG one", number, number, b"\x89PNG three", b"\x89PNG four"]
    store = FeedbackStore(database_url)
    for i in range(5):
        mode = "number" if originals[i] == number else "digit"
        store.add(
            Correction(
                label=labels[i],
                predicted=(labels[i] + 1) % 10 if i % 2 else None,
                mode=mode,
                position=i - 1 if mode == "number" else None,
                digit_png=png(digits[i]),
                original=originals[i],
                original_content_type="image/jpeg" if mode == "number" else "image/png",
                model_version="1.0",
            ),
            max_stored=10,
        )
    store.dispose()
    if database_url.startswith("sqlite:///"):
        config = ExportConfig(out=tmp_path / "out", db_file=tmp_path / "feedback.db")
    else:
        monkeypatch.setenv(DATABASE_URL_ENV, database_url)
        config = ExportConfig(out=tmp_path / "out", db_file=tmp_path / "absent.db")

    assert export(config) == 5

    out = config.out
    images = parse_idx((out / digit_dataset.IMAGES_IDX).read_bytes())
    np.testing.assert_array_equal(images, digits)
    assert parse_idx((out / digit_dataset.LABELS_IDX).read_bytes()).tolist() == labels
    with open(out / digit_dataset.LABELS_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["label"]) for r in rows] == labels
    assert [r["mode"] for r in rows] == ["digit", "number", "number", "digit", "digit"]
    assert [r["position"] for r in rows] == ["", "0", "1", "", ""]
    assert [r["predicted"] for r in rows] == ["", "2", "", "2", ""]
    assert all(r["created_at"].endswith("+00:00") and r["model_version"] == "1.0" for r in rows)
    for row, digit, original in zip(rows, digits, originals, strict=True):
        np.testing.assert_array_equal(np.asarray(Image.open(out / row["digit_file"])), digit)
        assert (out / row["original_file"]).read_bytes() == original
    assert rows[1]["original_file"] == rows[2]["original_file"]
    assert rows[1]["original_file"].endswith(".jpg")
    assert len(list((out / digit_dataset.ORIGINALS_DIR).iterdir())) == 4


def test_the_command_refuses_a_missing_database_and_a_non_empty_folder(tmp_path, capsys):
    assert main([str(tmp_path / "out"), "--db-file", str(tmp_path / "none.db")]) == 1
    assert "No corrections database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()  # never created by the export
    FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}").migrate()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert main([str(tmp_path / "out"), "--db-file", str(tmp_path / "feedback.db")]) == 1
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_an_empty_store_exports_an_empty_data_set(tmp_path, capsys):
    FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}").migrate()
    assert main([str(tmp_path / "out"), "--db-file", str(tmp_path / "feedback.db")]) == 0
    assert "Wrote 0 corrections" in capsys.readouterr().out
    assert parse_idx((tmp_path / "out" / digit_dataset.IMAGES_IDX).read_bytes()).shape == (
        0,
        28,
        28,
    )
