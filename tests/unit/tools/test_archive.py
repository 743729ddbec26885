"""tools.archive: the .mar holds what the worker needs and is byte-for-byte reproducible."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from tools import archive
from tools.archive import ArchiveConfig, build_archive
from tools.paths import HANDLER_DIR, SHIPPED_MAR, SHIPPED_MODEL


@pytest.fixture
def config(model_dir: Path, tmp_path: Path) -> ArchiveConfig:
    return ArchiveConfig(model_file=model_dir / "model.pt", export_dir=tmp_path / "store")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def python_files(mar: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(mar) as z:
        return {name: z.read(name) for name in z.namelist() if name.endswith(".py")}


def test_the_archive_python_is_exactly_the_handler_folder(config):
    """Every handler/*.py, byte for byte, as the package handler/; no other Python at all."""
    mar = build_archive(config)
    folder = {f"handler/{path.name}": path.read_bytes() for path in HANDLER_DIR.glob("*.py")}
    assert python_files(mar) == folder
    with zipfile.ZipFile(mar) as z:
        names = sorted(z.namelist())
        manifest = json.loads(z.read("MAR-INF/MANIFEST.json"))
    assert [name for name in names if not name.endswith(".py")] == [
        "MAR-INF/MANIFEST.json",
        "digit_check.pt",
        "index_to_name.json",
        "model-config.yaml",
        "model.pt",
        "pair_reader.pt",
    ]
    assert manifest["model"] == {
        "modelName": "mnist",
        "serializedFile": "model.pt",
        "handler": "handler.mnist_handler",  # imported as a module of the packed package
        "modelVersion": "1.0",
        "configFile": "model-config.yaml",
    }


def test_the_committed_archive_python_is_exactly_the_handler_folder():
    folder = {f"handler/{path.name}": path.read_bytes() for path in HANDLER_DIR.glob("*.py")}
    assert python_files(SHIPPED_MAR) == folder, "model_store/mnist.mar is stale: make archive"


def test_same_inputs_give_identical_bytes(config, tmp_path):
    digest = sha256(build_archive(config))
    # Another second on the clock (the archiver stamps createdOn to the second), other file
    # times and another output folder must not change a byte.
    time.sleep(1.1)
    copy = tmp_path / "elsewhere" / "model.pt"
    copy.parent.mkdir()
    shutil.copy(config.model_file, copy)
    os.utime(copy, (1e9, 1e9))
    again = build_archive(ArchiveConfig(model_file=copy, export_dir=tmp_path / "again"))
    assert sha256(again) == digest


def test_different_inputs_give_different_bytes(config, tmp_path):
    base = sha256(build_archive(config))
    other = ArchiveConfig(model_file=config.model_file, export_dir=tmp_path / "v2", version="2.0")
    assert sha256(build_archive(other)) != base


def test_version_and_output_name(config):
    config.version, config.output_name = "2.0", "mnist-2.0.mar"
    mar = build_archive(config)
    assert mar.name == "mnist-2.0.mar"
    with zipfile.ZipFile(mar) as z:
        assert json.loads(z.read("MAR-INF/MANIFEST.json"))["model"]["modelVersion"] == "2.0"


def test_missing_model_is_a_clear_error(config, tmp_path):
    config.model_file = tmp_path / "absent.pt"
    with pytest.raises(FileNotFoundError, match=r"absent\.pt does not exist"):
        build_archive(config)


def test_cli_overwrites_and_reports(config, capsys):
    args = ["--model-file", str(config.model_file), "--export-dir", str(config.export_dir)]
    assert archive.main(args) == 0
    assert archive.main(args) == 0  # overwrites the existing archive
    assert "mnist version 1.0" in capsys.readouterr().out


def test_committed_archive_matches_the_sources(tmp_path):
    """model_store/mnist.mar must be rebuilt (`make archive`) whenever its inputs change."""
    shipped, committed = SHIPPED_MODEL, SHIPPED_MAR
    if not shipped.exists() or not committed.exists():
        pytest.skip("no shipped model or no committed archive yet")
    rebuilt = build_archive(ArchiveConfig(export_dir=tmp_path))
    # Entry contents, not zip bytes: another zlib build may compress the same files differently.
    shipped_entries = entries(committed)
    stale = [name for name, data in entries(rebuilt).items() if shipped_entries.get(name) != data]
    assert not stale, f"model_store/mnist.mar is stale ({', '.join(stale)}): run make archive"


def entries(mar: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(mar) as z:
        return {name: z.read(name) for name in z.namelist()}
