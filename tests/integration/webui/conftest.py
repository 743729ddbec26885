"""The web UI as it runs in production: `python -m webui` (waitress) in its own process, in front
of a TorchServe stand-in of known capacity (bench.standin), both on free ports of 127.0.0.1, with
every file in a temporary directory; both are always stopped."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bench.standin import StandIn, StandInConfig
from tools import paths
from tools.torchserve import free_port


def ui_process(
    standin: StandIn, run_dir: Path, **settings: str
) -> contextlib.AbstractContextManager[str]:
    """`python -m webui` against `standin`; `settings` are WEBUI_* variables (without prefix).
    Yields the UI's URL once /healthz answers."""
    return ui_process_at(standin.url, standin.config.key_file, run_dir, **settings)


@contextlib.contextmanager
def ui_process_at(
    torchserve_url: str,
    key_file: Path,
    run_dir: Path,
    env: dict[str, str] | None = None,
    **settings: str,
) -> Iterator[str]:
    """`python -m webui` against any TorchServe (or stand-in), with `env` added to its
    environment; otherwise as `ui_process`."""
    port = free_port()
    env = {
        **os.environ,
        **(env or {}),
        "WEBUI_TORCHSERVE_URL": torchserve_url,
        "WEBUI_KEY_FILE": str(key_file),
        "WEBUI_LOG_FILE": str(run_dir / "webui.log"),
        "WEBUI_FEEDBACK_DB_FILE": str(run_dir / "feedback.db"),
        **{f"WEBUI_{name.upper()}": value for name, value in settings.items()},
    }
    output = (run_dir / "webui.out").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "webui", "--port", str(port)],
        cwd=paths.REPO_ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    url = f"http://{paths.HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (run_dir / "webui.out").read_text()
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                assert time.monotonic() < deadline, "the web UI did not start within 60 s"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()


@pytest.fixture
def standin(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[StandIn]:
    """A TorchServe stand-in; `@pytest.mark.parametrize("standin", [StandInConfig(...)],
    indirect=True)` sets its capacity (default: 2 workers of 20 ms)."""
    config = getattr(request, "param", StandInConfig())
    config = StandInConfig(
        workers=config.workers, service_ms=config.service_ms, key_file=tmp_path / "key_file.json"
    )
    with StandIn(config) as server:
        yield server
