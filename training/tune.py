"""Search the training recipe's hyperparameters with Optuna, on the validation split only.

    python -m training.tune                   # 5 minutes (make tune; make tune BUDGET_MIN=30)
    python -m training.tune --budget-min 60 --subset 20000 --epochs 6

Each trial is make train's recipe shrunk to a fifth of the training split (same epochs, so the
same one-cycle schedule), scored on the held-out validation split of `make train`; no trial scores
the test set (no final report). A fresh study's first trial is TrainConfig's defaults, so every
other trial is measured against the recipe it would replace.
A TPE sampler proposes the next trial and a median pruner stops trials that fall behind.
The study lives in SQLite (runs/tune/study.db): running again, after the budget, a Ctrl-C or a
crash, continues the same study (run one invocation at a time). Each invocation ends by writing
runs/tune/trials.md and trials.csv (every trial, ranked), importance.png and best_config.json,
which `make train CONFIG=runs/tune/best_config.json` reads.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from training.data import Mnist, MnistDataError
from training.train import TrainConfig, load_data, parse_config, train


@dataclass
class TuneConfig:
    # where
    data_dir: str = "data/mnist"  # the four MNIST IDX files (fetched when missing)
    normalised: str = TrainConfig.normalised  # the served digits trials train on (as make train)
    out_dir: str = "runs/tune"  # study.db, one folder per trial, the tables, plot and best config
    study_name: str = "mnist"  # the study inside study.db; a new name starts a new search
    # budget
    budget_min: float = 5.0  # wall-clock minutes; a trial that would overrun them is not started
    n_trials: int = 0  # also stop after this many trials in this invocation (0 = budget only)
    # each trial: a short training run, scored on validation
    subset: int = 11000  # training images per trial (a fifth of the training split's 55,000)
    epochs: int = TrainConfig.epochs  # every trial's epochs: make train's, so the schedule matches
    max_width: int = 24  # widths searched in 16..max_width (step 8); wider overruns 10 minutes
    val_size: int = TrainConfig.val_size  # make train's validation split (same seed, same images)
    threads: int = 0  # torch intra-op threads (0 = PyTorch's default: all cores)
    # search
    seed: int = 0  # seeds the TPE sampler (trials all train with TrainConfig's seed and split)
    startup_trials: int = 8  # random trials before TPE models the results
    prune_after: int = 4  # finished trials needed before the median pruner stops any trial
    # One-cycle's early epochs favour high learning rates: a first search here, pruning from the
    # first epoch, stopped 4 of 5 trials there, the old defaults among the candidates.
    prune_from_pct: int = 50  # no trial is pruned before this % of its schedule


def suggest(trial: optuna.Trial, cfg: TuneConfig) -> dict[str, float | int]:
    """The search space: TrainConfig fields, so the best trial's values are a --config file."""
    return {
        "width": trial.suggest_int("width", 16, cfg.max_width, step=8),
        "lr": trial.suggest_float("lr", 1e-3, 2e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-5, 1e-2, log=True),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2),
        "augment_strength": trial.suggest_float("augment_strength", 0.0, 2.0),
        # train()'s EMA warm-up caps the decay near 1 - 9 / steps (a trial takes 860): decays
        # above about 0.99 behave alike in a trial (see docs/training.md).
        "ema_decay": trial.suggest_float("ema_decay", 0.9, 0.999),
        "dark_share": trial.suggest_float("dark_share", 0.2, 0.8),
    }


def defaults_trial(cfg: TuneConfig) -> dict[str, float | int]:
    """TrainConfig's value of each searched parameter: the recipe the search is measured against."""
    defaults = TrainConfig()
    names = ("lr", "weight_decay", "label_smoothing", "augment_strength", "ema_decay", "dark_share")
    params = {name: getattr(defaults, name) for name in names}
    if defaults.width <= cfg.max_width:
        params["width"] = defaults.width
    return params


