"""The training recipe on genuine MNIST as served (tools.normalised_mnist's cache, built first when
missing: about 90 s); tests/unit/training/test_train.py runs it on synthetic data."""

import csv

import pytest

import training.train as train_module
from tools.normalised_mnist import Config as CacheConfig
from tools.normalised_mnist import ensure
from tools.paths import REPO_ROOT
from training.data import DEFAULT_DATA_DIR
from training.train import TrainConfig, train

MNIST_DIR = REPO_ROOT / DEFAULT_DATA_DIR


def read_csv(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def smoke_config(out_dir, **overrides) -> TrainConfig:
    cfg = dict(
        data_dir=str(MNIST_DIR),  # train() loads the files itself, as `make train` does
        normalised=str(ensure(CacheConfig(data_dir=MNIST_DIR, quiet=True))),
        subset=3000,
        val_size=1000,
        epochs=3,
        batch_size=100,
        out_dir=str(out_dir),
        final_report=False,
        patience=10,
    )
    return TrainConfig(**{**cfg, **overrides})


def test_smoke_training_loss_falls_and_interrupt_resume_work(mnist, tmp_path, monkeypatch):
    """3 epochs on 3k images: loss falls; Ctrl-C in epoch 2 keeps best/last; resume finishes."""
    real_augment = train_module.augment_batch
    calls = {"n": 0}

    def interrupt_in_epoch_two(*args):
        calls["n"] += 1
        if calls["n"] == 35:  # 30 steps per epoch: this is the 5th step of epoch 2
            raise KeyboardInterrupt
        return real_augment(*args)

    monkeypatch.setattr(train_module, "augment_batch", interrupt_in_epoch_two)
    with pytest.raises(SystemExit) as stop:
        train(smoke_config(tmp_path))
    assert stop.value.code == 130
    assert (tmp_path / "best.pt").exists() and (tmp_path / "last.pt").exists()
    assert len(read_csv(tmp_path / "train_metrics.csv")) == 1  # epoch 2 was not half-recorded

    monkeypatch.setattr(train_module, "augment_batch", real_augment)
    summary = train(smoke_config(tmp_path, resume=str(tmp_path / "last.pt")))

    rows = read_csv(tmp_path / "train_metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    losses = [float(r["loss"]) for r in rows]
    assert losses[-1] < losses[0] * 0.8, losses
    val = read_csv(tmp_path / "val_metrics.csv")
    assert float(val[-1]["accuracy"]) > 0.85
    assert summary["best_val_accuracy"] == pytest.approx(
        max(float(r["accuracy"]) for r in val), abs=1e-5
    )
    assert (tmp_path / "tb").is_dir()
