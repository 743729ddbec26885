"""Does retraining with people's corrections help? Held-out corrected digits, before and after.

    python -m bench.feedback_gain                  # make bench-feedback-gain: 3 seeds × 2 arms
    python -m bench.feedback_gain --seeds 2 --epochs 3

The corrections stand in for what the web UI collects: every digit of the realistic set
(bench.realistic_digits, `make realistic`) turned into the 28×28 the handler makes of it (the
very `preprocess` whose output TorchServe previews and the UI stores with a correction), with its
true label. Each (category, digit) group is split on its own, by a permutation fixed by
--split-seed: --holdout of it is held out for scoring, the rest is written with
tools.digit_dataset (as `make feedback-export` would) and trained on with --extra-data. Images the
handler refuses have no answer to correct: they are left out of both parts.

Both arms train the same short recipe (--epochs, every other TrainConfig default) on the same
seeds, so a seed's two arms share the MNIST split and the initialisation; only --extra-data
differs. Each model is its best-validation checkpoint. Reported:
held-out accuracy per seed and mean ± sd for both arms and their paired difference, the MNIST
validation accuracy of both (nothing lost on MNIST), and the shipped model's held-out accuracy.
The MNIST test set is not scored here. Results: --out/results.json and results.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.realistic_eval import Sample, load_labels
from handler.limits import InputError
from handler.preprocess import preprocess
from tools.cli import parse_config
from tools.digit_dataset import LabelledDigit, write_dataset
from tools.paths import ARTIFACTS_DIR, REALISTIC_DIR, SHIPPED_MODEL
from training.data import Mnist
from training.export import load_checkpoint
from training.train import TrainConfig, load_data, logits_of, train

ARMS = ("without", "with")  # retrained without / with the corrections


@dataclass
class Config:
    """The corrected set, the split, and the recipe both arms share."""

    realistic: Path = REALISTIC_DIR  # the realistic set (make realistic): the corrected digits
    out: Path = ARTIFACTS_DIR / "feedback_gain"  # corrections/, heldout/, runs/, results.*
    holdout: float = 0.5  # share of each (category, digit) group held out for scoring
    split_seed: int = 0  # fixes which digits are held out
    seeds: int = 3  # training seeds 0, 1, …; both arms train each
    epochs: int = 4  # the short recipe of both arms (make train runs 10)
    weight: float = TrainConfig.extra_weight  # --extra-weight of the corrections
    threads: int = 1  # torch threads per training (1: the cores are shared)
    normalised: str = TrainConfig.normalised  # the served MNIST digits (cache file or folder)
    data_dir: str = TrainConfig.data_dir  # the four MNIST IDX files
    shipped: Path = SHIPPED_MODEL  # the reference model, scored on the held-out digits


def corrected_digits(folder: Path, samples: list[Sample]) -> dict[int, np.ndarray]:
    """Sample index → the handler's 28×28 of that image; refused images are left out."""
    digits = {}
    for i, sample in enumerate(samples):
        with contextlib.suppress(InputError):  # refused: nothing to correct
            digits[i] = preprocess((folder / sample.file).read_bytes())
        if (i + 1) % 500 == 0 or i + 1 == len(samples):
            print(f"  preprocessed {i + 1}/{len(samples)}", flush=True)
    return digits


def split_holdout(samples: list[Sample], share: float, seed: int) -> tuple[list[int], list[int]]:
    """(training, held-out) sample indices: `share` of every (category, digit) group held out.

    Groups are visited in sorted order, their members in file-name order, each permuted by one
    generator seeded with `seed`: the same set and seed always give the same split. A group of n
    holds out round(share × n) (halves rounded up) of them.
    """
    if not 0 < share < 1:
        raise ValueError(f"the held-out share must be between 0 and 1, not {share}")
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, sample in enumerate(samples):
        groups[(sample.category, sample.digit)].append(i)
    rng = np.random.default_rng(seed)
    training, held_out = [], []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda i: samples[i].file)
        order = [members[j] for j in rng.permutation(len(members))]
        n_held = int(share * len(members) + 0.5)
        held_out += order[:n_held]
        training += order[n_held:]
    return sorted(training), sorted(held_out)


def write_part(
    out: Path,
    folder: Path,
    samples: list[Sample],
    indices: list[int],
    digits: dict[int, np.ndarray],
) -> None:
    """The samples at `indices` that have a digit, as a tools.digit_dataset folder."""
    shutil.rmtree(out, ignore_errors=True)  # no stale digits/ from a bigger earlier set
    rows = [
        LabelledDigit(
            digit=digits[i],
            label=samples[i].digit,
            original=(folder / samples[i].file).read_bytes(),
            original_name=samples[i].file,
            extra={"category": samples[i].category, "style": samples[i].style},
        )
        for i in indices
        if i in digits
    ]
    write_dataset(out, rows)


