"""Training benchmark: images per second, and the wall time to reach 99.0% and 99.5% validation.

    python -m bench.train_speed                 # the default recipe, in a temporary folder
    python -m bench.train_speed --epochs 8      # any TrainConfig field can be overridden

Validation runs once per epoch, so "time to reach" is measured at epoch ends (training time only,
validation excluded), which is the resolution the training loop itself has.
"""

from __future__ import annotations

import csv
import dataclasses
import tempfile
from pathlib import Path

from tools.cli import parse_config
from training.train import TrainConfig, train

TARGETS = (0.990, 0.995)


def time_to_reach(val_rows: list[dict], target: float) -> str:
    for row in val_rows:
        if float(row["accuracy"]) >= target:
            return f"{float(row['elapsed_s']):.0f} s (epoch {row['epoch']})"
    return "not reached"


def main(argv: list[str] | None = None) -> None:
    asked = parse_config(TrainConfig, argv, description=__doc__.split("\n\n")[0])
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        cfg = dataclasses.replace(asked, out_dir=tmp, final_report=False)
        summary = train(cfg)
        with (Path(tmp) / "train_metrics.csv").open() as f:
            train_rows = list(csv.DictReader(f))
        with (Path(tmp) / "val_metrics.csv").open() as f:
            val_rows = list(csv.DictReader(f))

    images = sum(int(r["images_per_s"]) * float(r["seconds"]) for r in train_rows)
    seconds = sum(float(r["seconds"]) for r in train_rows)
    changed = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "out_dir"}
    print("\nTraining benchmark")
    print(f"  config                   {changed}")
    print(f"  training images/s        {images / seconds:,.0f} (augmentation included)")
    print(f"  epochs, training time    {len(train_rows)}, {seconds:.0f} s")
    for target in TARGETS:
        print(f"  time to {100 * target:.1f}% val      {time_to_reach(val_rows, target)}")
    print(f"  best validation          {100 * summary['best_val_accuracy']:.2f}%")


if __name__ == "__main__":
    main()
