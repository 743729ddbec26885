"""The whole training recipe on the synthetic digits: seconds, no data/ folder, no network.

The same recipe on genuine MNIST is tests/integration/test_training_on_mnist.py.
"""

import csv
import dataclasses
import json

import pytest
import torch

import training.train as train_module
from training.train import TrainConfig, train, train_seeds


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


def test_with_served_digits_training_fits_those_and_the_report_scores_both(
    synthetic_mnist, tmp_path
):
    """The raw training images are blank here: learning anything proves the served ones are used.
    The report scores the raw test tensors and the served ones (the chain), calibrated."""
    mnist = dataclasses.replace(
        synthetic_mnist,
        train_images=torch.zeros_like(synthetic_mnist.train_images),
        served_train=synthetic_mnist.train_images,
        served_test=synthetic_mnist.test_images,
    )
    report = train(smoke_config(tmp_path, final_report=True), mnist)
    assert report["best_val_accuracy"] > 0.5, report
    assert report["trained_on"] == "served digits"
    assert report["chain_test_accuracy"] > 0.5, report
    assert report["temperature"] > 0
    assert report["test_ece_calibrated"] <= report["test_ece"] + 0.02
    assert (tmp_path / "reliability.png").exists()
    scripted = torch.jit.load(str(tmp_path / "model.pt"))
    assert float(scripted.temperature) == pytest.approx(report["temperature"], rel=1e-4)


def test_with_the_dark_form_training_shows_both_and_validation_and_the_report_score_both(
    synthetic_mnist, tmp_path
):
    """Served in MNIST's form the training digits are blank here, dark on light they are not:
    learning anything proves dark_share mixes the second form in."""
    mnist = dataclasses.replace(
        synthetic_mnist,
        served_train=torch.zeros_like(synthetic_mnist.train_images),
        served_test=synthetic_mnist.test_images,
        served_train_dark=synthetic_mnist.train_images,
        served_test_dark=synthetic_mnist.test_images,
    )
    report = train(smoke_config(tmp_path, final_report=True, dark_share=0.5), mnist)
    assert report["dark_share"] == 0.5
    assert report["val_accuracy_dark"] > 0.5, report
    assert report["best_val_accuracy"] == pytest.approx(
        (report["val_accuracy_dark"] + report["val_accuracy_mnist_form"]) / 2, abs=1e-4
    )
    assert report["dark_test_accuracy"] > 0.5, report


def test_swap_dark_swaps_a_share_of_the_split_and_never_extra_digits():
    batch = torch.zeros(1000, 2, 2, dtype=torch.uint8)
    dark = torch.full((600, 2, 2), 255, dtype=torch.uint8)
    idx = torch.arange(1000)  # positions 600 and up: extra data past the MNIST split
    out = train_module.swap_dark(batch, idx, dark, 0.5, torch.Generator().manual_seed(0))
    swapped = out[:, 0, 0] == 255
    assert 0.4 < swapped[:600].float().mean() < 0.6
    assert not swapped[600:].any()
    assert not batch.any()  # the batch given is left as it was
    assert train_module.swap_dark(batch, idx, dark, 0.0, torch.Generator()).sum() == 0


def test_seeds_report_mean_and_sd_of_each_figure(synthetic_mnist, tmp_path, monkeypatch):
    """train_seeds runs one train() per seed, each into its own folder, on the data loaded once."""
    calls = []

    def fake_train(cfg, mnist):
        calls.append((cfg.seed, cfg.seeds, cfg.out_dir, mnist))
        return {"best_val_accuracy": 0.99 + cfg.seed / 1000, "test_accuracy": 0.98, "x": 1}

    monkeypatch.setattr(train_module, "load_data", lambda cfg: synthetic_mnist)
    monkeypatch.setattr(train_module, "train", fake_train)
    result = train_seeds(smoke_config(tmp_path, seeds=3, seed=5))

    assert [c[:3] for c in calls] == [(s, 1, str(tmp_path / f"seed-{s}")) for s in (5, 6, 7)]
    assert all(c[3] is synthetic_mnist for c in calls)
    assert result["seeds"] == [5, 6, 7]
    assert result["mean_sd"]["best_val_accuracy"]["mean"] == pytest.approx(0.996)
    assert result["mean_sd"]["best_val_accuracy"]["sd"] == pytest.approx(0.001)  # n − 1
    assert result["mean_sd"]["test_accuracy"] == {"mean": pytest.approx(0.98), "sd": 0.0}
    assert "chain_test_accuracy" not in result["mean_sd"]  # not in every run: not averaged
    assert json.loads((tmp_path / "seeds.json").read_text()) == result
    table = (tmp_path / "seeds.md").read_text()
    assert "| 6 | 99.60% | 98.00% |" in table
    assert "| mean ± sd (3 seeds) | 99.60 ± 0.10% | 98.00 ± 0.00% |" in table