def recipe(config: Config) -> TrainConfig:
    """The training recipe both arms share: TrainConfig's defaults but for these fields."""
    return TrainConfig(
        data_dir=config.data_dir,
        normalised=config.normalised,
        epochs=config.epochs,
        extra_weight=config.weight,
        threads=config.threads,
        final_report=False,  # the final report scores the MNIST test set: not here
    )


def per_group(right: torch.Tensor, groups: list[str]) -> dict[str, float]:
    """Accuracy within each group (e.g. category), from a per-image `right` mask."""
    hits, counts = defaultdict(int), defaultdict(int)
    for hit, group in zip(right.tolist(), groups, strict=True):
        hits[group] += hit
        counts[group] += 1
    return {group: hits[group] / counts[group] for group in counts}


def mean_sd(values: list[float]) -> dict[str, float]:
    """Mean and n − 1 standard deviation (0 for one value), as training's seeds table."""
    array = np.array(values, dtype=np.float64)
    return {"mean": float(array.mean()), "sd": float(array.std(ddof=1)) if len(array) > 1 else 0.0}


def measure(config: Config, base: TrainConfig, mnist: Mnist | None = None) -> dict:
    """Build the two parts, train both arms on every seed, score; writes results.json/.md."""
    started, wall0 = dt.datetime.now(dt.UTC), time.perf_counter()
    samples = load_labels(config.realistic)
    training, held_out = split_holdout(samples, config.holdout, config.split_seed)
    print(f"Corrected digits: the handler's 28×28 of {len(samples)} images in {config.realistic}")
    digits = corrected_digits(config.realistic, samples)
    corrections, heldout_dir = config.out / "corrections", config.out / "heldout"
    write_part(corrections, config.realistic, samples, training, digits)
    write_part(heldout_dir, config.realistic, samples, held_out, digits)
    kept = [i for i in held_out if i in digits]
    held_x = torch.from_numpy(np.stack([digits[i] for i in kept]))
    held_y = torch.tensor([samples[i].digit for i in kept])
    held_categories = [samples[i].category for i in kept]
    split = {
        "rule": f"{config.holdout:g} of each (category, digit) group held out, seed "
        f"{config.split_seed}",
        "training": sum(i in digits for i in training),
        "held_out": len(kept),
        "refused": len(samples) - len(digits),
    }
    print(
        f"Split: {split['training']} corrections to train on ({corrections}), "
        f"{split['held_out']} held out ({heldout_dir}), {split['refused']} refused"
    )
    shipped, shipped_per_category = None, None
    if config.shipped.exists():
        right = logits_of(torch.jit.load(str(config.shipped)).eval(), held_x).argmax(1) == held_y
        shipped, shipped_per_category = (
            right.float().mean().item(),
            per_group(right, held_categories),
        )
        print(f"Shipped model {config.shipped}: {shipped:.2%} of the held-out digits")

    if mnist is None:
        mnist = load_data(base)
    result = {
        "config": dataclasses.asdict(config),
        "recipe": dataclasses.asdict(base),
        "split": split,
        "shipped_heldout_accuracy": shipped,
        "shipped_heldout_per_category": shipped_per_category,
        "started": started.isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "runs": [],
    }
    total = 2 * config.seeds
    for seed in range(config.seeds):
        for arm in ARMS:
            run_dir = config.out / "runs" / f"{arm}-seed-{seed}"
            shutil.rmtree(run_dir, ignore_errors=True)  # train() appends to its metrics files
            cfg = dataclasses.replace(
                base,
                seed=seed,
                out_dir=str(run_dir),
                extra_data=str(corrections) if arm == "with" else "",
            )
            print(
                f"\n[run {len(result['runs']) + 1}/{total}] seed {seed}, {arm} corrections "
                f"({time.perf_counter() - wall0:.0f} s so far)",
                flush=True,
            )
            summary = train(cfg, mnist)
            right = logits_of(load_checkpoint(run_dir / "best.pt"), held_x).argmax(1) == held_y
            run = {
                "seed": seed,
                "arm": arm,
                "heldout_accuracy": right.float().mean().item(),
                "heldout_errors": int((~right).sum()),
                "heldout_per_category": per_group(right, held_categories),
                "val_accuracy": summary["best_val_accuracy"],
                "best_epoch": summary["best_epoch"],
                "train_seconds": summary["train_seconds"],
                "wall_seconds": summary["wall_seconds"],
                "load_average_after": os.getloadavg()[0],
                "extra_data": summary["extra_data"],
            }
            result["runs"].append(run)
            print(
                f"  held-out {run['heldout_accuracy']:.2%}, MNIST validation "
                f"{run['val_accuracy']:.2%}, {run['wall_seconds']:.0f} s"
            )
            write_results(config.out, result | {"partial": True})
    result["wall_seconds"] = round(time.perf_counter() - wall0, 1)
    result["summary"] = summarise(result["runs"])
    write_results(config.out, result)
    return result


