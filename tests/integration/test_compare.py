"""`python -m bench.compare` end to end with tiny settings: every system starts, answers every
request, gets its figures in the JSON, and is stopped. No timing is asserted: the figures of
one-second runs on shared cores mean nothing. About 40 s (two TorchServes start)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest
from PIL import Image

from tools import paths

SYSTEMS = ["torchserve", "chain", "reference", "floor"]


def processes_under(tmp: Path) -> list[str]:
    """Processes whose TMPDIR lies under `tmp`: what the benchmark started (it passes its own
    environment on; TorchServe sets a TMPDIR inside its working directory)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if process.environ().get("TMPDIR", "").startswith(str(tmp)):
                found.append(" ".join(process.info["cmdline"] or []))
        except psutil.Error:
            continue  # gone meanwhile, a zombie, or not ours to read
    return found


def run_compare(args: list[str], tmp: Path, timeout: float = 300) -> tuple[int, str]:
    """(exit status, output) of `python -m bench.compare`, with `tmp` as its TMPDIR. Past the
    timeout it gets SIGTERM, which stops its servers as Ctrl-C does; SIGKILL would orphan them."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.compare", *args],
        cwd=paths.REPO_ROOT,
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        output, _ = process.communicate()
        pytest.fail(f"bench.compare took over {timeout} s:\n{output}")
    return process.returncode, output


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_one_tiny_round_has_every_system_s_figures_and_stops_them_all(tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    args = ["--rounds", "1", "--seconds", "1", "--warmup", "0", "--bodies", "canvas"]
    # A short TMPDIR: TorchServe's worker sockets live below it, and a Unix socket's path must
    # stay under 108 bytes (pytest's tmp_path is too deep for that).
    with tempfile.TemporaryDirectory(prefix="cmp-") as tmp:
        status, output = run_compare([*args, "--out", str(out)], Path(tmp))
        assert processes_under(Path(tmp)) == []
    assert status == 0, output

    report = json.loads(out.read_text())
    assert report["failures"] == {}
    rows = {row["system"]: row for row in report["summary"]}
    runs = {m["system"]: m["wrk"] for m in report["measurements"]}
    assert list(rows) == SYSTEMS
    for name, row in rows.items():
        assert row["body"] == "canvas"
        assert row["p50_ms"] > 0 and row["p99_ms"] >= row["p50_ms"], name
        assert row["errors"] == 0, name  # every request answered 2xx
        if name == "floor":
            assert row["requests_per_s"] is None
        else:
            assert row["requests_per_s"] > 0, name
            assert set(runs[name]) == {"one_client", "many_clients"}, name
    assert rows["reference"]["vs_reference"] == 1.0
    assert "| canvas | chain |" in report["table"] and "| canvas | chain |" in output
    with Image.open(out.with_suffix(".png")) as plot:
        assert plot.format == "PNG"
