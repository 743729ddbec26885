"""A folder of labelled 28×28 digits: what `make feedback-export` writes and `--extra-data` reads.

The layout (one folder, every file optional to a reader except the IDX pair):

  images-idx3-ubyte   (N, 28, 28) uint8, white ink on black: the handler's output, MNIST's format
  labels-idx1-ubyte   (N,) uint8, the digit each image shows
  labels.csv          one row per digit, in the IDX order: `index,label,digit_file,original_file`
                      plus any extra columns the writer was given (e.g. `predicted`, `mode`)
  digits/<index>.png  the same 28×28 digit as a PNG, to look at
  originals/<name>    the image as it was sent, when known (a number's digits share one)

Training reads only the IDX pair (training.data.parse_idx), so it needs nothing from tools/.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from training.extra_data import IMAGES_IDX, LABELS_IDX  # the IDX pair training reads

LABELS_CSV = "labels.csv"
DIGITS_DIR = "digits"
ORIGINALS_DIR = "originals"


@dataclass
class LabelledDigit:
    """One row of the data set."""

    digit: np.ndarray  # uint8 (28, 28), white ink on black
    label: int  # 0–9
    original: bytes | None = None  # the image as sent, if kept
    original_name: str | None = None  # its file name under originals/ (shared rows write it once)
    extra: dict[str, object] = field(default_factory=dict)  # more labels.csv columns


def idx_bytes(array: np.ndarray) -> bytes:
    """A uint8 array → an IDX file (MNIST's format: magic 0x0000 08 ndim, big-endian sizes)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    return header + array.tobytes()


def _png(digit: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(digit, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def write_dataset(out: Path, rows: Sequence[LabelledDigit]) -> None:
    """Write `rows` to the folder `out` (created if missing; same-named files are overwritten)."""
    for row in rows:
        if row.digit.shape != (28, 28) or not 0 <= row.label <= 9:
            raise ValueError(f"a row must be a (28, 28) digit labelled 0–9, not {row.digit.shape}")
    (out / DIGITS_DIR).mkdir(parents=True, exist_ok=True)
    (out / ORIGINALS_DIR).mkdir(exist_ok=True)
    digits = np.stack([row.digit for row in rows]) if rows else np.zeros((0, 28, 28), np.uint8)
    (out / IMAGES_IDX).write_bytes(idx_bytes(digits))
    (out / LABELS_IDX).write_bytes(idx_bytes(np.array([row.label for row in rows], np.uint8)))
    extra_columns = sorted({name for row in rows for name in row.extra})
    with open(out / LABELS_CSV, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "label", "digit_file", "original_file", *extra_columns])
        for index, row in enumerate(rows):
            digit_file = f"{DIGITS_DIR}/{index}.png"
            (out / digit_file).write_bytes(_png(row.digit))
            original_file = ""
            if row.original is not None and row.original_name:
                original_file = f"{ORIGINALS_DIR}/{row.original_name}"
                if not (out / original_file).exists():
                    (out / original_file).write_bytes(row.original)
            extras = ["" if row.extra.get(c) is None else row.extra[c] for c in extra_columns]
            writer.writerow([index, row.label, digit_file, original_file, *extras])
