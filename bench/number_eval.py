"""Score whole-number reading on generated strings of MNIST digits (bench.number_strings).

    python -m bench.number_eval                      # the report: strings of MNIST test digits
    python -m bench.number_eval --split val          # for choosing segmentation parameters
    python -m bench.number_eval --split val --segment '{"pair_threshold": 0.9}'

Every string goes through the handler's own code path in-process (MnistHandler.handle, the
`X-Read: number` header, the shipped model), as TorchServe would call it, and so does each of
its digits rendered alone (single-digit reading). Prints, per set ("apart": no touching pair,
"touching": one touching pair) and per style: the share of strings read exactly right, the
per-digit accuracy inside numbers (digits matched along the longest common subsequence of the
truth and the reading) and the single-digit accuracy of the same digits rendered alone. Writes
summary.json and failures.png (the first failures of each set, with truth and reading) to --out,
and, for the test split, copies the failures to docs/images/number_failures.png.

Choose parameters on `--split val` only: strings of the 5,000 validation digits, which neither
the model nor the segmenter's helper networks learnt from. The test strings are the report.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from bench.number_strings import SETS, NumberString, StringConfig, generate, mnist_digits
from handler.mnist_handler import MnistHandler
from handler.segment import DIGIT_CHECK_FILE, PAIR_READER_FILE
from tools.cli import parse_config
from tools.paths import (
    ARTIFACTS_DIR,
    REPO_ROOT,
    SERVE_CONFIG_DIR,
    SHIPPED_DIGIT_CHECK,
    SHIPPED_MODEL,
    SHIPPED_PAIR_READER,
)

BATCH = 8  # requests per handler call, as TorchServe batches them
FAILURES_SHOWN = 8  # per set, in failures.png
THUMBNAIL = (560, 90)  # largest size of each string in failures.png
DOCS_FAILURES = REPO_ROOT / "docs" / "images" / "number_failures.png"


@dataclass
class EvalConfig:
    """Which strings to score, and how."""

    split: str = "test"  # MNIST digits the strings are made of: test (the report), val, train
    count: int = 1000  # strings per set
    seed: int = 0  # the strings drawn
    model: Path = SHIPPED_MODEL  # TorchScript model the handler loads
    digit_check: Path = SHIPPED_DIGIT_CHECK  # the digit check packed beside it (tools.digit_check)
    pair_reader: Path = SHIPPED_PAIR_READER  # and the pair reader (tools.pair_reader)
    segment: str = ""  # JSON of handler.segment.SegmentConfig fields to override (tuning)
    out: Path = ARTIFACTS_DIR / "numbers"  # summary.json and failures.png


@dataclass
class _Metrics:
    """Record what the handler emits, and nothing else (the bench reads no metric)."""

    def add_time(self, *args: Any, **kwargs: Any) -> None:
        pass

    add_counter = add_metric = add_time


@dataclass
class _Context:
    """The parts of TorchServe's context the handler uses."""

    model_dir: Path
    handler_settings: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)  # the same for every request
    statuses: dict[int, int] = field(default_factory=dict)
    metrics: _Metrics = field(default_factory=_Metrics)

    @property
    def system_properties(self) -> dict[str, Any]:
        return {"model_dir": str(self.model_dir), "gpu_id": None, "batch_size": BATCH}

    @property
    def manifest(self) -> dict[str, Any]:
        return {"model": {"modelName": "mnist", "serializedFile": "model.pt"}}

    @property
    def model_yaml_config(self) -> dict[str, Any]:
        return {"handler": self.handler_settings}

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return self.headers

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.statuses[idx] = code

    def set_response_content_type(self, idx: int, value: str) -> None:
        pass


class Reader:
    """The handler, loaded as TorchServe loads it, reading files as numbers or single digits."""

    def __init__(
        self,
        model: Path,
        digit_check: Path,
        pair_reader: Path,
        segment: dict[str, Any],
        folder: Path,
    ) -> None:
        shutil.copy(model, folder / "model.pt")
        shutil.copy(digit_check, folder / DIGIT_CHECK_FILE)
        shutil.copy(pair_reader, folder / PAIR_READER_FILE)
        shutil.copy(SERVE_CONFIG_DIR / "index_to_name.json", folder)
        self.context = _Context(folder, {"segment": segment})
        self.handler = MnistHandler()
        self.handler.initialize(self.context)

    def read(self, files: list[bytes], number: bool) -> list[dict]:
        """One answer per file (a number's, a digit's, or an error), in batches."""
        self.context.headers = {"X-Read": "number" if number else "digit"}
        answers = []
        for start in range(0, len(files), BATCH):
            batch = [{"body": bytearray(data)} for data in files[start : start + BATCH]]
            answers += self.handler.handle(batch, self.context)
        return answers


def common_length(truth: str, read: str) -> int:
    """Length of the longest common subsequence: the digits read right, in order."""
    row = [0] * (len(read) + 1)
    for t in truth:
        previous_diagonal = 0
        for j, r in enumerate(read, 1):
            above = row[j]
            row[j] = previous_diagonal + 1 if t == r else max(row[j], row[j - 1])
            previous_diagonal = above
    return row[-1]


