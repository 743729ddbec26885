"""Extra labelled digits for training (`--extra-data DIR`), e.g. people's corrections.

The folder is in tools.digit_dataset's format (what `make feedback-export` writes); only its IDX
pair is read here, so training needs nothing from tools/:

  images-idx3-ubyte   (N, 28, 28) uint8: the handler's output for each image, as served
  labels-idx1-ubyte   (N,) uint8 labels 0–9

The digits join the training split only (never validation, never the test set), each counted
`weight` times per epoch by oversampling (`epoch_order`), and are augmented like the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training.data import MnistDataError, parse_idx

IMAGES_IDX = "images-idx3-ubyte"  # the names tools.digit_dataset writes
LABELS_IDX = "labels-idx1-ubyte"


class ExtraDataError(MnistDataError):
    """A one-line, actionable problem with an --extra-data folder."""


@dataclass
class ExtraDigits:
    """The digits of one --extra-data folder, and what the run report records about them."""

    folder: str
    images: torch.Tensor  # uint8 (N, 28, 28)
    labels: torch.Tensor  # int64 (N,)
    sha256: dict[str, str]  # IDX file name → sha256 of its bytes

    def describe(self, weight: float) -> dict:
        """The report's record of this data: folder, count, checksums and weight."""
        return {
            "folder": self.folder,
            "count": len(self.labels),
            "sha256": self.sha256,
            "weight": weight,
            "per_epoch": extra_draws(len(self.labels), weight),
        }


def load_extra(folder: Path) -> ExtraDigits:
    """Read and check the IDX pair in `folder`; raises ExtraDataError with what is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExtraDataError(f"--extra-data {folder}: no such folder")
    arrays, sha256 = {}, {}
    for name in (IMAGES_IDX, LABELS_IDX):
        path = folder / name
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise ExtraDataError(
                f"--extra-data {folder}: cannot read {name} ({error.strerror}); expected a folder "
                "written by `make feedback-export` (tools.digit_dataset)"
            ) from None
        try:
            arrays[name] = parse_idx(raw, str(path))
        except MnistDataError as error:
            raise ExtraDataError(f"--extra-data: {error}") from None
        sha256[name] = hashlib.sha256(raw).hexdigest()
    images, labels = arrays[IMAGES_IDX], arrays[LABELS_IDX]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ExtraDataError(f"--extra-data {folder}: images are {images.shape}, not (N, 28, 28)")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ExtraDataError(
            f"--extra-data {folder}: {len(images)} images but labels of shape {labels.shape}"
        )
    if len(labels) == 0:
        raise ExtraDataError(f"--extra-data {folder}: the data set holds no digits")
    if labels.max() > 9:
        raise ExtraDataError(f"--extra-data {folder}: label {labels.max()} is not a digit 0–9")
    return ExtraDigits(
        folder=str(folder),
        images=torch.from_numpy(images.copy()),
        labels=torch.from_numpy(labels.astype(np.int64)),
        sha256=sha256,
    )


def extra_draws(count: int, weight: float) -> int:
    """How many extra digits each epoch trains on: `weight` per digit, rounded."""
    return round(count * weight)


def epoch_order(n_base: int, n_extra: int, weight: float, gen: torch.Generator) -> torch.Tensor:
    """One epoch's shuffled indices into base + extra images (extra ones from n_base on).

    Every base image once; every extra image floor(weight) times plus, for the fraction, a fresh
    random share of them, so each counts `weight` times on average. Repeats are augmented anew.
    """
    if n_extra == 0:
        return torch.randperm(n_base, generator=gen)
    whole, share = int(weight), extra_draws(n_extra, weight) - int(weight) * n_extra
    extra = torch.cat(
        [
            torch.arange(n_extra).repeat(whole),
            torch.randperm(n_extra, generator=gen)[:share],
        ]
    )
    pool = torch.cat([torch.arange(n_base), n_base + extra])
    return pool[torch.randperm(len(pool), generator=gen)]
