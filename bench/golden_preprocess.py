"""Golden outputs of the preprocessing: a fixed sample of inputs and the digits they give.

    python -m bench.golden_preprocess           # rewrite tests/data/golden_preprocess.npz
    python -m bench.golden_preprocess --check   # compare today's pipeline with it

The sample is deterministic, so only the outputs are stored, never the inputs: every category ×
digit × 5 indices of the realistic set (450 images) and the first 500 MNIST test digits written
as PNG. A refused input is stored as its error code (and a blank digit). The file was written
before the preprocessing was rewritten for speed; the tests compare today's pipeline with it.
Its MNIST outputs were rewritten on 7 Dec 2026, when a digit already in MNIST's form began to be
passed through as it is (handler.normalize.is_normalised): they are now MNIST's own pixels. The
realistic ones are still the old pipeline's.

How close is close. The digit is placed at whole pixels (its centre of mass rounded) and its box
is rounded to whole pixels, so a faint pixel of ink more or less moves a digit by a pixel or widens
it by one: 5 to 12 grey levels of mean absolute difference for the same digit. So outputs are
compared after the best shift of at most one pixel each way. Most are then equal or within a grey
level (JPEG luma now comes from libjpeg, not from PIL's RGB; clean drawings skip the background
estimate; phone photos are decoded at reduced scale), which MAX_MEDIAN and MAX_P90 bound. Each
may differ by MAX_DIFFERENCE (a pixel of width, no more), except 1% of them: decisions on a
threshold can flip, such as a blob of exactly 5% of the digit kept or dropped as a speck.
Refusals must be the same.
"""

from __future__ import annotations

from collections import defaultdict
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

# Mean absolute differences allowed, in grey levels (see above). Measured on the whole sample:
# median 0.00, 90% within 0.01 (within 1.4 in every category), 99% within 1.5, the largest 21.6
# (a desk photo, where a piece of the sheet's edge passes for ink in both).
MAX_DIFFERENCE = 16.0
MAX_OUTLIERS = 0.01  # the share of outputs that may differ by more
MAX_MEDIAN = 0.5
MAX_P90 = 2.0


@dataclass
class Config:
    """Where the golden outputs are and how many inputs they cover."""

    out: Path = GOLDEN_PREPROCESS  # compressed npz: ids, digits, codes
    per_class: int = 5  # realistic samples per category and digit
    mnist: int = 500  # first MNIST test digits, written as PNG
    check: bool = False  # compare today's pipeline with the file instead of writing it


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


def compare(current: dict[str, np.ndarray], golden_path: Path = GOLDEN_PREPROCESS) -> dict:
    """Today's outputs against the golden ones, for the ids in `current`.

    Returns {"refusals": ids refused differently, "differences": {id: mean absolute difference
    in grey levels, after the best shift of at most one pixel}} for the inputs both accepted.
    """
    with np.load(golden_path) as golden:
        row = {sample_id: i for i, sample_id in enumerate(golden["ids"])}
        digits, codes = golden["digits"], golden["codes"]
    refusals, differences = [], {}
    for sample_id, digit, code in zip(
        current["ids"], current["digits"], current["codes"], strict=True
    ):
        i = row[sample_id]
        if code != codes[i]:
            refusals.append(str(sample_id))
        elif not code:
            differences[str(sample_id)] = _aligned_difference(digit, digits[i])
    return {"refusals": refusals, "differences": differences}


def problems(result: dict) -> list[str]:
    """What makes a comparison fail the tolerances above; empty when it passes."""
    found = [f"{sample_id} is refused differently" for sample_id in result["refusals"]]
    differences = result["differences"]
    outliers = {i: d for i, d in differences.items() if d > MAX_DIFFERENCE}
    if len(outliers) > np.ceil(MAX_OUTLIERS * len(differences)):
        found += [f"{i} differs by {d:.1f} grey levels" for i, d in outliers.items()]
    median, p90 = np.percentile(list(differences.values()), [50, 90])
    if median > MAX_MEDIAN or p90 > MAX_P90:
        found.append(f"median difference {median:.2f}, 90th percentile {p90:.2f} grey levels")
    return found


def _aligned_difference(digit: np.ndarray, reference: np.ndarray) -> float:
    digit, reference = digit.astype(np.float32), reference.astype(np.float32)
    return min(
        float(np.abs(np.roll(digit, (rows, columns), axis=(0, 1)) - reference).mean())
        for rows in (-1, 0, 1)
        for columns in (-1, 0, 1)
    )


def print_comparison(result: dict) -> None:
    """The distribution of the differences, per category and overall."""
    groups = defaultdict(list)
    for sample_id, difference in result["differences"].items():
        groups[sample_id.split("_")[0]].append(difference)
    groups["all"] = list(result["differences"].values())
    print(f"refused differently: {result['refusals'] or 'none'}")
    print(f"{'inputs':<10} {'n':>4} {'median':>7} {'p90':>6} {'p99':>6} {'max':>6}  ≤ 2 levels")
    for name, values in groups.items():
        median, p90, p99 = np.percentile(values, [50, 90, 99])
        within = np.mean(np.asarray(values) <= 2)
        print(
            f"{name:<10} {len(values):>4} {median:>7.2f} {p90:>6.2f} {p99:>6.2f} "
            f"{max(values):>6.2f}  {within:.0%}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_config(Config, argv)
    current = run([*realistic_inputs(range(config.per_class)), *mnist_inputs(config.mnist)])
    if config.check:
        result = compare(current, config.out)
        print_comparison(result)
        print("\n".join(problems(result)) or "Within the tolerances.")
        return
    config.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(config.out, **current)
    refused = int((current["codes"] != "").sum())
    print(f"{len(current['ids'])} outputs ({refused} refused) in {config.out}")


if __name__ == "__main__":
    main()
