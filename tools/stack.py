"""`make run`: TorchServe and the web UI together on 127.0.0.1, stopped together.

    python -m tools.stack            # http://127.0.0.1:5000, Ctrl-C stops both

TorchServe is started through `tools.torchserve.TorchServe` (project config, own process group), the
UI as `python -m webui` under waitress in its own process group, so one Ctrl-C or SIGTERM here stops
both and leaves no orphans. The browser tests use `Stack` the same way, on free ports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tools import paths
from tools.cli import parse_config
from tools.torchserve import PORT_FIELDS, ServerError, TorchServe, port_is_free
from webui.config import WebUIConfig


@dataclass
class StackConfig:
    ui_port: int = paths.UI_PORT  # the page and /api on http://127.0.0.1:<ui_port>
    ui_threads: int = WebUIConfig.threads  # waitress worker threads (more than max_in_flight)
    ui_max_in_flight: int = WebUIConfig.max_in_flight  # predictions in flight; more answer 503
    inference_port: int = paths.INFERENCE_PORT  # TorchServe inference API (the UI's upstream)
    management_port: int = paths.MANAGEMENT_PORT  # TorchServe management API (not via the UI)
    metrics_port: int = paths.METRICS_PORT  # TorchServe Prometheus metrics
    run_dir: Path = paths.RUN_DIR  # run state: torchserve/, webui.log, webui.out, feedback.db
    model_store: Path = paths.MODEL_STORE  # holds mnist.mar
    timeout: float = 180.0  # seconds to wait for each server to be ready


HOST = paths.HOST  # both servers listen on loopback only


class Stack:
    """TorchServe plus the web UI; `with Stack(config) as stack:` starts and always stops both."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.torchserve = TorchServe(
            inference_port=self.config.inference_port,
            management_port=self.config.management_port,
            metrics_port=self.config.metrics_port,
            workdir=Path(self.config.run_dir) / "torchserve",
            model_store=self.config.model_store,
        )
        self.ui_log = Path(self.config.run_dir) / "webui.log"  # the UI's log, rotated by the UI
        # What the UI prints outside its log: its start-up line, and a crash's traceback.
        self.ui_output = Path(self.config.run_dir) / "webui.out"
        self._ui: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.config.ui_port}"

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the UI, then TorchServe; return when both answer. Stops both on failure."""
        for name in ("ui_port", *PORT_FIELDS):
            port = getattr(self.config, name)
            if not port_is_free(port):
                flag = "--" + name.replace("_", "-")
                raise ServerError(
                    f"Port {port} on {HOST} is busy (is `make run` already running?): "
                    f"stop what uses it, or choose another with {flag}."
                )
        try:
            self.start_ui()
            self.torchserve.start(self.config.timeout)
        except BaseException:
            self.stop()
            raise

    def start_ui(self) -> None:
        """Run `python -m webui` (waitress) against this stack's TorchServe; wait for /healthz."""
        env = {
            **os.environ,
            "WEBUI_TORCHSERVE_URL": self.torchserve.inference_url,
            "WEBUI_KEY_FILE": str(self.torchserve.key_file),
            "WEBUI_MODEL_REPORT": str(paths.SHIPPED_REPORT),
            "WEBUI_LOG_FILE": str(self.ui_log),
            "WEBUI_FEEDBACK_DB_FILE": str(Path(self.config.run_dir) / "feedback.db"),
        }
        command = [sys.executable, "-m", "webui"]
        command += ["--port", str(self.config.ui_port), "--threads", str(self.config.ui_threads)]
        command += ["--max-in-flight", str(self.config.ui_max_in_flight)]
        self.ui_output.parent.mkdir(parents=True, exist_ok=True)
        with open(self.ui_output, "wb") as output:
            self._ui = subprocess.Popen(
                command,
                cwd=paths.REPO_ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
            )
        deadline = time.monotonic() + self.config.timeout
        while time.monotonic() < deadline:
            if self._ui.poll() is not None:
                tail = self.ui_output.read_text(errors="replace").strip().splitlines()[-5:]
                raise ServerError("The web UI exited during start-up: " + " | ".join(tail))
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise ServerError(
            f"The web UI did not answer on {self.url} within {self.config.timeout} s."
        )

    def stop(self) -> None:
        """Stop the UI (SIGTERM, then SIGKILL after 5 s) and TorchServe (its own clean stop)."""
        if self._ui is not None:
            ui, self._ui = self._ui, None
            with contextlib.suppress(ProcessLookupError):  # it may have exited meanwhile
                os.killpg(ui.pid, signal.SIGTERM)
            try:
                ui.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(ui.pid, signal.SIGKILL)
                ui.wait()
        self.torchserve.stop()

    @property
    def ui_process_group(self) -> int | None:
        """The id of the UI's process group (waitress runs in one process), while started."""
        return self._ui.pid if self._ui else None

    def dead_component(self) -> str | None:
        """Which server exited on its own, if any (for `make run`'s watch loop)."""
        if self._ui is not None and self._ui.poll() is not None:
            return f"the web UI (see {self.ui_output} and {self.ui_log})"
        if not self.torchserve.is_running():
            return f"TorchServe (see {self.torchserve.log_dir})"
        return None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None = None) -> StackConfig:
    return parse_config(
        StackConfig, argv, "Start TorchServe and the web UI on 127.0.0.1; Ctrl-C stops both."
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    stack = Stack(config)
    # Ctrl-C and a supervisor's SIGTERM both stop the stack cleanly; SIGINT is set explicitly
    # because a shell starting us in the background would otherwise have it ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        print(f"Starting TorchServe and the web UI (logs in {config.run_dir}) …", flush=True)
        stack.start()
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130  # start() has stopped whatever it had started
    try:
        print(
            f"\nReady: open {stack.url}\n"
            "  Draw a digit from 0 to 9 in the box: the prediction updates as you draw,\n"
            "  with the top-3 guesses and the 28×28 image the model sees. Upload, drop or\n"
            "  paste a photo of a digit too. Esc clears, Ctrl+Z undoes.\n"
            f"  TorchServe inference API: {stack.torchserve.inference_url} "
            f"(key in {stack.torchserve.key_file}).\n"
            f"  Metrics: {stack.url}/metrics (the UI), {stack.torchserve.metrics_url}/metrics "
            "(TorchServe).\n"
            "Ctrl-C stops both.",
            flush=True,
        )
        while (dead := stack.dead_component()) is None:
            stack.torchserve.renew_keys()
            time.sleep(5)
        print(f"error: {dead} exited on its own; stopping.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping …", flush=True)
        return 0
    finally:
        stack.stop()
        print("Stopped TorchServe and the web UI.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
