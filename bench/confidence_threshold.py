"""Choose the page's "not sure" threshold from data: `python -m bench.confidence_threshold`.

The model carries a temperature fitted on validation inside model.pt (`make train` fits it; the
shipped model got its own from `make calibrate`), so its confidence is close to the chance of
being right on MNIST-like input. People's drawings are harder than MNIST, so the threshold is
still chosen on data. This tool measures, on
the held-out validation images (the 5,000 that training never fits) as the handler serves them
(tools.normalised_mnist's cache: in MNIST's form, passed through, and sent dark on light,
normalised), how often the model is right at each confidence, on the
clean images and on the same images distorted the way training augments them (slant, size,
stroke width, off-centre: closer to what people draw). When the realistic set of
`bench.realistic_digits` exists (canvas exports, photos, off-centre, thick and thin strokes), its
images go through the handler's own preprocessing and join the measurement. The threshold is the
lowest confidence from which every band of answers above it is right at least `--target` of the
time.

It loads torch, the model and training's data and augmentation, so it lives here with the other
measurements: the web UI only reads the number it chose (WEBUI_LOW_CONFIDENCE).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from handler.limits import InputError
from handler.normalize import scale_pixels
from handler.preprocess import preprocess
from tools.cli import parse_config
from tools.normalised_mnist import NORMALISED_DIR, ensure
from tools.normalised_mnist import Config as CacheConfig
from tools.paths import REALISTIC_DIR, REPO_ROOT, SHIPPED_MODEL
from training.augment import AugmentConfig, augment_batch
from training.data import DEFAULT_DATA_DIR, load_mnist, split_train_val, with_served
from training.train import TrainConfig


@dataclass
class ThresholdConfig:
    model: Path = SHIPPED_MODEL  # TorchScript model to measure
    data_dir: Path = REPO_ROOT / DEFAULT_DATA_DIR  # the MNIST IDX files
    normalised_dir: Path = NORMALISED_DIR  # tools.normalised_mnist's cache (built when missing)
    realistic: Path = REALISTIC_DIR  # bench.realistic_digits output, used when it exists
    target: float = 0.90  # accuracy every confident band must reach
    band: float = 0.10  # width of the confidence bands compared
    step: float = 0.05  # candidate thresholds: 0.30, 0.35, …
    min_band_size: int = 20  # bands with fewer answers are too noisy to judge
    seed: int = 0  # fixes the augmented copy


def confidences(model: torch.jit.ScriptModule, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Top-1 probability and predicted digit for float images (N, 1, 28, 28) in [0, 255]."""
    with torch.inference_mode():
        logits = torch.cat([model(scale_pixels(b)) for b in images.split(1000)])
    probabilities = logits.softmax(dim=1)
    return probabilities.max(dim=1)


def realistic_images(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The realistic set after the handler's preprocessing; refused images are left out (the
    page shows those as "no digit found", not as a guess)."""
    digits, labels = [], []
    with (folder / "labels.csv").open() as handle:
        for row in csv.DictReader(handle):
            try:
                digits.append(preprocess((folder / row["file"]).read_bytes()))
            except InputError:
                continue
            labels.append(int(row["digit"]))
    images = torch.from_numpy(np.stack(digits)).unsqueeze(1).float()
    return images, torch.tensor(labels)


def band_table(conf: torch.Tensor, right: torch.Tensor, cfg: ThresholdConfig) -> list[tuple]:
    """(lower edge, answers in [edge, edge + band), accuracy there) for each candidate edge."""
    rows = []
    edge = 0.30
    while edge < 1.0 - 1e-9:
        inside = (conf >= edge) & (conf < edge + cfg.band)
        n = int(inside.sum())
        accuracy = float(right[inside].float().mean()) if n else float("nan")
        rows.append((round(edge, 2), n, accuracy))
        edge += cfg.step
    return rows


def choose_threshold(rows: list[tuple], cfg: ThresholdConfig) -> float:
    """The lowest edge from which every judged band reaches the target accuracy."""
    threshold = 1.0
    for edge, n, accuracy in reversed(rows):
        if n >= cfg.min_band_size and accuracy < cfg.target:
            break
        threshold = edge
    return threshold


def main(argv: Sequence[str] | None = None) -> None:
    cfg = parse_config(ThresholdConfig, argv)

    model = torch.jit.load(str(cfg.model)).eval()
    mnist = load_mnist(cfg.data_dir)
    mnist = with_served(
        mnist, ensure(CacheConfig(data_dir=cfg.data_dir, out_dir=cfg.normalised_dir, quiet=True))
    )
    train = TrainConfig()
    _, val_idx = split_train_val(len(mnist.train_labels), train.val_size, train.seed)
    images, labels = mnist.served_train[val_idx], mnist.train_labels[val_idx]
    clean = images.unsqueeze(1).float()
    distorted = augment_batch(images, AugmentConfig(), torch.Generator().manual_seed(cfg.seed))

    groups = {"clean": (clean, labels), "distorted": (distorted, labels)}
    if mnist.served_train_dark is not None:  # the same digits sent dark on light, normalised
        groups["dark"] = (mnist.served_train_dark[val_idx].unsqueeze(1).float(), labels)
    if (cfg.realistic / "labels.csv").exists():
        groups["realistic"] = realistic_images(cfg.realistic)
    conf_parts, right_parts = [], []
    for name, (batch, truth) in groups.items():
        conf, digit = confidences(model, batch)
        right = digit == truth
        conf_parts.append(conf)
        right_parts.append(right)
        print(f"{name:>9}: {len(truth)} images, accuracy {right.float().mean():.4f}")
    conf, right = torch.cat(conf_parts), torch.cat(right_parts)

    rows = band_table(conf, right, cfg)
    print(f"\nconfidence band   answers   accuracy   ({' + '.join(groups)}, {len(conf)} answers)")
    for edge, n, accuracy in rows:
        print(f"  [{edge:.2f}, {min(edge + cfg.band, 1.0):.2f})  {n:8d}   {accuracy:8.3f}")
    threshold = choose_threshold(rows, cfg)
    print(f"\nthreshold {threshold:.2f}: share of answers below it, and accuracy below / above")
    parts = [*zip(groups, conf_parts, right_parts, strict=True), ("all", conf, right)]
    for name, group_conf, group_right in parts:
        below = group_conf < threshold
        print(
            f"{name:>11}: {int(below.sum()):5d} answers ({below.float().mean():6.2%}),"
            f" right {group_right[below].float().mean():.3f} below,"
            f" {group_right[~below].float().mean():.4f} above"
        )
    below = conf < threshold
    print(
        f"\nBelow {threshold:.0%}, answers are right {right[below].float().mean():.0%} of the time"
        f" ({int(below.sum())} of {len(conf)}); from {threshold:.0%} up,"
        f" {right[~below].float().mean():.2%}."
    )


if __name__ == "__main__":
    main()
