"""Golden outputs of the preprocessing: a fixed sample of inputs and the digits they give.

    python -m bench.golden_preprocess        # rewrites tests/data/golden_preprocess.npz

The sample is deterministic, so only the outputs are stored, never the inputs: every category ×
digit × 5 indices of the realistic set (450 images) and the first 500 MNIST test digits written
as PNG. A refused input is stored as its error code (and a blank digit). The tests regenerate
the inputs and compare today's pipeline with the file, so a faster implementation cannot move
the outputs unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.realistic_digits import render_sample
from bench.renderers import CATEGORIES
from handler.limits import InputError
from handler.preprocess import preprocess, to_png
from tools.cli import parse_config
from tools.paths import GOLDEN_PREPROCESS, REPO_ROOT
from training.data import DEFAULT_DATA_DIR, load_mnist

Sample = tuple[str, bytes]  # an input's id and its file bytes


@dataclass
class Config:
    """Where to write the golden outputs and how many inputs to take."""

    out: Path = GOLDEN_PREPROCESS  # compressed npz: ids, digits, codes
    per_class: int = 5  # realistic samples per category and digit
    mnist: int = 500  # first MNIST test digits, written as PNG


def realistic_inputs(indices: Iterable[int]) -> Iterator[Sample]:
    """Realistic samples (seed 0), named `{category}_{digit}_{index}` like the set's files."""
    for category in CATEGORIES:
        for digit in range(10):
            for index in indices:
                yield f"{category}_{digit}_{index}", render_sample(category, digit, index)[0]


def mnist_inputs(count: int) -> Iterator[Sample]:
    """The first `count` MNIST test digits as PNG files `mnist_{i}`; data/mnist must hold MNIST."""
    images = load_mnist(REPO_ROOT / DEFAULT_DATA_DIR, fetch=False).test_images[:count]
    for i, image in enumerate(images):
        yield f"mnist_{i}", to_png(image.numpy())


def run(samples: Iterable[Sample]) -> dict[str, np.ndarray]:
    """{"ids", "digits", "codes"}: each input's 28×28 output, or its error code ("" if none)."""
    ids, digits, codes = [], [], []
    for sample_id, data in samples:
        try:
            digit, code = preprocess(data), ""
        except InputError as error:
            digit, code = np.zeros((28, 28), dtype=np.uint8), error.code
        ids.append(sample_id)
        digits.append(digit)
        codes.append(code)
    return {"ids": np.array(ids), "digits": np.stack(digits), "codes": np.array(codes)}


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_config(Config, argv)
    samples = [*realistic_inputs(range(config.per_class)), *mnist_inputs(config.mnist)]
    golden = run(samples)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(config.out, **golden)
    refused = int((golden["codes"] != "").sum())
    print(f"{len(samples)} outputs ({refused} refused) in {config.out}")


if __name__ == "__main__":
    main()
