"""make tune on the synthetic digits: tiny trials, a real SQLite study, resumed and interrupted.

Seconds, no data/ folder, no network. The search itself on genuine MNIST is `make tune`.
"""

import csv
import json

import optuna
import pytest

import training.train as train_module
from training.train import TrainConfig, parse_config
from training.tune import TuneConfig, defaults_trial, tune


def tiny_config(out_dir, **overrides) -> TuneConfig:
    """Trials of 2 epochs of one step (64 images), scored on 100: a fraction of a second each."""
    cfg = dict(
        data_dir=str(out_dir / "no-data-here"),  # must never be read: the data set is passed in
        out_dir=str(out_dir),
        subset=64,
        val_size=100,
        epochs=2,
        threads=1,
        budget_min=2.0,
    )
    return TuneConfig(**{**cfg, **overrides})


def stored_trials(out_dir) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name="mnist", storage=f"sqlite:///{out_dir / 'study.db'}")
    return study.trials


def test_study_is_stored_resumes_survives_ctrl_c_and_its_best_config_trains(
    synthetic_mnist, tmp_path, monkeypatch, capsys
):
    tune(tiny_config(tmp_path, n_trials=2), synthetic_mnist)
    trials = stored_trials(tmp_path)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert all(0 <= t.value <= 1 for t in trials)
    assert all(len(t.intermediate_values) == 2 for t in trials)  # one report per epoch
    # The first trial is the recipe the search would replace: TrainConfig's defaults.
    assert trials[0].params == pytest.approx(defaults_trial(tiny_config(tmp_path)))
    progress = capsys.readouterr().out
    assert "trial   0  complete" in progress and "trial   1  complete" in progress

    # Running again continues the same study, with new points (the sampler is not replayed).
    tune(tiny_config(tmp_path, n_trials=1), synthetic_mnist)
    trials = stored_trials(tmp_path)
    assert len(trials) == 3
    assert trials[2].params != trials[0].params

    # Ctrl-C inside a trial: exit 130, the trial recorded as failed, the outputs still written.
    real_augment = train_module.augment_batch
    calls = {"n": 0}

    def interrupt_on_the_second_step(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_augment(*args)

    monkeypatch.setattr(train_module, "augment_batch", interrupt_on_the_second_step)
    with pytest.raises(SystemExit) as stop:
        tune(tiny_config(tmp_path, n_trials=2), synthetic_mnist)
    assert stop.value.code == 130
    assert [t.state.name for t in stored_trials(tmp_path)][3:] == ["FAIL"]
    monkeypatch.setattr(train_module, "augment_batch", real_augment)
    tune(tiny_config(tmp_path, n_trials=1), synthetic_mnist)
    assert len(stored_trials(tmp_path)) == 5

    # The ranked table: best first, every trial once.
    with (tmp_path / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["trial"]) for r in rows) == [0, 1, 2, 3, 4]
    complete = [r for r in rows if r["state"] == "complete"]
    accuracies = [float(r["val_accuracy"]) for r in complete]
    assert accuracies == sorted(accuracies, reverse=True)
    assert rows[-1]["state"] == "fail"
    assert "| rank | trial | state |" in (tmp_path / "trials.md").read_text()
    assert (tmp_path / "importance.png").stat().st_size > 0
    assert not (tmp_path / "no-data-here").exists()

    # The best configuration is a --config file for training.train; explicit flags still win.
    best_file = tmp_path / "best_config.json"
    best = json.loads(best_file.read_text())
    assert "epochs" not in best  # every trial trains make train's epochs: not searched
    loaded = parse_config(TrainConfig, ["--config", str(best_file), "--seed", "3"])
    assert {name: getattr(loaded, name) for name in best} == pytest.approx(best)
    assert loaded.seed == 3
    assert loaded.out_dir == TrainConfig.out_dir


def test_a_config_file_with_an_unknown_key_or_a_wrong_type_is_an_error(tmp_path, capsys):
    for content, message in [
        ({"widht": 32}, "unknown keys ['widht']"),
        ({"width": 2.5}, "width must be a int"),
        ({"augment": 1}, "augment must be a bool"),
    ]:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(content))
        with pytest.raises(SystemExit) as stop:
            parse_config(TrainConfig, ["--config", str(path)])
        assert stop.value.code == 2
        assert message in capsys.readouterr().err
    path.write_text(json.dumps({"lr": 1, "augment": False}))  # an int is a fine float
    assert parse_config(TrainConfig, ["--config", str(path)]) == TrainConfig(lr=1.0, augment=False)


def test_every_flag_of_both_configs_has_help_that_prints(capsys):
    """--help shows each field's comment; a % in one must not break argparse's formatting."""
    for cls in (TrainConfig, TuneConfig):
        with pytest.raises(SystemExit) as stop:
            parse_config(cls, ["--help"])
        assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "--prune-from-pct" in text and "--dark-share" in text
