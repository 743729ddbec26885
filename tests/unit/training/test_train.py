"""The whole training recipe on the synthetic digits: seconds, no data/ folder, no network.

The same recipe on genuine MNIST is tests/integration/test_training_on_mnist.py.
"""

import csv
import json

import pytest

import training.train as train_module
from training.train import TrainConfig, train


def read_csv(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def smoke_config(out_dir, **overrides) -> TrainConfig:
    """800 training and 200 validation images, 16 steps per epoch, a narrow model."""
    cfg = dict(
        data_dir=str(out_dir / "no-data-here"),  # must never be read: the data set is passed in
        val_size=200,
        width=16,
        epochs=3,
        batch_size=50,
        threads=1,  # steps this small gain nothing from more, and lose a lot on a busy machine
        out_dir=str(out_dir),
        final_report=False,
        patience=10,
    )
    return TrainConfig(**{**cfg, **overrides})


def test_smoke_training_learns_and_interrupt_resume_work(synthetic_mnist, tmp_path, monkeypatch):
    """3 epochs: loss falls and accuracy beats chance; Ctrl-C in epoch 2 keeps best/last;
    resume finishes the run and writes the final report on the synthetic test set."""
    real_augment = train_module.augment_batch
    calls = {"n": 0}

    def interrupt_in_epoch_two(*args):
        calls["n"] += 1
        if calls["n"] == 21:  # 16 steps per epoch: this is the 5th step of epoch 2
            raise KeyboardInterrupt
        return real_augment(*args)

    monkeypatch.setattr(train_module, "augment_batch", interrupt_in_epoch_two)
    with pytest.raises(SystemExit) as stop:
        train(smoke_config(tmp_path), synthetic_mnist)
    assert stop.value.code == 130
    assert (tmp_path / "best.pt").exists() and (tmp_path / "last.pt").exists()
    assert len(read_csv(tmp_path / "train_metrics.csv")) == 1  # epoch 2 was not half-recorded

    monkeypatch.setattr(train_module, "augment_batch", real_augment)
    resumed = smoke_config(tmp_path, resume=str(tmp_path / "last.pt"), final_report=True)
    summary = train(resumed, synthetic_mnist)

    rows = read_csv(tmp_path / "train_metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    losses = [float(r["loss"]) for r in rows]
    assert losses[-1] < losses[0] * 0.8, losses
    val = read_csv(tmp_path / "val_metrics.csv")
    assert float(val[-1]["accuracy"]) > 0.5, val  # chance is 0.1
    assert summary["best_val_accuracy"] == pytest.approx(
        max(float(r["accuracy"]) for r in val), abs=1e-5
    )
    assert (tmp_path / "tb").is_dir()
    assert not (tmp_path / "no-data-here").exists()

    # The final report scored the exported model on the data set it was given.
    report = json.loads((tmp_path / "report.json").read_text())
    assert report == summary
    assert report["data_sha256"] == synthetic_mnist.checksums
    assert report["test_accuracy"] > 0.5, report
    n_test = len(synthetic_mnist.test_labels)
    assert report["test_errors"] == round((1 - report["test_accuracy"]) * n_test)
