"""tools.stack: the `make run` launcher (busy ports, the real waitress server, clean stops)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from tools import paths
from tools.stack import Stack, StackConfig, parse_args
from tools.torchserve import PORT_FIELDS, ServerError, free_port, free_ports


def test_parse_args_defaults_match_make_run():
    config = parse_args([])
    assert config == StackConfig()
    assert config.ui_port == 5000
    assert parse_args(["--ui-port", "5123"]).ui_port == 5123


PORTS = ("ui_port", *PORT_FIELDS)


@pytest.mark.parametrize("busy_field", PORTS)
def test_busy_port_is_a_one_line_error_before_anything_starts(tmp_path, busy_field):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = free_ports(*PORTS)  # never a default port: it may be taken
        stack = Stack(StackConfig(**{**ports, busy_field: port}, run_dir=tmp_path))
        with pytest.raises(ServerError, match=f"Port {port} .* busy") as caught:
            stack.start()
    assert "\n" not in str(caught.value)
    assert "--" + busy_field.replace("_", "-") in str(caught.value)
    assert stack._ui is None
    assert not stack.torchserve.is_running()
    assert not (tmp_path / "torchserve").exists()  # TorchServe was never started


def _stack_on_fake(tmp_path: Path, fake) -> Stack:
    """A Stack whose TorchServe side is the fake (only the UI process is started)."""
    stack = Stack(
        StackConfig(**{**free_ports(*PORTS), "inference_port": fake.port}, run_dir=tmp_path / "run")
    )
    fake.key_file = stack.torchserve.key_file
    fake.key_file.parent.mkdir(parents=True)
    fake.write_key_file()
    return stack


def test_real_waitress_server_proxies_and_stops_without_orphans(tmp_path, fake_torchserve):
    stack = _stack_on_fake(tmp_path, fake_torchserve)
    try:
        stack.start_ui()
        ui_pid = stack._ui.pid
        page = requests.get(stack.url, timeout=5)
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        answer = requests.post(
            f"{stack.url}/api/predict",
            data=b"png",
            headers={"Content-Type": "image/png"},
            timeout=5,
        )
        assert answer.status_code == 200
        assert answer.json()["digit"] == fake_torchserve.prediction()["digit"]
        assert requests.get(f"{stack.url}/readyz", timeout=5).status_code == 200
        # Over the UI's limit (5 MB): Flask's JSON 413; far over it: waitress refuses to spool it.
        over = requests.post(f"{stack.url}/api/predict", data=b"x" * 6_000_000, timeout=30)
        assert (over.status_code, over.json()["error"]) == (413, "too_large")
        far_over = requests.post(f"{stack.url}/api/predict", data=b"x" * 30_000_000, timeout=30)
        assert far_over.status_code == 413
    finally:
        stack.stop()
    assert not psutil.pid_exists(ui_pid) or psutil.Process(ui_pid).status() == "zombie"
    with pytest.raises(requests.ConnectionError):
        requests.get(stack.url, timeout=2)


def test_webui_cli_reports_a_busy_port_in_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "webui", "--port", str(port)],
            cwd=paths.REPO_ROOT,
            env={
                **os.environ,
                "WEBUI_LOG_FILE": str(tmp_path / "webui.log"),
                "WEBUI_FEEDBACK_DB_FILE": str(tmp_path / "feedback.db"),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert f"127.0.0.1:{port}" in result.stderr


def test_make_run_starts_both_and_sigterm_stops_both(tmp_path):
    if not paths.SHIPPED_MAR.exists():
        pytest.skip("model_store/mnist.mar is not built yet (make archive)")
    ui_port = free_port()
    command = [sys.executable, "-m", "tools.stack", "--ui-port", str(ui_port)]
    for name, port in free_ports().items():
        command += ["--" + name.replace("_", "-"), str(port)]
    command += ["--run-dir", str(tmp_path)]
    process = subprocess.Popen(
        command, cwd=paths.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output = []
        for line in process.stdout:
            output.append(line)
            if line.startswith("Ready: open"):
                break
        assert f"Ready: open http://127.0.0.1:{ui_port}" in "".join(output), "".join(output)
        descendants = psutil.Process(process.pid).children(recursive=True)
        assert len(descendants) >= 3  # the web UI, TorchServe's Java frontend, its workers
        assert requests.get(f"http://127.0.0.1:{ui_port}/readyz", timeout=5).status_code == 200

        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
        assert process.returncode == 0, rest
        assert "Stopped TorchServe and the web UI." in rest
        time.sleep(0.5)
        alive = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == []
    finally:
        if process.poll() is None:  # the test failed midway: the stack still stops its children
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                for child in psutil.Process(process.pid).children(recursive=True):
                    child.kill()
                process.kill()
                process.wait()
