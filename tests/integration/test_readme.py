"""The README's command lines for calling TorchServe, run against a real TorchServe.

The block's first line sets H and URL for the default ports; here they point at this test's
TorchServe instead, the scorer gets its address and key file the same way, and writes its CSV to a
temporary folder. Everything else runs as written, from the repository root.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tools import paths
from tools.torchserve import TorchServe

SETUP = 'H="Authorization: Bearer $(make -s token)"; URL=http://127.0.0.1:8080/predictions/mnist'


def readme_commands() -> list[str]:
    """The shell lines of the README's "Calling TorchServe yourself" block, continuations joined."""
    text = (paths.REPO_ROOT / "README.md").read_text()
    section = text.split("## Calling TorchServe yourself", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)[1]
    return block.replace("\\\n", " ").strip().splitlines()


@pytest.fixture
def run(torchserve: TorchServe, tmp_path: Path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    if not (paths.REPO_ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("the README's commands use .venv (make setup)")
    env = {
        "PATH": "/usr/bin:/bin",
        "H": f"Authorization: Bearer {torchserve.token()}",
        "URL": f"{torchserve.inference_url}/predictions/mnist",
    }

    def run(command: str) -> str:
        result = subprocess.run(
            ["bash", "-c", command], cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    return run


def test_readme_calls_work_as_written(run, torchserve: TorchServe, tmp_path: Path):
    setup, one, several, as_json, blank, number, score = readme_commands()
    assert setup == SETUP

    assert json.loads(run(one))["digit"] == 7
    assert [answer["digit"] for answer in json.loads(run(several))] == [7, 3]
    answer = json.loads(run(as_json))
    assert answer["digit"] == 3 and answer["preview"]
    assert json.loads(run(blank))["error"] == "no_digit"
    answer = json.loads(run(number))
    assert answer["number"] == "7360" and [d["digit"] for d in answer["digits"]] == [7, 3, 6, 0]

    out = tmp_path / "predictions.csv"
    score = score.split(" #")[0].replace("--out predictions.csv", f"--out {out}")
    run(f"{score} --url {torchserve.inference_url} --token-file {torchserve.key_file}")
    with open(out) as f:
        rows = {Path(row["path"]).name: row for row in csv.DictReader(f)}
    assert rows["seven.png"]["digit"] == "7"
    assert rows["three-photo.jpg"]["digit"] == "3"
    assert rows["blank.png"]["error"].startswith("no_digit")
