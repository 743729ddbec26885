"""Train the digit CNN on genuine MNIST, then export and report on the test set.

    python -m training.train                      # make train's recipe, on the served digits
    python -m training.train --epochs 3 --subset 5000 --out-dir runs/quick
    python -m training.train --resume runs/mnist/last.pt
    python -m training.train --seeds 3              # seeds 0, 1, 2: mean ± sd of every figure
    python -m training.train --config runs/tune/best_config.json  # make tune's best configuration
    python -m training.train --extra-data corrections/ --extra-weight 2  # plus exported corrections

Every default lives in `TrainConfig` below; each field is also a command-line flag, and
`--config FILE` (JSON) overrides the defaults with its values, explicit flags overriding the file.
The model is trained, validated and calibrated on what it is served: each MNIST digit written as
PNG through the handler, in MNIST's form (passed through) and dark on light (normalised);
tools.normalised_mnist caches both, and `make train` builds the cache.
The run folder gets: best.pt and last.pt checkpoints, TensorBoard logs (tb/), train_metrics.csv,
val_metrics.csv and, after the final test-set evaluation, model.pt (TorchScript), report.json,
report.md, confusion_matrix.csv and PNG plots. The test set is used once, at the end, never to
choose a model or an epoch: the best epoch is chosen on the held-out validation split.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import inspect
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from handler.normalize import scale_pixels
from training.augment import AugmentConfig, augment_batch
from training.calibrate import expected_calibration_error, fit_temperature
from training.continental_ones import FlaggedOnes
from training.data import Mnist, MnistDataError, load_mnist, split_train_val, with_served
from training.export import load_checkpoint
from training.extra_data import ExtraDataError, epoch_order, extra_draws, load_extra
from training.model import DigitCNN, count_parameters


@dataclass
class TrainConfig:
    # data
    data_dir: str = "data/mnist"  # the four MNIST IDX files (fetched when missing)
    val_size: int = 5000  # images held out of the 60k training images to pick the best epoch
    subset: int = 0  # train on only this many training images (0 = all); for smoke tests
    # The digits as served (tools.normalised_mnist): a cache .npz, or a folder holding it (the
    # newest made from these MNIST files); "" = the raw MNIST tensors, as before.
    normalised: str = "data/normalised"
    # Each extra digit counts extra_weight times an MNIST digit, by oversampling.
    extra_data: str = ""  # a make feedback-export folder: its digits join training only ("": none)
    extra_weight: float = 2.0  # draws of each extra digit per epoch (fractions drawn at random)
    # model
    width: int = 24  # channels of the first convolution; later stages use 2× and 4×
    dropout: float = 0.1  # before the final linear layer
    # optimisation. lr, weight_decay, label_smoothing, ema_decay, augment_strength and dark_share
    # are the best trial of make tune's study of 7 Dec 2026 (docs/training.md).
    epochs: int = 10  # passes over the training split (10 fit make train in 10 minutes on 2 cores)
    batch_size: int = 128  # images per step
    lr: float = 6.82e-3  # peak learning rate of the one-cycle schedule
    weight_decay: float = 2.10e-4  # AdamW decoupled weight decay
    label_smoothing: float = 0.0968  # softens targets; helps calibration and generalisation
    ema_decay: float = 0.969  # exponential moving average of the weights per step (0 = off)
    augment: bool = True  # random affine + stroke width, see training/augment.py
    augment_strength: float = 0.585  # scales every augmentation range and probability
    # A training 1 is shown with a continental flag drawn on instead (training.continental_ones;
    # the served cache holds one flagged copy of each straight 1) with this probability. Chosen
    # on validation plus its flagged 1s (docs/training.md): 0.25 / 0.5 / 0.75 read 99.21 / 99.35
    # / 99.39% of them, with the first version of the flags.
    flagged_ones: float = 0.75
    # A training digit is shown as the handler serves it sent dark on light (the whole
    # normalisation runs) with this probability, else in MNIST's own form (which the handler
    # passes through as it is). Validation holds both forms.
    dark_share: float = 0.370
    # run control
    seed: int = 0  # fixes the split, initialisation, shuffling and augmentation
    seeds: int = 1  # >1: train seeds seed, seed+1, … into out_dir/seed-N; report mean ± sd
    patience: int = 6  # stop after this many epochs without a better validation accuracy
    threads: int = 0  # torch intra-op threads (0 = PyTorch's default: all cores)
    device: str = "cpu"  # "cpu", or "cuda" where a GPU is available (augmentation stays on CPU)
    out_dir: str = "runs/mnist"  # checkpoints, logs, metrics, exported model and report
    resume: str = ""  # a last.pt to continue from (same config)
    final_report: bool = True  # after training: export TorchScript and evaluate on the test set


Config = TypeVar("Config")


def parse_config(cls: type[Config] = TrainConfig, argv: list[str] | None = None) -> Config:
    """Expose every field of the dataclass `cls` as a --flag (bools as --flag / --no-flag).

    `--config FILE` reads a JSON object of field values; they replace the defaults, so flags
    given explicitly still win. An unknown key is an error, not a silently ignored typo.
    """
    # The --help summary is the first paragraph of the docstring of the module defining `cls`.
    parser = argparse.ArgumentParser(
        description=sys.modules[cls.__module__].__doc__.split("\n\n")[0]
    )
    parser.add_argument("--config", metavar="FILE", help="JSON object of defaults for these flags")
    comments = _field_comments(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    for field in fields.values():
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        # argparse formats help with %: a comment's "50%" must not break --help.
        help_text = f"{comments.get(field.name, '')} (default: {default})".replace("%", "%%")
        if isinstance(default, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=help_text
            )
        else:
            parser.add_argument(flag, type=type(default), default=default, help=help_text)
    config_file = parser.parse_known_args(argv)[0].config
    if config_file:
        parser.set_defaults(**_read_config_file(config_file, fields, parser))
    args = vars(parser.parse_args(argv))
    del args["config"]
    return cls(**args)


def _read_config_file(
    path: str, fields: dict[str, dataclasses.Field], parser: argparse.ArgumentParser
) -> dict[str, Any]:
    """The JSON object in `path`, each value converted to its field's type (errors exit 2)."""
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        parser.error(f"--config {path}: {error}")
    if not isinstance(values, dict):
        parser.error(f"--config {path}: expected a JSON object")
    unknown = sorted(set(values) - set(fields))
    if unknown:
        parser.error(f"--config {path}: unknown keys {unknown}; known: {sorted(fields)}")
    converted = {}
    for name, value in values.items():
        kind = type(fields[name].default)
        # JSON has one number type: 1 is a fine float, but true is no int and 5 is no path.
        allowed = (float, int) if kind is float else (kind,)
        if not isinstance(value, allowed) or isinstance(value, bool) != (kind is bool):
            parser.error(f"--config {path}: {name} must be a {kind.__name__}, not {value!r}")
        converted[name] = kind(value)
    return converted


