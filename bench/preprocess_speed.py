"""In-process preprocessing time per kind of input: bytes in, 28×28 digit out, one core.

    python -m bench.preprocess_speed --runs 200

Each input is preprocessed a few times to warm up, then `runs` times; the median and 90th
percentile are over all the timed runs of a kind. The inputs: docs/samples/seven.png and canvas
exports, small thumbnails and bigger PNG uploads from the realistic set, and its photos (on
paper and on a desk) enlarged to 1 and 4 megapixels, as a phone takes them. Timings on a shared
machine vary by tens of percent between runs: compare medians of repeated runs.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bench.realistic_digits import render_sample
from handler.preprocess import preprocess
from tools.cli import parse_config
from tools.paths import SAMPLES_DIR


@dataclass
class Config:
    """How long to measure."""

    runs: int = 200  # timed runs per input, after warm-up
    warmup: int = 5  # untimed runs per input first
    per_kind: int = 5  # inputs per kind (different digits)


def enlarged_photo(category: str, digit: int, megapixels: float) -> bytes:
    """A realistic photo enlarged to `megapixels` and saved as a camera would (JPEG, quality 90)."""
    image = Image.open(io.BytesIO(render_sample(category, digit, 0)[0])).convert("RGB")
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    size = (round(image.width * scale), round(image.height * scale))
    buffer = io.BytesIO()
    image.resize(size, Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def inputs(per_kind: int) -> dict[str, list[bytes]]:
    """{kind: input files}; photos alternate between a sheet filling the frame and one on a desk."""
    digits = range(per_kind)
    uploads = ("offcentre", "large", "thick", "thin", "inverted")
    photos = ("photo", "desk")
    return {
        "canvas PNG 280×280": [(SAMPLES_DIR / "seven.png").read_bytes()]
        + [render_sample("canvas", d, 0)[0] for d in digits[1:]],
        "small upload PNG 14–32 px": [render_sample("small", d, 0)[0] for d in digits],
        "upload PNG 280–1100 px": [render_sample(uploads[d % 5], d, 0)[0] for d in digits],
        "photo JPEG 1 MP": [enlarged_photo(photos[d % 2], d, 1.0) for d in digits],
        "photo JPEG 4 MP": [enlarged_photo(photos[d % 2], d, 4.0) for d in digits],
    }


def milliseconds(data: bytes, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        preprocess(data)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        preprocess(data)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_config(Config, argv)
    print(f"{'input':<26} {'median ms':>9} {'p90 ms':>7}  ({config.runs} runs × {config.per_kind})")
    for kind, files in inputs(config.per_kind).items():
        times = [t for data in files for t in milliseconds(data, config.runs, config.warmup)]
        print(f"{kind:<26} {np.median(times):>9.2f} {np.percentile(times, 90):>7.2f}", flush=True)


if __name__ == "__main__":
    main()
