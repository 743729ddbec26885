"""Generate a realistic digit set: digits as people draw and photograph them, not MNIST.

Every sample is one person's digit (`bench.strokes`: a jittered writing style of that digit)
rendered the way one kind of input arrives (`bench.renderers`: a browser canvas export, a photo
of paper, a tiny upload, and so on).

    python -m bench.realistic_digits --out artifacts/realistic --per-class 50

writes `{category}_{digit}_{i}.png|jpg`, a `labels.csv` (file, category, digit, style) and a
contact sheet of samples to look at. Everything is deterministic given --seed.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench.renderers import CATEGORIES, RENDERERS
from bench.strokes import handwriting
from tools.cli import parse_config
from tools.paths import ARTIFACTS_DIR, REALISTIC_DIR


@dataclass
class Config:
    """What to generate and where."""

    out: Path = REALISTIC_DIR  # folder for the images and labels.csv
    per_class: int = 50  # samples per digit and category
    seed: int = 0  # the same seed gives byte-identical files
    sheet: Path = ARTIFACTS_DIR / "realistic_contact_sheet.png"  # grid of samples to look at


def render_sample(category: str, digit: int, index: int, seed: int = 0) -> tuple[bytes, str, str]:
    """One sample's file bytes, extension and writing style; depends only on its arguments."""
    rng = np.random.default_rng([seed, CATEGORIES.index(category), digit, index])
    style, strokes = handwriting(digit, rng)
    data, extension = RENDERERS[category](strokes, rng)
    return data, extension, style


def generate(config: Config) -> list[dict[str, str]]:
    """Write every sample and labels.csv; returns the label rows."""
    config.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for category in CATEGORIES:
        for digit in range(10):
            for index in range(config.per_class):
                data, extension, style = render_sample(category, digit, index, config.seed)
                name = f"{category}_{digit}_{index}.{extension}"
                (config.out / name).write_bytes(data)
                rows.append(
                    {"file": name, "category": category, "digit": str(digit), "style": style}
                )
        print(f"  {category}: {10 * config.per_class} images", flush=True)
    with (config.out / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "category", "digit", "style"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def contact_sheet(folder: Path, rows: list[dict[str, str]], path: Path, per_row: int = 20) -> None:
    """A grid, one row per category, of the first samples; transparency shown as light grey."""
    tile = 64
    sheet = Image.new("RGB", (90 + per_row * tile, len(CATEGORIES) * tile), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for row, category in enumerate(CATEGORIES):
        draw.text((4, row * tile + tile // 2 - 6), category, fill=(0, 0, 0))
        # Sample 0 of every digit, then sample 1 of every digit, and so on.
        samples = sorted(
            (r for r in rows if r["category"] == category),
            key=lambda r: (int(Path(r["file"]).stem.rsplit("_", 1)[1]), int(r["digit"])),
        )
        for column, sample in enumerate(samples[:per_row]):
            image = Image.open(folder / sample["file"]).convert("RGBA")
            image.thumbnail((tile - 4, tile - 4), Image.Resampling.LANCZOS)
            backdrop = Image.new("RGBA", image.size, (210, 210, 210, 255))
            image = Image.alpha_composite(backdrop, image).convert("RGB")
            sheet.paste(image, (90 + column * tile + 2, row * tile + 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_config(Config, argv)
    total = len(CATEGORIES) * 10 * config.per_class
    print(f"Writing {total} realistic digits to {config.out} (seed {config.seed})")
    rows = generate(config)
    contact_sheet(config.out, rows, config.sheet)
    print(f"Labels in {config.out / 'labels.csv'}; contact sheet in {config.sheet}")


if __name__ == "__main__":
    main()
