"""--extra-data: the folder is read and checked, oversampled by its weight, trained on only."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.unit.training.test_report import REPORT
from tests.unit.training.test_train import smoke_config
from tools.digit_dataset import LabelledDigit, write_dataset
from training.data import Mnist
from training.extra_data import (
    IMAGES_IDX,
    LABELS_IDX,
    ExtraDataError,
    epoch_order,
    extra_draws,
    load_extra,
)
from training.report import markdown
from training.train import train


def write_digits(folder: Path, images: torch.Tensor, labels: torch.Tensor) -> Path:
    """`images` and `labels` as tools.digit_dataset writes them (what feedback export writes)."""
    rows = [
        LabelledDigit(digit=image.numpy(), label=int(label))
        for image, label in zip(images, labels, strict=True)
    ]
    write_dataset(folder, rows)
    return folder


@pytest.fixture
def extra_folder(synthetic_mnist: Mnist, tmp_path: Path) -> Path:
    return write_digits(
        tmp_path / "extra", synthetic_mnist.test_images[:30], synthetic_mnist.test_labels[:30]
    )


def test_load_extra_reads_back_what_digit_dataset_wrote(synthetic_mnist, extra_folder) -> None:
    extra = load_extra(extra_folder)
    assert torch.equal(extra.images, synthetic_mnist.test_images[:30])
    assert torch.equal(extra.labels, synthetic_mnist.test_labels[:30])
    assert extra.labels.dtype == torch.int64
    assert extra.sha256 == {
        name: hashlib.sha256((extra_folder / name).read_bytes()).hexdigest()
        for name in (IMAGES_IDX, LABELS_IDX)
    }
    assert extra.describe(1.5) == {
        "folder": str(extra_folder),
        "count": 30,
        "sha256": extra.sha256,
        "weight": 1.5,
        "per_epoch": 45,
    }


def corrupt(folder: Path, name: str, data: bytes | None) -> None:
    """Replace (or with None, delete) one file of the folder."""
    if data is None:
        (folder / name).unlink()
    else:
        (folder / name).write_bytes(data)


def idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (LABELS_IDX, None, r"cannot read labels-idx1-ubyte .*make feedback-export"),
        (IMAGES_IDX, b"PK\x03\x04 not idx", r"images-idx3-ubyte: not an IDX file"),
        (IMAGES_IDX, idx(np.zeros((30, 28, 28)))[:-5], r"short or corrupt file"),
        (IMAGES_IDX, idx(np.zeros((30, 27, 28))), r"images are \(30, 27, 28\), not \(N, 28, 28\)"),
        (LABELS_IDX, idx(np.zeros(29)), r"30 images but labels of shape \(29,\)"),
        (LABELS_IDX, idx(np.full(30, 10)), r"label 10 is not a digit"),
    ],
)
def test_a_broken_folder_is_refused_with_what_is_wrong(extra_folder, name, data, message) -> None:
    corrupt(extra_folder, name, data)
    with pytest.raises(ExtraDataError, match=message):
        load_extra(extra_folder)


def test_a_missing_or_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExtraDataError, match="no such folder"):
        load_extra(tmp_path / "nowhere")
    write_dataset(tmp_path / "empty", [])
    with pytest.raises(ExtraDataError, match="holds no digits"):
        load_extra(tmp_path / "empty")


@pytest.mark.parametrize(("weight", "low", "high"), [(1.0, 1, 1), (3.0, 3, 3), (0.5, 0, 1)])
def test_epoch_order_draws_each_extra_digit_weight_times(weight, low, high) -> None:
    order = epoch_order(100, 20, weight, torch.Generator().manual_seed(0))
    counts = torch.bincount(order, minlength=120)
    assert len(order) == 100 + extra_draws(20, weight)
    assert torch.all(counts[:100] == 1)  # every base image once
    assert counts[100:].min() >= low and counts[100:].max() <= high
    assert not torch.equal(order[:100], torch.arange(100))  # shuffled


def test_without_extras_the_order_is_the_one_training_always_drew() -> None:
    expected = torch.randperm(50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(epoch_order(50, 0, 2.0, torch.Generator().manual_seed(3)), expected)


def test_training_learns_from_the_extra_digits_and_records_them(synthetic_mnist, tmp_path) -> None:
    """Ten MNIST training images teach nothing in three steps; 800 extra digits do. Validation
    stays the 200 held-out MNIST images, and the run's summary records the folder."""
    folder = write_digits(
        tmp_path / "extra", synthetic_mnist.train_images[200:], synthetic_mnist.train_labels[200:]
    )
    cfg = smoke_config(
        tmp_path / "run",
        subset=10,
        val_size=200,
        extra_data=str(folder),
        extra_weight=1.0,
    )
    summary = train(cfg, synthetic_mnist)  # final_report adds to this summary: report.json
    assert summary["best_val_accuracy"] > 0.5, summary
    extra = summary["extra_data"]
    assert extra["folder"] == str(folder) and extra["count"] == 800 and extra["weight"] == 1.0
    assert (
        extra["sha256"][IMAGES_IDX]
        == hashlib.sha256((folder / IMAGES_IDX).read_bytes()).hexdigest()
    )
    steps = (10 + 800 + cfg.batch_size - 1) // cfg.batch_size
    epoch_rows = (tmp_path / "run" / "train_metrics.csv").read_text().splitlines()[1:]
    assert len(epoch_rows) == cfg.epochs
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert saved["schedule"]["total_steps"] == steps * cfg.epochs


def test_the_report_names_the_extra_data_only_when_there_was_some() -> None:
    extra = {"folder": "fb/export", "count": 1234, "sha256": {}, "weight": 2.0, "per_epoch": 2468}
    assert "| 1,234 from `fb/export`, weight 2 |" in markdown(REPORT | {"extra_data": extra})
    assert "Extra training digits" not in markdown(REPORT | {"extra_data": None})


def test_a_bad_folder_or_weight_stops_training_before_it_starts(synthetic_mnist, tmp_path) -> None:
    with pytest.raises(ExtraDataError, match="no such folder"):
        train(smoke_config(tmp_path / "run", extra_data=str(tmp_path / "no")), synthetic_mnist)
    with pytest.raises(ExtraDataError, match="above 0"):
        train(smoke_config(tmp_path / "run", extra_data="x", extra_weight=0.0), synthetic_mnist)
    assert not (tmp_path / "run").exists()