def tune(cfg: TuneConfig, mnist: Mnist | None = None) -> optuna.Study:
    """Run trials until the budget (or n_trials) is spent, then write the outputs; resumable."""
    started = time.monotonic()
    deadline = started + cfg.budget_min * 60
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if mnist is None:
        mnist = load_data(TrainConfig(data_dir=cfg.data_dir, normalised=cfg.normalised))

    # One line per trial is ours, below; a failed trial's error reaches the caller anyway.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(
        storage=f"sqlite:///{out / 'study.db'}",
        study_name=cfg.study_name,
        direction="maximize",
        load_if_exists=True,
        # A trial is compared with at least 3 others that reached the same point of their schedule.
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=cfg.prune_after, n_warmup_steps=cfg.prune_from_pct, n_min_trials=3
        ),
    )
    # Seeded, but offset by the trials already run: a resumed study draws new points instead of
    # replaying the first invocation's random start-up trials.
    study.sampler = optuna.samplers.TPESampler(
        seed=cfg.seed + len(study.trials), n_startup_trials=cfg.startup_trials
    )
    new_study = not study.trials
    for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # Left running by a crash or a kill: nothing will finish it.
        study.tell(stale.number, state=TrialState.FAIL)
    print(
        f"Study {cfg.study_name!r} in {out / 'study.db'}: {len(study.trials)} trials so far; "
        f"budget {cfg.budget_min:g} min, {cfg.subset} training images for {cfg.epochs} epochs "
        f"per trial, scored on {cfg.val_size} validation digits (each in both served forms)"
    )
    if new_study:
        print("Trial 0 is TrainConfig's defaults, the recipe the search is measured against")
        study.enqueue_trial(defaults_trial(cfg))

    def next_trial_fits(study: optuna.Study) -> bool:
        """Not starting what cannot finish: the longest finished trial so far is the estimate."""
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        longest = max((t.duration.total_seconds() for t in finished), default=0.0)
        left = deadline - time.monotonic()
        if left < longest:
            print(f"Stopping: {left:.0f}s left, and the longest trial so far took {longest:.0f}s")
        return left >= longest

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, cfg)
        run_dir = out / "trials" / f"{trial.number:04d}"
        shutil.rmtree(run_dir, ignore_errors=True)  # train() appends to CSVs it finds
        train_cfg = TrainConfig(
            data_dir=cfg.data_dir,
            val_size=cfg.val_size,
            subset=cfg.subset,
            epochs=cfg.epochs,
            threads=cfg.threads,
            out_dir=str(run_dir),
            final_report=False,  # no export, and above all no test set
            **params,
        )

        def report(epoch: int, val_accuracy: float) -> None:
            # One-cycle runs only settle at their end, so trials are compared at the same
            # fraction of their own schedule, not at the same epoch.
            step = int(100 * epoch / train_cfg.epochs)
            trial.report(val_accuracy, step)
            if epoch < train_cfg.epochs and trial.should_prune():  # a finished run is kept
                raise optuna.TrialPruned(f"at {step}% of its epochs")

        run_dir.mkdir(parents=True)
        with (
            (run_dir / "train.log").open("w") as log,
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            try:
                summary = train(train_cfg, mnist, on_epoch=report)
            except SystemExit as stop:
                # train() turns Ctrl-C into exit 130; optuna records a KeyboardInterrupt as a
                # failed trial, then stops the study.
                if stop.code == 130:
                    raise KeyboardInterrupt from None
                raise
        return summary["best_val_accuracy"]

    def progress(study: optuna.Study, trial: FrozenTrial) -> None:
        value = "" if trial.value is None else f"val {trial.value:.4f}"
        if trial.state == TrialState.PRUNED and trial.intermediate_values:
            step = max(trial.intermediate_values)
            value = f"val {trial.intermediate_values[step]:.4f} at {step}%"
        print(
            f"trial {trial.number:3d}  {trial.state.name.lower():8s} {value:19s}"
            f"{trial.duration.total_seconds():5.1f}s  (total {time.monotonic() - started:4.0f}s)"
            f"  {format_params(trial.params)}",
            flush=True,
        )
        if not next_trial_fits(study):
            study.stop()

    interrupted = False
    try:
        if next_trial_fits(study):
            study.optimize(
                objective,
                n_trials=cfg.n_trials or None,
                timeout=max(0.0, deadline - time.monotonic()),  # loading the data counted too
                callbacks=[progress],
            )
    except KeyboardInterrupt:
        interrupted = True
        print("\nInterrupted: an unfinished trial is recorded as failed; run again to continue")
    write_outputs(study, cfg, out)
    print(f"Tuned for {time.monotonic() - started:.0f}s")
    if interrupted:
        raise SystemExit(130)
    return study


def format_params(params: dict[str, float | int]) -> str:
    return " ".join(f"{name}={value:.3g}" for name, value in params.items())


def ranked(study: optuna.Study) -> list[dict[str, object]]:
    """Every trial as a row: finished ones by validation accuracy, then pruned, then failed."""
    trials = study.get_trials(deepcopy=False)
    names = list(dict.fromkeys(name for t in trials for name in t.params))
    order = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1}

    def last_value(t: FrozenTrial) -> float:
        steps = t.intermediate_values
        return t.value if t.value is not None else steps[max(steps)] if steps else math.nan

    def key(t: FrozenTrial) -> tuple[int, float]:
        value = last_value(t)
        return order.get(t.state, 2), -value if not math.isnan(value) else 0.0

    rows = []
    for rank, t in enumerate(sorted(trials, key=key), start=1):
        steps = t.intermediate_values
        rows.append(
            {
                "rank": rank if t.state == TrialState.COMPLETE else "",
                "trial": t.number,
                "state": t.state.name.lower(),
                "val_accuracy": "" if math.isnan(last_value(t)) else round(last_value(t), 4),
                "schedule_done": f"{max(steps)}%" if steps else "",
                "seconds": round(t.duration.total_seconds(), 1) if t.duration else "",
                **{name: t.params.get(name, "") for name in names},
            }
        )
    return rows