def summarise(runs: list[dict]) -> dict:
    """Mean ± sd over seeds of each arm's figures and of the paired held-out gain."""
    by = {(r["arm"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    summary = {
        f"{key}_{arm}": mean_sd([by[arm, s][key] for s in seeds])
        for key in ("heldout_accuracy", "val_accuracy")
        for arm in ARMS
    }
    summary["heldout_gain"] = mean_sd(
        [by["with", s]["heldout_accuracy"] - by["without", s]["heldout_accuracy"] for s in seeds]
    )
    return summary


def table(result: dict) -> str:
    """results.md: one row per seed, then mean ± sd; the shipped model's figure below."""
    by = {(r["arm"], r["seed"]): r for r in result["runs"]}
    seeds = sorted({r["seed"] for r in result["runs"]})
    lines = [
        "| seed | held-out, without | held-out, with | gain (points) "
        "| MNIST val, without | MNIST val, with |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in seeds:
        without, with_ = by["without", s], by["with", s]
        gain = 100 * (with_["heldout_accuracy"] - without["heldout_accuracy"])
        lines.append(
            f"| {s} | {without['heldout_accuracy']:.2%} | {with_['heldout_accuracy']:.2%} "
            f"| {gain:+.2f} | {without['val_accuracy']:.2%} | {with_['val_accuracy']:.2%} |"
        )
    summary = result["summary"]

    def cell(key: str, sign: str = "") -> str:
        return f"{100 * summary[key]['mean']:{sign}.2f} ± {100 * summary[key]['sd']:.2f}"

    lines.append(
        f"| **mean ± sd** ({len(seeds)} seeds) | {cell('heldout_accuracy_without')}% "
        f"| {cell('heldout_accuracy_with')}% | {cell('heldout_gain', '+')} "
        f"| {cell('val_accuracy_without')}% | {cell('val_accuracy_with')}% |"
    )
    split, recipe_ = result["split"], result["recipe"]
    shipped = result["shipped_heldout_accuracy"]
    loads = [r["load_average_after"] for r in result["runs"]]
    lines += [
        "",
        f"Held out: {split['held_out']} corrected realistic digits ({split['rule']}); "
        f"trained on: {split['training']}, weight {recipe_['extra_weight']:g}. "
        f"Recipe of both arms: {recipe_['epochs']} epochs, width {recipe_['width']}, "
        f"{recipe_['threads'] or 'all'} thread(s), best-validation checkpoint. "
        + (f"Shipped model on the held-out digits: {shipped:.2%}. " if shipped is not None else "")
        + f"Whole bench {result['wall_seconds'] / 60:.0f} min; 1-minute load average after "
        f"each run {min(loads):.1f}–{max(loads):.1f} on {result['cpu_count']} cores.",
    ]
    categories = list(result["runs"][0]["heldout_per_category"])
    shipped_cells = result["shipped_heldout_per_category"] or {}
    lines += [
        "",
        "| held-out category | shipped | without (mean) | with (mean) |",
        "|---|---:|---:|---:|",
    ]
    for category in categories:
        means = [
            np.mean([by[arm, s]["heldout_per_category"][category] for s in seeds]) for arm in ARMS
        ]
        shipped_cell = f"{shipped_cells[category]:.1%}" if category in shipped_cells else "–"
        lines.append(f"| {category} | {shipped_cell} | {means[0]:.1%} | {means[1]:.1%} |")
    return "\n".join(lines) + "\n"


def write_results(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    if "summary" in result:
        (out / "results.md").write_text(table(result))
        print("\n" + table(result))


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_config(Config, argv)
    if config.seeds < 1:
        sys.exit("error: --seeds must be at least 1")
    measure(config, recipe(config))


if __name__ == "__main__":
    main()
