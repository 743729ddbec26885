"""Pack the shipped model and the handler into model_store/mnist.mar, byte for byte reproducibly.

The archive's Python is exactly `handler/*.py`, as the package `handler/`. torch-model-archiver lays
an archive out flat: the serialized model, a copy of the handler file and model-config.yaml at the
root, plus the *contents* of each --extra-files directory. TorchServe unpacks it into model_dir and
puts model_dir on the worker's sys.path, so the staged `handler/` folder imports inside the worker
exactly as in the repository. The rewrite below drops the archiver's root copy of the handler file
and names the entry point `handler.mnist_handler` in MANIFEST.json instead, which TorchServe
imports as a module: one copy of each file, under one name.

The archiver stamps the current time into every zip entry and into MANIFEST.json's createdOn; the
rewrite also sorts the entries and fixes timestamps and createdOn, so the same inputs always give
the same bytes (and the same checksum).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from handler.segment import DIGIT_CHECK_FILE, PAIR_READER_FILE
from tools import paths
from tools.cli import parse_config

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
FIXED_CREATED_ON = "01/01/1980 00:00:00"  # MANIFEST createdOn, in the archiver's own format
ENTRY_FILE = "mnist_handler.py"  # the module of handler/ that TorchServe calls


@dataclass
class ArchiveConfig:
    model_file: Path = paths.SHIPPED_MODEL  # TorchScript model
    digit_check: Path = paths.SHIPPED_DIGIT_CHECK  # TorchScript; helps reading whole numbers
    pair_reader: Path = paths.SHIPPED_PAIR_READER  # TorchScript; reads touching pairs of digits
    handler_dir: Path = paths.HANDLER_DIR  # every *.py in it is packed, as the package handler/
    model_config: Path = paths.SERVE_CONFIG_DIR / "model-config.yaml"  # workers, batching
    index_to_name: Path = paths.SERVE_CONFIG_DIR / "index_to_name.json"  # class labels
    export_dir: Path = paths.MODEL_STORE  # where the .mar goes
    model_name: str = paths.MODEL_NAME  # name in the inference URL: /predictions/<model_name>
    version: str = paths.MODEL_VERSION  # model version (management API: /models/<name>/<version>)
    output_name: str = ""  # file name in export_dir; empty: <model_name>.mar


def handler_files(handler_dir: Path = paths.HANDLER_DIR) -> list[Path]:
    """The Python files that make up the handler package: all of `handler/*.py`."""
    return sorted(Path(handler_dir).glob("*.py"))


def build_archive(config: ArchiveConfig) -> Path:
    """Run torch-model-archiver, then rewrite its output deterministically; return the path."""
    handler_dir = Path(config.handler_dir)
    for path in (
        config.model_file,
        config.digit_check,
        config.pair_reader,
        handler_dir / ENTRY_FILE,
        config.model_config,
        config.index_to_name,
    ):
        if not Path(path).is_file():
            hint = " (train or fetch the shipped model first)" if path == config.model_file else ""
            raise FileNotFoundError(f"{path} does not exist{hint}.")
    output = Path(config.export_dir) / (config.output_name or f"{config.model_name}.mar")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "extra"
        (staging / "handler").mkdir(parents=True)
        for path in handler_files(handler_dir):
            shutil.copyfile(path, staging / "handler" / path.name)
        shutil.copyfile(config.index_to_name, staging / "index_to_name.json")
        shutil.copyfile(config.digit_check, staging / DIGIT_CHECK_FILE)
        shutil.copyfile(config.pair_reader, staging / PAIR_READER_FILE)
        archiver = Path(sys.executable).parent / "torch-model-archiver"
        command = [
            str(archiver) if archiver.exists() else "torch-model-archiver",
            *("--model-name", config.model_name),
            *("--version", config.version),
            *("--serialized-file", str(config.model_file)),
            *("--handler", str(handler_dir / ENTRY_FILE)),
            *("--extra-files", str(staging)),
            *("--config-file", str(config.model_config)),
            *("--export-path", tmp),
            "--force",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"torch-model-archiver failed:\n{result.stderr or result.stdout}")
        _rewrite_deterministically(Path(tmp) / f"{config.model_name}.mar", output)
    return output


def stock_model_store(store: Path) -> Path:
    """Put mnist.mar into `store` for a private TorchServe (tests, benchmarks).

    Built from the current sources when the shipped model exists, so what runs is this checkout's
    handler; otherwise the committed archive is copied.
    """
    if paths.SHIPPED_MODEL.is_file():
        return build_archive(ArchiveConfig(export_dir=store))
    if paths.SHIPPED_MAR.is_file():
        Path(store).mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(paths.SHIPPED_MAR, Path(store) / paths.SHIPPED_MAR.name))
    raise FileNotFoundError(
        "nothing to serve: no training/shipped/model.pt and no model_store/mnist.mar"
    )


def _rewrite_deterministically(source: Path, target: Path) -> None:
    """Same entries, sorted, with fixed timestamps, permissions and createdOn; the entry point is
    the module handler.mnist_handler, so the archiver's root copy of its file goes."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as rewritten:
        for name in sorted(original.namelist()):
            if name == ENTRY_FILE:
                continue
            data = original.read(name)
            if name == "MAR-INF/MANIFEST.json":
                manifest = json.loads(data)
                manifest["createdOn"] = FIXED_CREATED_ON
                manifest["model"]["handler"] = "handler." + ENTRY_FILE.removesuffix(".py")
                data = (json.dumps(manifest, indent=2) + "\n").encode()
            entry = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16  # rw-r--r--, whatever the umask was
            rewritten.writestr(entry, data, compresslevel=9)


def main(argv: list[str] | None = None) -> int:
    config = parse_config(ArchiveConfig, argv)
    try:
        output = build_archive(config)
    except (FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"Wrote {output} ({output.stat().st_size / 1e6:.2f} MB), {config.model_name} "
        f"version {config.version}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