def write_outputs(study: optuna.Study, cfg: TuneConfig, out: Path) -> None:
    """trials.csv and trials.md (printed too), importance.png and best_config.json."""
    rows = ranked(study)
    if not rows:
        return
    with (out / "trials.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    counts = {s: 0 for s in ("complete", "pruned", "fail")}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    lines = [
        f"# Hyperparameter search: study {cfg.study_name!r}",
        "",
        f"{len(rows)} trials: {counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['fail']} failed. Each trial trains on {cfg.subset} training images for "
        f"{cfg.epochs} epochs and is "
        f"scored on the {cfg.val_size} validation digits, in each form the cache serves them (best "
        "epoch); the test set is not used.",
        "",
    ]
    if counts["complete"]:
        best = study.best_trial
        lines += [
            f"Best: trial {best.number}, validation accuracy {best.value:.4f}, "
            f"written to {out / 'best_config.json'}.",
            "",
        ]
        (out / "best_config.json").write_text(json.dumps(best.params, indent=2) + "\n")
    header = list(rows[0])
    lines += [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(format_cell(row[name]) for name in header) + " |" for row in rows),
    ]
    markdown = "\n".join(lines) + "\n"
    (out / "trials.md").write_text(markdown)
    print("\n" + markdown)
    if counts["complete"] >= 2:
        plot_importance(study, out / "importance.png")


def format_cell(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plot_importance(study: optuna.Study, path: Path) -> None:
    """Left: each parameter's importance (optuna.importance); right: accuracy per trial."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    importances = optuna.importance.get_param_importances(study)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(importances)[::-1]  # most important on top
    left.barh(names, [importances[n] for n in names], color="tab:blue")
    left.set_xlabel("importance (optuna.importance's default, PED-ANOVA; sums to 1)")
    left.set_title("Which hyperparameters matter")

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    right.scatter([t.number for t in complete], [t.value for t in complete], label="complete")
    right.scatter(
        [t.number for t in pruned if t.intermediate_values],
        [
            t.intermediate_values[max(t.intermediate_values)]
            for t in pruned
            if t.intermediate_values
        ],
        marker="x",
        color="tab:red",
        label="pruned (last report; lower ones off the axis)",
    )
    best_so_far, best = [], -math.inf
    for t in complete:
        best = max(best, t.value)
        best_so_far.append(best)
    right.step([t.number for t in complete], best_so_far, where="post", color="black", label="best")
    right.set_xlabel("trial")
    right.set_ylabel("validation accuracy")
    right.set_ylim(bottom=max(0.0, min(t.value for t in complete) - 0.01))
    right.legend(loc="lower right")
    right.set_title("Validation accuracy per trial")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    try:
        tune(parse_config(TuneConfig))
    except MnistDataError as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