def _field_comments(cls: type) -> dict[str, str]:
    """The inline comments of a config dataclass, reused as --help text: they never drift apart."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        name, sep, comment = line.strip().partition("  # ")
        if sep and ":" in name:
            comments[name.split(":")[0]] = comment
    return comments


@torch.no_grad()
def logits_of(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """(N, 10) logits of `model` on uint8 (N, 28, 28) images, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat(
        [
            model(
                scale_pixels(images[i : i + batch_size].unsqueeze(1))
                .to(device)
                .contiguous(memory_format=torch.channels_last)
            ).cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


def evaluate(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000
) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, predictions) of `model` on uint8 images."""
    logits = logits_of(model, images, batch_size)
    preds = logits.argmax(1)
    return (
        F.cross_entropy(logits, labels).item(),
        (preds == labels).float().mean().item(),
        preds,
    )


def load_data(cfg: TrainConfig) -> Mnist:
    """Genuine MNIST from cfg.data_dir, with the served digits when cfg.normalised names them."""
    mnist = load_mnist(Path(cfg.data_dir))
    return with_served(mnist, Path(cfg.normalised)) if cfg.normalised else mnist


def append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def swap_dark(
    batch: torch.Tensor, idx: torch.Tensor, dark: torch.Tensor, p: float, gen: torch.Generator
) -> torch.Tensor:
    """The batch with each MNIST digit swapped for its dark-on-light serving with probability p.

    `idx` are training-split positions; those past the split (extra data) are never swapped.
    """
    swap = (idx < len(dark)) & (torch.rand(len(idx), generator=gen) < p)
    batch = batch.clone()
    batch[swap] = dark[idx[swap]]
    return batch


def train(
    cfg: TrainConfig,
    mnist: Mnist | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> dict:
    """Run the whole recipe; returns the summary (also written to report.json when final_report).

    `mnist` is the data set to use; None (the default) loads the genuine files from cfg.data_dir
    (and cfg.normalised). When it carries the served digits, those are trained, validated and
    calibrated on; the raw tensors are then only scored, in the report.
    `on_epoch(epoch, val_accuracy)`, epochs counted from 1, runs after each epoch's validation and
    checkpoints; it may raise to end the run there (make tune prunes trials that way).
    """
    started = time.perf_counter()
    extra = None  # read first: a bad --extra-data folder stops the run before anything is written
    if cfg.extra_data:
        if cfg.extra_weight <= 0:
            raise ExtraDataError(f"--extra-weight must be above 0, not {cfg.extra_weight}")
        extra = load_extra(Path(cfg.extra_data))
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)

    # ---- data: held once as uint8 tensors; batches are index slices -----------------------------
    if mnist is None:
        mnist = load_data(cfg)
    # Train on what the handler hands the model at serving time, when the cache is there.
    images = mnist.train_images if mnist.served_train is None else mnist.served_train
    train_idx, val_idx = split_train_val(len(mnist.train_labels), cfg.val_size, cfg.seed)
    if cfg.subset:
        train_idx = train_idx[: cfg.subset]
    train_x, train_y = images[train_idx], mnist.train_labels[train_idx]
    val_x, val_y = images[val_idx], mnist.train_labels[val_idx]
    dark_x = None  # the training split sent dark on light, when the cache has it
    if mnist.served_train_dark is not None:
        dark_x = mnist.served_train_dark[train_idx]
        # Validation scores both forms the handler serves, 2 × val_size images.
        val_x = torch.cat([val_x, mnist.served_train_dark[val_idx]])
        val_y = torch.cat([val_y, val_y])
    n_mnist, n_extra, extra_record = len(train_x), 0, None
    flags = FlaggedOnes.of(mnist, train_idx, val_idx) if cfg.flagged_ones > 0 else None
    if extra is not None:
        extra_record = extra.describe(cfg.extra_weight)
        # Appended after the MNIST split: validation and test never see them.
        train_x, train_y = torch.cat([train_x, extra.images]), torch.cat([train_y, extra.labels])
        n_extra = len(extra.labels)
        print(
            f"Extra data: {n_extra} digits from {cfg.extra_data}, weight {cfg.extra_weight} "
            f"({extra_record['per_epoch']} draws per epoch)"
        )
    per_epoch = n_mnist + extra_draws(n_extra, cfg.extra_weight)  # images trained on per epoch
    steps_per_epoch = (per_epoch + cfg.batch_size - 1) // cfg.batch_size

    # ---- model, optimiser, schedule, EMA --------------------------------------------------------
    model = DigitCNN(cfg.width, cfg.dropout).to(cfg.device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch
    )
    ema = None
    if cfg.ema_decay:

        def ema_step(
            averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor
        ) -> torch.Tensor:
            # Warm-up: early on the average follows the weights closely, so short runs work too.
            decay = min(cfg.ema_decay, (1 + n.item()) / (10 + n.item()))
            return decay * averaged + (1 - decay) * current

        ema = AveragedModel(model, avg_fn=ema_step, use_buffers=True)
    augment_cfg = AugmentConfig().scaled(cfg.augment_strength)

    start_epoch, best_acc, best_epoch, elapsed = 0, 0.0, -1, 0.0
    if cfg.resume:
        state = torch.load(cfg.resume, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        gen.set_state(state["generator"])
        start_epoch, best_acc, best_epoch = (
            state["epoch"] + 1,
            state["best_acc"],
            state["best_epoch"],
        )
        elapsed = state["elapsed"]
        print(f"Resumed from {cfg.resume} at epoch {start_epoch} (best val {best_acc:.4f})")

    from torch.utils.tensorboard import SummaryWriter  # slow import: only when training

    writer = SummaryWriter(str(out / "tb"))
    print(
        f"Training {count_parameters(model):,} parameters on {per_epoch} images per epoch, "
        f"validating on {len(val_x)}; run folder {out}"
    )

    def save_last(epoch: int) -> None:
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "ema": ema.state_dict() if ema else None,
                "generator": gen.get_state(),
                "epoch": epoch,
                "best_acc": best_acc,
                "best_epoch": best_epoch,
                "elapsed": elapsed,
                "config": dataclasses.asdict(cfg),
            },
            out / "last.pt",
        )

    try:
        for epoch in range(start_epoch, cfg.epochs):
            # ---- one epoch of training --------------------------------------------------------
            model.train()
            t0 = time.perf_counter()
            order = epoch_order(n_mnist, n_extra, cfg.extra_weight, gen)
            loss_sum = torch.zeros((), device=cfg.device)
            correct = torch.zeros((), dtype=torch.long, device=cfg.device)
            bar = tqdm(
                range(steps_per_epoch),
                desc=f"epoch {epoch + 1}/{cfg.epochs}",
                unit="step",
                leave=False,
            )
            for step in bar:
                idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                x = train_x[idx]
                if dark_x is not None and cfg.dark_share > 0:
                    x = swap_dark(x, idx, dark_x, cfg.dark_share, gen)
                if flags is not None:
                    x = flags.swap_in(x, idx, cfg.flagged_ones, gen)
                x = augment_batch(x, augment_cfg, gen) if cfg.augment else x.unsqueeze(1)
                x = scale_pixels(x).to(cfg.device).contiguous(memory_format=torch.channels_last)
                y = train_y[idx].to(cfg.device)
                logits = model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                if ema is not None:
                    ema.update_parameters(model)
                loss_sum += loss.detach() * len(idx)
                correct += (logits.argmax(1) == y).sum()
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}")
            train_seconds = time.perf_counter() - t0
            elapsed += train_seconds

            # ---- validation: the only signal used to choose the model --------------------------
            scored = ema.module if ema is not None else model
            val_loss, val_acc, _ = evaluate(scored, val_x, val_y)
            train_loss = (loss_sum / per_epoch).item()
            train_acc = (correct.float() / per_epoch).item()
            lr = schedule.get_last_lr()[0]
            append_csv(
                out / "train_metrics.csv",
                {
                    "epoch": epoch + 1,
                    "loss": round(train_loss, 5),
                    "accuracy": round(train_acc, 5),
                    "lr": f"{lr:.3g}",
                    "seconds": round(train_seconds, 2),
                    "images_per_s": round(per_epoch / train_seconds),
                },
            )
            append_csv(
                out / "val_metrics.csv",
                {
                    "epoch": epoch + 1,
                    "loss": round(val_loss, 5),
                    "accuracy": round(val_acc, 5),
                    "elapsed_s": round(elapsed, 1),
                },
            )
            for name, value in [
                ("loss/train", train_loss),
                ("loss/val", val_loss),
                ("accuracy/train", train_acc),
                ("accuracy/val", val_acc),
                ("lr", lr),
            ]:
                writer.add_scalar(name, value, epoch + 1)

            improved = val_acc > best_acc
            if improved:
                best_acc, best_epoch = val_acc, epoch
                torch.save(
                    {
                        "model": scored.state_dict(),
                        "config": dataclasses.asdict(cfg),
                        "epoch": epoch + 1,
                        "val_accuracy": val_acc,
                    },
                    out / "best.pt",
                )
            mark = "*" if improved else " "
            print(
                f"epoch {epoch + 1:2d}/{cfg.epochs} train loss {train_loss:.4f} acc {train_acc:.4f}"
                f" val loss {val_loss:.4f} acc {val_acc:.4f} {mark}"
                f"  {per_epoch / train_seconds:,.0f} img/s  {elapsed:.0f}s"
            )
            save_last(epoch)
            if on_epoch is not None:
                on_epoch(epoch + 1, val_acc)
            if epoch - best_epoch >= cfg.patience:
                print(f"Early stop: no better validation accuracy for {cfg.patience} epochs")
                break
    except KeyboardInterrupt:
        # best.pt and last.pt were written at the end of the last complete epoch; the half-done
        # epoch is dropped so that --resume repeats it exactly.
        if (out / "last.pt").exists():
            print(
                f"\nInterrupted: kept {out / 'best.pt'} (val {best_acc:.4f}) and {out / 'last.pt'}"
                f"; continue with --resume {out / 'last.pt'}"
            )
        else:
            print("\nInterrupted during the first epoch: nothing to keep")
        raise SystemExit(130) from None
    finally:
        writer.close()

    # ---- calibration: one temperature for the best model, fitted on validation ---------------
    best = load_checkpoint(out / "best.pt")
    val_logits = logits_of(best, val_x)
    temperature = fit_temperature(val_logits, val_y)
    ece_before = expected_calibration_error(val_logits.softmax(1), val_y)
    ece_after = expected_calibration_error((val_logits / temperature).softmax(1), val_y)
    print(f"Temperature {temperature:.3f}: validation ECE {ece_before:.2%} → {ece_after:.2%}")
    flagged_val_acc = None
    if flags is not None and len(flags.val_images):
        _, flagged_val_acc, _ = evaluate(best, flags.val_images, torch.ones_like(flags.val_source))
        print(f"Validation's 1s with a flag drawn on: {flagged_val_acc:.2%} read as 1")

    val_forms = {}  # validation's accuracy in each form the handler serves
    if dark_x is not None:
        half = len(val_y) // 2
        for name, part in [
            ("val_accuracy_mnist_form", slice(0, half)),
            ("val_accuracy_dark", slice(half, None)),
        ]:
            val_forms[name] = round(evaluate(best, val_x[part], val_y[part])[1], 5)
        print(
            f"Validation: MNIST's form {val_forms['val_accuracy_mnist_form']:.2%}, "
            f"dark on light {val_forms['val_accuracy_dark']:.2%}"
        )

    summary = {
        "best_val_accuracy": best_acc,
        **val_forms,
        "best_epoch": best_epoch + 1,
        "train_seconds": round(elapsed, 1),  # optimisation steps only, summed over epochs
        "wall_seconds": round(time.perf_counter() - started, 1),  # this invocation, end to end
        "parameters": count_parameters(model),
        "trained_on": "raw MNIST tensors" if mnist.served_train is None else "served digits",
        "extra_data": extra_record,  # None, or folder, count, sha256 and weight of --extra-data
        "flagged_ones": cfg.flagged_ones if flags is not None else 0.0,
        "dark_share": cfg.dark_share if dark_x is not None else 0.0,
        "val_flagged_ones_accuracy": flagged_val_acc,  # validation's 1s, flag drawn on; None: none
        "temperature": round(temperature, 5),
        "val_ece": round(ece_before, 5),
        "val_ece_calibrated": round(ece_after, 5),
    }
    if cfg.final_report:
        from training.report import final_report

        summary = final_report(out, mnist, summary)
    return summary


SEED_FIGURES = {  # report key → column title of the seeds table
    "best_val_accuracy": "validation",
    "test_accuracy": "test (tensors)",
    "chain_test_accuracy": "test (chain)",
}


def train_seeds(cfg: TrainConfig) -> dict:
    """Train cfg.seeds seeds into out_dir/seed-N; write and return mean ± sd of each figure.

    Everything a seed fixes varies: the split, the initialisation, the order, the augmentation.
    A difference between two recipes smaller than about twice the sd is noise.
    """
    mnist = load_data(cfg)
    out = Path(cfg.out_dir)
    runs = {}
    for seed in range(cfg.seed, cfg.seed + cfg.seeds):
        one = dataclasses.replace(cfg, seed=seed, seeds=1, out_dir=str(out / f"seed-{seed}"))
        runs[seed] = train(one, mnist)
    figures = [key for key in SEED_FIGURES if all(key in r for r in runs.values())]
    stats = {}
    for key in figures:
        values = torch.tensor([float(r[key]) for r in runs.values()], dtype=torch.float64)
        stats[key] = {"mean": values.mean().item(), "sd": values.std().item()}  # n − 1
    result = {
        "seeds": list(runs),
        "runs": {str(s): {k: r[k] for k in figures} for s, r in runs.items()},
        "mean_sd": stats,
    }
    (out / "seeds.json").write_text(json.dumps(result, indent=2) + "\n")
    header = " | ".join(SEED_FIGURES[k] for k in figures)
    lines = [f"| seed | {header} |", "|---|" + "---|" * len(figures)]
    for seed, r in runs.items():
        lines.append(f"| {seed} | " + " | ".join(f"{100 * r[k]:.2f}%" for k in figures) + " |")
    lines.append(
        f"| mean ± sd ({len(runs)} seeds) | "
        + " | ".join(f"{100 * stats[k]['mean']:.2f} ± {100 * stats[k]['sd']:.2f}%" for k in figures)
        + " |"
    )
    table = "\n".join(lines) + "\n"
    (out / "seeds.md").write_text(table)
    print(table)
    return result


def main() -> None:
    cfg = parse_config()
    try:
        train_seeds(cfg) if cfg.seeds > 1 else train(cfg)
    except MnistDataError as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