def score_set(reader: Reader, strings: list[NumberString], name: str) -> tuple[dict, list]:
    """Exact-string, in-number per-digit and alone per-digit accuracy; and the failures."""
    answers = []
    for start in range(0, len(strings), 100):
        answers += reader.read([s.data for s in strings[start : start + 100]], number=True)
        print(f"  {name}: {len(answers)}/{len(strings)} strings read", file=sys.stderr, flush=True)
    alone_files = [file for s in strings for file in s.alone]
    alone = reader.read(alone_files, number=False)
    tallies: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failures = []
    position = 0
    for string, answer in zip(strings, answers, strict=True):
        truth = "".join(map(str, string.labels))
        read = answer.get("number", "")
        singles = alone[position : position + len(truth)]
        position += len(truth)
        right_alone = sum(a.get("digit") == d for a, d in zip(singles, string.labels, strict=True))
        for group in ("all", string.style):
            tally = tallies[group]
            tally["strings"] += 1
            tally["exact"] += read == truth
            tally["miscounted"] += len(read) != len(truth)
            tally["digits"] += len(truth)
            tally["in_number"] += common_length(truth, read)
            tally["alone"] += right_alone
        if read != truth:
            failures.append((string, read or answer.get("error", "?")))
    return {group: _rates(tally) for group, tally in tallies.items()}, failures


def _rates(tally: dict[str, int]) -> dict[str, float | int]:
    return {
        "strings": tally["strings"],
        "exact": tally["exact"] / tally["strings"],
        "miscounted": tally["miscounted"] / tally["strings"],
        "digits": tally["digits"],
        "digit_in_number": tally["in_number"] / tally["digits"],
        "digit_alone": tally["alone"] / tally["digits"],
    }


def failure_sheet(failures: dict[str, list], path: Path) -> None:
    """The first failures of each set, one per row: the image, then truth → reading."""
    rows = [
        (name, s, read) for name, found in failures.items() for s, read in found[:FAILURES_SHOWN]
    ]
    if not rows:
        return
    images = [_on_white(s.data) for _, s, _ in rows]
    for image in images:
        image.thumbnail((THUMBNAIL[0], THUMBNAIL[1]))
    row_heights = [max(image.height, 64) + 8 for image in images]  # room for three lines of text
    text_x = max(image.width for image in images) + 20
    width, height = text_x + 180, sum(row_heights) + 8
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    y = 8
    for (name, string, read), image, row in zip(rows, images, row_heights, strict=True):
        sheet.paste(image, (8, y))
        truth = "".join(map(str, string.labels))
        draw.text((text_x, y + 4), f"{name}, {string.style}", fill="grey")
        draw.text((text_x, y + 24), f"truth {truth}", fill="black")
        draw.text((text_x, y + 44), f"read  {read}", fill="black")
        y += row
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.convert("L").save(path, optimize=True)  # grey: a small file for the docs


def _on_white(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data)).convert("RGBA")
    white = Image.new("RGBA", image.size, "white")
    white.alpha_composite(image)
    return white.convert("RGB")


def main(argv: Sequence[str] | None = None) -> dict:
    config = parse_config(EvalConfig, argv)
    segment = json.loads(config.segment) if config.segment else {}
    images, labels = mnist_digits(config.split)
    summary: dict[str, Any] = {"config": {**dataclasses.asdict(config), "segment": segment}}
    summary["config"] = {k: str(v) for k, v in summary["config"].items()}
    summary["strings"] = dataclasses.asdict(StringConfig())
    failures = {}
    with tempfile.TemporaryDirectory() as folder:
        reader = Reader(config.model, config.digit_check, config.pair_reader, segment, Path(folder))
        for name in SETS:
            print(
                f"Generating {config.count} '{name}' strings of MNIST {config.split} digits",
                file=sys.stderr,
                flush=True,
            )
            strings = list(generate(images, labels, name, config.count, config.seed))
            summary[name], failures[name] = score_set(reader, strings, name)
    print_summary(summary)
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    failure_sheet(failures, config.out / "failures.png")
    if config.split == "test" and (config.out / "failures.png").exists():
        shutil.copy(config.out / "failures.png", DOCS_FAILURES)
    print(f"Wrote {config.out / 'summary.json'} and {config.out / 'failures.png'}")
    return summary


def print_summary(summary: dict) -> None:
    print(f"\nWhole numbers on MNIST {summary['config']['split']} digits")
    print(
        f"{'set':10} {'style':7} {'strings':>7} {'exact':>7} {'miscount':>8} "
        f"{'digit in number':>15} {'digit alone':>11} {'gap':>6}"
    )
    for name in SETS:
        for group, r in summary[name].items():
            gap = 100 * (r["digit_alone"] - r["digit_in_number"])
            print(
                f"{name:10} {group:7} {r['strings']:7d} {100 * r['exact']:6.2f}% "
                f"{100 * r['miscounted']:7.2f}% {100 * r['digit_in_number']:14.2f}% "
                f"{100 * r['digit_alone']:10.2f}% {gap:5.2f}"
            )


if __name__ == "__main__":
    main()
