"""tools.score: a folder of files → one CSV row each, bad files recorded, not fatal."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tools.score import main
from tools.torchserve import free_port


@pytest.fixture
def folder(tmp_path: Path, images: dict[str, bytes]) -> Path:
    path = tmp_path / "digits"
    path.mkdir()
    for name in ("seven", "one", "blank", "garbage"):
        (path / f"{name}.png").write_bytes(images[name])
    (path / ".hidden").write_bytes(b"skipped")
    return path


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {Path(row["path"]).stem: row for row in csv.DictReader(f)}


def test_scores_a_folder_through_torchserve(torchserve, folder, tmp_path, capsys):
    out = tmp_path / "predictions.csv"
    args = [str(folder), "--out", str(out), "--url", torchserve.inference_url]
    assert main([*args, "--token-file", str(torchserve.key_file), "--concurrency", "3"]) == 0
    rows = read_rows(out)
    assert sorted(rows) == ["blank", "garbage", "one", "seven"]
    for name in ("one", "seven"):
        row = rows[name]
        assert row["error"] == "" and row["digit"].isdigit()
        top3 = [entry.split(":") for entry in row["top3"].split()]
        assert len(top3) == 3 and top3[0] == [row["digit"], row["confidence"]]
    assert rows["blank"]["error"].startswith("no_digit: ") and rows["blank"]["digit"] == ""
    assert rows["garbage"]["error"] and rows["garbage"]["digit"] == ""
    assert "4 files, 2 digits, 2 errors" in capsys.readouterr().out


def test_unreachable_server_exits_non_zero(folder, tmp_path, capsys):
    key_file = tmp_path / "key_file.json"
    key_file.write_text(json.dumps({"inference": {"key": "k"}}))
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    args = [str(folder), "--out", str(tmp_path / "p.csv"), "--url", url]
    assert main([*args, "--token-file", str(key_file)]) == 2
    assert "unreachable" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_no_key_file_exits_non_zero(folder, tmp_path, capsys):
    args = [str(folder), "--token-file", str(tmp_path / "absent.json")]
    assert main([*args, "--out", str(tmp_path / "p.csv")]) == 2
    assert "TorchServe is not running" in capsys.readouterr().err
