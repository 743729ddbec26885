"""MNIST as the served chain sees it: every digit written as PNG, then the handler's preprocess.

    python -m tools.normalised_mnist                  # build if missing; prints the cache's path
    python -m tools.normalised_mnist --data-dir /elsewhere/mnist

At serving time every image goes through `handler.preprocess.preprocess`. A digit already in
MNIST's form (as MNIST's own, sent as 28×28 PNG) is passed through as it is; any other image is
normalised (ink map, crop, fit to 20×20, centre of mass, stroke widening). Training on both, not
on the raw MNIST tensors alone, removes the train/serve skew, so each digit is served twice: as
MNIST has it, and dark on light (255 − pixels, as a scan or a photo of paper has it), which takes
the whole normalisation. Running the handler on 140,000 images (and ~6,100 flagged 1s) takes a
few minutes, so it is done once and cached as data/normalised/<key>.npz, where the key is the
sha256 of the MNIST files, the handler's sources, training/continental_ones.py, FORMAT below and
the image libraries' versions: the cache is rebuilt exactly when one of them changes. Training
reads the arrays and never imports the handler beyond `handler.normalize` (see test_layout.py).

The npz holds `train` (60000, 28, 28) and `test` (10000, 28, 28) uint8 digits in MNIST's order,
`train_dark` and `test_dark` (the same digits sent dark on light), `<name>_refused` for each
(the images the handler refused; their digit is blank) and
`mnist_sha256` (JSON of the IDX checksums, which training checks against the files it loads).
It also holds `train_flagged`: the training set's 1s with a continental flag drawn on
(training.continental_ones), served the same way, and `train_flagged_source`, the index in `train`
of the 1 each was drawn from (1s that are not straight sticks get none).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import PIL

from handler.limits import InputError
from handler.preprocess import preprocess, to_png
from tools.cli import parse_config
from tools.paths import HANDLER_DIR, REPO_ROOT
from training.continental_ones import add_flag
from training.data import DEFAULT_DATA_DIR, load_mnist

NORMALISED_DIR = REPO_ROOT / "data" / "normalised"
FORMAT = 3  # bump when this file changes how the digits are written or stored
CHUNK = 500  # images per task: large enough to amortise the pickling, small for a smooth bar
FLAG_SEED = 1  # the flags drawn on the 1s: the same cache key gives the same flags


@dataclass
class Config:
    data_dir: Path = REPO_ROOT / DEFAULT_DATA_DIR  # the four MNIST IDX files
    out_dir: Path = NORMALISED_DIR  # where <key>.npz is written
    workers: int = 0  # processes (0 = one per core)
    quiet: bool = False  # no progress line


def cache_key(mnist_sha256: dict[str, str]) -> str:
    """sha256 of everything the cached digits depend on."""
    digest = hashlib.sha256(json.dumps(mnist_sha256, sort_keys=True).encode())
    digest.update(f"format {FORMAT}".encode())
    for path in [*sorted(HANDLER_DIR.glob("*.py")), REPO_ROOT / "training" / "continental_ones.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(
        f"numpy {np.__version__} opencv {cv2.__version__} pillow {PIL.__version__}".encode()
    )
    return digest.hexdigest()


def served_digits(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, 28, 28) digits → (the handler's output for each as PNG, refused mask)."""
    out = np.zeros_like(images)
    refused = np.zeros(len(images), dtype=bool)
    for i, image in enumerate(images):
        try:
            out[i] = preprocess(to_png(image))
        except InputError:
            refused[i] = True  # stays blank: wrong in every accuracy, left out of training
    return out, refused


def flagged_ones(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 1s among `images` with a flag drawn on, and the index of the 1 each came from."""
    rng = np.random.default_rng(FLAG_SEED)
    flagged, source = [], []
    for index in np.flatnonzero(labels == 1):
        one = add_flag(images[index], rng)
        if one is not None:
            flagged.append(one)
            source.append(index)
    return np.stack(flagged), np.array(source, dtype=np.int64)


def _progress(done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    eta = (total - done) / max(rate, 1e-9)
    print(
        f"\r  {done:,}/{total:,} images, {rate:,.0f}/s, {eta:.0f} s left ", end="", file=sys.stderr
    )


def build(images: np.ndarray, workers: int, quiet: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`served_digits` over all the cores, with a progress line on stderr."""
    chunks = [images[i : i + CHUNK] for i in range(0, len(images), CHUNK)]
    digits, refused, done, started = [], [], 0, time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers or os.cpu_count()) as pool:
        for out, mask in pool.imap(served_digits, chunks):  # imap keeps MNIST's order
            digits.append(out)
            refused.append(mask)
            done += len(out)
            if not quiet:
                _progress(done, len(images), started)
    if not quiet:
        print(file=sys.stderr)
    return np.concatenate(digits), np.concatenate(refused)


def ensure(config: Config) -> Path:
    """The cache file for the current MNIST and handler, built first when missing."""
    mnist = load_mnist(config.data_dir, quiet=config.quiet)
    path = config.out_dir / f"{cache_key(mnist.checksums)}.npz"
    if path.exists():
        return path
    if not config.quiet:
        print(
            f"Running the handler's preprocessing on MNIST (twice) and its flagged 1s → {path}",
            file=sys.stderr,
        )
    flagged, source = flagged_ones(mnist.train_images.numpy(), mnist.train_labels.numpy())
    arrays = {"train_flagged_source": source}
    train, test = mnist.train_images.numpy(), mnist.test_images.numpy()
    for split, images in [
        ("train", train),
        ("test", test),
        ("train_dark", 255 - train),
        ("test_dark", 255 - test),
        ("train_flagged", flagged),
    ]:
        arrays[split], arrays[f"{split}_refused"] = build(images, config.workers, config.quiet)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")  # never a half-written cache under the key
    with partial.open("wb") as f:
        np.savez_compressed(f, mnist_sha256=json.dumps(mnist.checksums), **arrays)
    partial.rename(path)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    print(ensure(parse_config(Config, argv)))


if __name__ == "__main__":
    main()
