"""Pack the shipped model and the handler into model_store/mnist.mar, byte for byte reproducibly.

torch-model-archiver lays the archive out flat: the serialized model, the handler file and
model-config.yaml at the root, plus the *contents* of each --extra-files directory. TorchServe
unpacks it into model_dir and puts model_dir on the worker's sys.path, so a staged `handler/`
folder (PACKAGE_FILES: the preprocessing modules, none of the host-side programs) keeps
`import handler.preprocess` working inside the worker exactly as in the repository.

The archiver stamps the current time into every zip entry and into MANIFEST.json's createdOn; the
archive is then rewritten with sorted entries, a fixed timestamp and a fixed createdOn, so the
same inputs always give the same bytes (and the same checksum).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
FIXED_CREATED_ON = "01/01/1980 00:00:00"  # MANIFEST createdOn, in the archiver's own format
# What the worker needs from handler/: the preprocessing pipeline and its stages.
PACKAGE_FILES = (
    "__init__.py",
    "limits.py",
    "decode.py",
    "ink.py",
    "normalize.py",
    "preprocess.py",
)
COMMITTED_MAR = REPO_ROOT / "model_store" / "mnist.mar"


@dataclass
class ArchiveConfig:
    model_file: Path = REPO_ROOT / "training" / "shipped" / "model.pt"  # TorchScript model
    handler_file: Path = REPO_ROOT / "handler" / "mnist_handler.py"  # TorchServe handler
    package_dir: Path = REPO_ROOT / "handler"  # its PACKAGE_FILES are packed
    model_config: Path = REPO_ROOT / "serve_config" / "model-config.yaml"  # workers, batching
    index_to_name: Path = REPO_ROOT / "serve_config" / "index_to_name.json"  # class labels
    export_dir: Path = REPO_ROOT / "model_store"  # where the .mar goes
    model_name: str = "mnist"  # name in the inference URL: /predictions/<model_name>
    version: str = "1.0"  # model version (management API: /models/mnist/<version>)
    output_name: str = ""  # file name in export_dir; empty: <model_name>.mar


def build_archive(config: ArchiveConfig) -> Path:
    """Run torch-model-archiver, then rewrite its output deterministically; return the path."""
    for path in (config.model_file, config.handler_file, config.model_config, config.index_to_name):
        if not Path(path).is_file():
            hint = " (train or fetch the shipped model first)" if path == config.model_file else ""
            raise FileNotFoundError(f"{path} does not exist{hint}.")
    output = Path(config.export_dir) / (config.output_name or f"{config.model_name}.mar")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "extra"
        (staging / "handler").mkdir(parents=True)
        for name in PACKAGE_FILES:
            shutil.copyfile(Path(config.package_dir) / name, staging / "handler" / name)
        shutil.copyfile(config.index_to_name, staging / "index_to_name.json")
        archiver = Path(sys.executable).parent / "torch-model-archiver"
        command = [
            str(archiver) if archiver.exists() else "torch-model-archiver",
            *("--model-name", config.model_name),
            *("--version", config.version),
            *("--serialized-file", str(config.model_file)),
            *("--handler", str(config.handler_file)),
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
    if Path(ArchiveConfig.model_file).is_file():
        return build_archive(ArchiveConfig(export_dir=store))
    if COMMITTED_MAR.is_file():
        Path(store).mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(COMMITTED_MAR, Path(store) / "mnist.mar"))
    raise FileNotFoundError(
        "nothing to serve: no training/shipped/model.pt and no model_store/mnist.mar"
    )


def _rewrite_deterministically(source: Path, target: Path) -> None:
    """Same entries, sorted, with fixed timestamps, permissions and createdOn."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as rewritten:
        for name in sorted(original.namelist()):
            data = original.read(name)
            if name == "MAR-INF/MANIFEST.json":
                manifest = json.loads(data)
                manifest["createdOn"] = FIXED_CREATED_ON
                data = (json.dumps(manifest, indent=2) + "\n").encode()
            entry = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16  # rw-r--r--, whatever the umask was
            rewritten.writestr(entry, data, compresslevel=9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    help_text = {
        "model_file": "TorchScript model to serve",
        "handler_file": "TorchServe handler module",
        "package_dir": "package whose preprocessing modules the handler imports",
        "model_config": "model-config.yaml (workers, batching, handler limits)",
        "index_to_name": "class index → label map",
        "export_dir": "folder the .mar is written to",
        "model_name": "model name",
        "version": "model version",
        "output_name": "archive file name (default: <model-name>.mar)",
    }
    for field in fields(ArchiveConfig):
        default = getattr(ArchiveConfig, field.name)
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            type=type(default),
            default=default,
            help=f"{help_text[field.name]} (default: {default or 'see above'})",
        )
    config = ArchiveConfig(**vars(parser.parse_args(argv)))
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
