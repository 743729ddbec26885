"""tools.torchserve against real processes: key renewal over HTTP, failing and clean stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import psutil
import pytest

from tools import paths
from tools.archive import ArchiveConfig, build_archive
from tools.torchserve import ServerError, TorchServe, free_ports


def write_keys(path: Path, inference: str, expires: datetime) -> None:
    stamp = expires.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # Java prints nanoseconds
    keys = {"inference": {"key": inference, "expiration time": stamp}, "API": {"key": "api-key"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys))


def test_expired_key_is_renewed_with_the_api_key(tmp_path):
    """A stand-in management API rewrites key_file.json, as TorchServe's GET /token does."""
    seen = []
    key_file = tmp_path / "work" / "key_file.json"

    class Management(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers["Authorization"]))
            write_keys(key_file, "renewed", datetime.now(UTC) + timedelta(hours=1))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    http = HTTPServer(("127.0.0.1", 0), Management)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        server = TorchServe(management_port=http.server_address[1], workdir=tmp_path / "work")
        write_keys(key_file, "expired", datetime.now(UTC) - timedelta(minutes=1))
        assert server.token() == "renewed"
    finally:
        http.shutdown()
        http.server_close()
    assert seen == [("/token?type=inference", "Bearer api-key")]


def test_a_handler_that_cannot_load_fails_start_fast(tmp_path, model_dir):
    """TorchServe retries a failing worker forever; start() must stop at the first failure."""
    broken = tmp_path / "broken_handler"
    broken.mkdir()
    broken_code = "raise ImportError('this handler is broken on purpose')\n"
    (broken / "mnist_handler.py").write_text(broken_code)
    store = tmp_path / "broken_store"
    build_archive(
        ArchiveConfig(model_file=model_dir / "model.pt", handler_dir=broken, export_dir=store)
    )
    server = TorchServe(**free_ports(), workdir=tmp_path / "work", model_store=store)
    with pytest.raises(ServerError, match="failed to load") as failure:
        server.start(timeout=120)
    # Why, before the log tail: the worker's retries may push the traceback out of the tail.
    why = str(failure.value).split("\n---")[0]
    assert "ImportError: this handler is broken on purpose" in why
    assert not server.is_running()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_command_line_server_stops_cleanly_on_signal(tmp_path, model_dir, sig):
    """`python -m tools.torchserve` serves until a signal, then leaves nothing behind."""
    store = tmp_path / "store"
    build_archive(ArchiveConfig(model_file=model_dir / "model.pt", export_dir=store))
    args = ["--model-store", str(store), "--workdir", str(tmp_path / "work")]
    for name, port in free_ports().items():
        args += ["--" + name.replace("_", "-"), str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.torchserve", *args],
        cwd=paths.REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "TorchServe ready" in line:
                break
        assert (tmp_path / "work" / "key_file.json").exists(), "".join(lines)
        group = [p for p in psutil.process_iter() if _in_group_of(p, process.pid)]
        assert any("java" in " ".join(p.cmdline()) for p in group)
        assert any("model_service_worker" in " ".join(p.cmdline()) for p in group)
        process.send_signal(sig)
        assert process.wait(timeout=60) == 0
        assert "Stopped TorchServe." in process.stdout.read()
    finally:
        process.kill()
        process.stdout.close()
    assert not (tmp_path / "work" / "key_file.json").exists()
    assert not [p.pid for p in group if _alive(p)], "Java or a worker outlived the launcher"


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _in_group_of(process: psutil.Process, launcher_pid: int) -> bool:
    """Whether a process belongs to the TorchServe started by that launcher (a child group)."""
    try:
        return any(parent.pid == launcher_pid for parent in process.parents())
    except psutil.Error:
        return False
