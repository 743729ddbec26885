"""Start, watch and stop TorchServe with this project's configuration.

`TorchServe` runs `torchserve --foreground` in its own working directory and process group:
- the working directory (default `.run/torchserve/`) receives a per-instance `config.properties`
  derived from `serve_config/config.properties`, TorchServe's `key_file.json` (the API tokens,
  written to the current directory by TorchServe), its logs and its temporary files;
- `start()` returns once model `mnist` has a READY worker, or fails with the log tail;
- `stop()` ends the whole process group (Java frontend and Python workers), so nothing is orphaned.

Command line: `python -m tools.torchserve` serves until Ctrl-C or SIGTERM;
`python -m tools.torchserve --print-token` prints the inference key of the running server.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import requests

from tools import paths
from tools.cli import config_parser
from tools.client import ServiceUnavailable, read_keys

READY_MODEL = paths.MODEL_NAME  # start() waits for this model's first worker
LOAD_FAILED = "Load model failed"  # TorchServe's console line when a worker cannot load a model
# A Python exception's last line as a worker logs it: "…MODEL_LOG - ImportError: why".
EXCEPTION_LINE = re.compile(r"\b[A-Za-z_.]*(?:Error|Exception): .*")
RENEW_MARGIN = timedelta(seconds=30)  # renew a key this long before it expires
FRONTEND_CLASS = "org.pytorch.serve.ModelServer"  # the Java frontend's main class
WORKER_SCRIPT = "model_service_worker.py"  # what each Python worker runs


class ServerError(RuntimeError):
    """TorchServe could not start or answer; the message says why, for a person."""


@dataclass
class ServerConfig:
    bind_address: str = paths.HOST  # where the APIs listen; 0.0.0.0 inside a container only
    inference_port: int = paths.INFERENCE_PORT  # POST /predictions/<model>, GET /ping
    management_port: int = paths.MANAGEMENT_PORT  # /models, /token
    metrics_port: int = paths.METRICS_PORT  # Prometheus /metrics (no token)
    workdir: Path = paths.TORCHSERVE_WORKDIR  # cwd of TorchServe: key_file.json, logs
    model_store: Path = paths.MODEL_STORE  # folder holding the .mar files
    models: str = f"{paths.MODEL_NAME}={paths.SHIPPED_MAR.name}"  # comma-separated name=file.mar
    config_template: Path = paths.SERVE_CONFIG_DIR / "config.properties"  # project settings
    log_config: Path = paths.SERVE_CONFIG_DIR / "log4j2.xml"  # log levels, rotation and size caps
    enable_model_api: bool = False  # register/unregister over the management API: rollouts only
    grpc_inference_port: int = 0  # 0: pick a free port (gRPC cannot be disabled in 0.12)
    grpc_management_port: int = 0  # 0: pick a free port
    stop_grace_s: float = 15.0  # SIGTERM first; SIGKILL the group after this many seconds


PORT_FIELDS = ("inference_port", "management_port", "metrics_port")  # ServerConfig's API ports


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((paths.HOST, 0))
        return sock.getsockname()[1]


def free_ports(*fields: str) -> dict[str, int]:
    """A free port for each config field named (default: TorchServe's three APIs), for servers
    that must never take a default port (tests, benchmarks: something may already listen there)."""
    return {name: free_port() for name in fields or PORT_FIELDS}


def port_is_free(port: int) -> bool:
    """Whether a TCP port on 127.0.0.1 can be bound now (checked before starting servers)."""
    with socket.socket() as sock:
        try:
            sock.bind((paths.HOST, port))
        except OSError:
            return False
        return True


def _read_properties(path: Path) -> list[tuple[str, str]]:
    """The key=value lines of a Java properties file, in order (comments dropped)."""
    pairs = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


class TorchServe:
    """One TorchServe instance; arguments are the fields of `ServerConfig`, in order.

    Use as a context manager: `with TorchServe(inference_port=...) as ts: ...`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.config = ServerConfig(*args, **kwargs)
        self.config.workdir = Path(self.config.workdir).resolve()
        self.config.model_store = Path(self.config.model_store).resolve()
        self._process: subprocess.Popen[bytes] | None = None
        self._renewal = threading.Lock()

    # ---- addresses and tokens ----------------------------------------------------------------

    @property
    def inference_url(self) -> str:
        return self._url(self.config.inference_port)

    @property
    def management_url(self) -> str:
        return self._url(self.config.management_port)

    @property
    def metrics_url(self) -> str:
        return self._url(self.config.metrics_port)

    def _url(self, port: int) -> str:
        """Where this machine reaches an API: loopback when TorchServe listens on every address."""
        bind = self.config.bind_address
        return f"http://{paths.HOST if bind in ('0.0.0.0', '::') else bind}:{port}"

    @property
    def key_file(self) -> Path:
        """Where TorchServe writes its keys: `key_file.json` in its working directory."""
        return self.config.workdir / "key_file.json"

    @property
    def log_dir(self) -> Path:
        return self.config.workdir / "logs"

    def token(self, kind: str = "inference") -> str:
        """The current `inference` or `management` key (or the `API` key), read fresh each call.

        An expired inference/management key is renewed first through `GET /token` with the API
        key, so long-running clients never need to care about `token_expiration_min`.
        """
        with self._renewal:  # one renewal at a time: each one invalidates the previous key
            keys = read_keys(self.key_file)
            entry = keys[kind]
            expires = entry.get("expiration time")
            if not expires or _parse_expiry(expires) - RENEW_MARGIN > datetime.now(UTC):
                return entry["key"]
            requests.get(
                f"{self.management_url}/token",
                params={"type": kind},
                headers={"Authorization": f"Bearer {keys['API']['key']}"},
                timeout=10,
            ).raise_for_status()
            return read_keys(self.key_file)[kind]["key"]

    def renew_keys(self) -> None:
        """Renew the inference key shortly before it expires, for clients that only read the key
        file (the web UI, `make -s token`). Called every few seconds by the foreground loops of
        `make serve` and `make run`; a failed renewal is reported, never fatal."""
        try:
            self.token("inference")
        except (ServiceUnavailable, requests.RequestException, KeyError, ValueError) as error:
            print(f"warning: could not renew TorchServe's inference key: {error}", file=sys.stderr)

    # ---- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> TorchServe:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = 120.0) -> None:
        """Launch TorchServe and return once model `mnist` has a READY worker."""
        if self.is_running():
            raise ServerError("This TorchServe instance is already running.")
        self._check_prerequisites()
        config_file = self.write_config()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # TorchServe keeps a pid file and its worker sockets in the temp dir: a private one lets
        # several instances (tests, `make serve`) run side by side.
        tmp_dir = self.config.workdir / "tmp"
        tmp_dir.mkdir(exist_ok=True)
        self.key_file.unlink(missing_ok=True)  # a stale file would pass for a running server
        env = {**os.environ, "TMPDIR": str(tmp_dir), "TEMP": str(tmp_dir), "OMP_NUM_THREADS": "1"}
        env.pop("TS_CONFIG_FILE", None)  # would silently replace --ts-config
        torchserve = Path(sys.executable).parent / "torchserve"
        command = [
            str(torchserve) if torchserve.exists() else "torchserve",
            *("--start", "--foreground", "--ncs"),
            *("--ts-config", str(config_file)),
            *("--log-config", str(self.config.log_config)),
            *("--model-store", str(self.config.model_store)),
            *("--models", *self.config.models.split(",")),
        ]
        with open(self.log_dir / "torchserve.out", "wb") as output:
            self._process = subprocess.Popen(
                command,
                cwd=self.config.workdir,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() can end all of it
            )
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left after a grace period."""
        if self._process is None:
            return
        process, self._process = self._process, None
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break  # the group is gone already
            deadline = time.monotonic() + self.config.stop_grace_s
            while time.monotonic() < deadline and process_group_alive(process.pid):
                process.poll()  # reaps the leader so the group can disappear
                time.sleep(0.1)
            if not process_group_alive(process.pid):
                break
        process.wait()
        self.key_file.unlink(missing_ok=True)  # as `torchserve --stop` does: stale keys mislead

    @property
    def process_group(self) -> int | None:
        """The id of TorchServe's process group (Java and its Python workers), while started."""
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def frontend(self) -> psutil.Process | None:
        """The Java frontend (HTTP APIs, job queues), while it runs."""
        return next((p for p in self._processes() if _runs(p, FRONTEND_CLASS)), None)

    def workers(self) -> list[psutil.Process]:
        """The Python workers that run the handler (model_service_worker.py), one per worker."""
        return [p for p in self._processes() if _runs(p, WORKER_SCRIPT)]

    def _processes(self) -> list[psutil.Process]:
        return group_processes(self.process_group) if self.process_group else []

    def _check_prerequisites(self) -> None:
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise ServerError("Java is not installed: TorchServe needs Java 17 (`make setup`).")
        if not self.config.model_store.is_dir():
            raise ServerError(f"Model store {self.config.model_store} does not exist.")
        for spec in self.config.models.split(","):
            mar = spec.partition("=")[2] or spec
            if not (self.config.model_store / mar).is_file():
                raise ServerError(
                    f"{self.config.model_store / mar} does not exist; build it with `make archive`."
                )
        for name in PORT_FIELDS:
            port = getattr(self.config, name)
            if not port_is_free(port):
                raise ServerError(
                    f"Port {port} ({name}) on 127.0.0.1 is busy: is TorchServe already running? "
                    "Stop it, or choose other ports."
                )

    def write_config(self) -> Path:
        """This instance's config.properties: the project template, ports and paths filled in."""
        cfg = self.config
        store = re.escape(str(cfg.model_store))
        overrides = {
            "inference_address": f"http://{cfg.bind_address}:{cfg.inference_port}",
            "management_address": f"http://{cfg.bind_address}:{cfg.management_port}",
            "metrics_address": f"http://{cfg.bind_address}:{cfg.metrics_port}",
            "grpc_inference_port": str(cfg.grpc_inference_port or free_port()),
            "grpc_management_port": str(cfg.grpc_management_port or free_port()),
            # Properties syntax: a backslash must be doubled to reach TorchServe.
            "allowed_urls": f"file://{store}/[^/]+\\.mar".replace("\\", "\\\\"),
            # Off unless asked for: with it on, TorchServe runs code from any directory it is
            # given (serve_config/config.properties says how); tools.register checks first.
            "enable_model_api": str(cfg.enable_model_api).lower(),
        }
        lines = [
            f"# Written by tools.torchserve from {cfg.config_template}; edit that file instead."
        ]
        for key, value in _read_properties(cfg.config_template):
            if key == "metrics_config":
                value = str((paths.REPO_ROOT / value).resolve())
            lines.append(f"{key}={overrides.pop(key, value)}")
        lines += [f"{key}={value}" for key, value in overrides.items()]
        cfg.workdir.mkdir(parents=True, exist_ok=True)
        path = cfg.workdir / "config.properties"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise ServerError(f"TorchServe exited during start-up.\n{self.log_tail()}")
            if self.model_ready():
                return
            if LOAD_FAILED in self._console_text():
                # TorchServe would retry with back-off forever; the first failure says enough.
                # The frontend logs the failure before the worker's traceback reaches the model
                # log, so wait for the logs to settle: the traceback is what says why.
                self._wait_for_quiet_logs()
                raise ServerError(
                    f"A model failed to load.\n{self.load_errors()}\n{self.log_tail()}"
                )
            time.sleep(0.5)
        raise ServerError(
            f"Model {READY_MODEL} not READY after {timeout:.0f} s.\n{self.log_tail()}"
        )

    def model_ready(self) -> bool:
        """Whether model mnist has a READY worker (asked through the management API)."""
        return bool(self.ready_workers())

    def ready_workers(self) -> set[int]:
        """The process ids of model mnist's READY workers, as the management API describes them
        (none while the frontend boots)."""
        if not self.key_file.exists():
            return set()
        try:
            reply = requests.get(
                f"{self.management_url}/models/{READY_MODEL}",
                headers={"Authorization": f"Bearer {self.token('management')}"},
                timeout=2,
            )
        except (ServiceUnavailable, requests.RequestException, KeyError):
            return set()  # frontend still booting, or key file half written
        if reply.status_code != 200:
            return set()
        return {
            w["pid"] for m in reply.json() for w in m.get("workers", []) if w["status"] == "READY"
        }

    def _console_text(self) -> str:
        path = self.log_dir / "torchserve.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def _wait_for_quiet_logs(self, quiet: float = 0.5, limit: float = 5.0) -> None:
        """Return once the log files have not grown for `quiet` seconds (or after `limit`)."""
        deadline, last, still_since = time.monotonic() + limit, None, time.monotonic()
        while time.monotonic() < deadline:
            sizes = [p.stat().st_size for p in sorted(self.log_dir.glob("*")) if p.is_file()]
            if sizes != last:
                last, still_since = sizes, time.monotonic()
            elif time.monotonic() - still_since >= quiet:
                return
            time.sleep(0.1)

    def load_errors(self, most: int = 5) -> str:
        """The first distinct exceptions the workers logged, whatever the logs held after them.

        A worker that cannot load retries and logs again, so the traceback that says why may
        already be past log_tail's lines when start() gives up.
        """
        found: list[str] = []
        for name in ("torchserve.out", "model_log.log"):
            path = self.log_dir / name
            for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
                match = EXCEPTION_LINE.search(line)
                if match and match.group(0) not in found:
                    found.append(match.group(0))
        if not found:
            return "(no exception in the logs)"
        return "Exceptions logged:\n" + "\n".join(found[:most])

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of TorchServe's console and model logs, for error messages."""
        parts = []
        for name in ("torchserve.out", "model_log.log"):
            path = self.log_dir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(parts) or f"(no logs in {self.log_dir})"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def group_processes(pgid: int) -> list[psutil.Process]:
    """The processes of a group that still run (zombies waiting for init do not count)."""
    found = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def process_group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs."""
    return bool(group_processes(pgid))


def _runs(process: psutil.Process, marker: str) -> bool:
    """Whether the process's command line names `marker` (False once it has exited)."""
    try:
        return any(marker in part for part in process.cmdline())
    except psutil.Error:
        return False


def _parse_expiry(text: str) -> datetime:
    # TorchServe writes Java Instants with nanoseconds ("...21:12:24.801167123Z"); keep 6 digits.
    text = re.sub(r"(\.\d{6})\d*", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text)


def main(argv: list[str] | None = None) -> int:
    parser = config_parser(ServerConfig)
    parser.add_argument("--timeout", type=float, default=180.0, help="start-up timeout, seconds")
    parser.add_argument(
        "--print-token",
        action="store_true",
        help="print the inference key of the server running in --workdir, then exit",
    )
    parser.add_argument(
        "--check-ready",
        action="store_true",
        help="exit 0 if the server running in --workdir has model mnist READY, else 1 "
        "(a container health check: /ping says healthy before any model is loaded)",
    )
    args = vars(parser.parse_args(argv))
    timeout, print_token, check_ready = (
        args.pop(k) for k in ("timeout", "print_token", "check_ready")
    )
    server = TorchServe(**args)
    try:
        if print_token:
            print(server.token("inference"))
            return 0
        if check_ready:
            return 0 if server.model_ready() else 1
        # Ctrl-C and a supervisor's SIGTERM both stop cleanly (SIGINT explicitly: a shell's `&`
        # starts background jobs with SIGINT ignored).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _interrupt)
        print(f"Starting TorchServe in {server.config.workdir} (logs in {server.log_dir}) …")
        server.start(timeout)
        try:
            print(
                f"TorchServe ready: inference {server.inference_url}, management "
                f"{server.management_url}, metrics {server.metrics_url}/metrics.\n"
                f"Keys in {server.key_file}; inference key: `make -s token`. Ctrl-C stops it."
            )
            if server.config.enable_model_api:
                print(
                    "The model API is ON: TorchServe registers whatever it is given. Register "
                    "with `make register` only, and restart without --enable-model-api once the "
                    "rollout is done (SECURITY.md)."
                )
            while server.is_running():
                server.renew_keys()
                time.sleep(5)
            print("TorchServe exited on its own; see the logs.", file=sys.stderr)
            return 1
        finally:
            server.stop()
    except KeyboardInterrupt:
        print("Stopped TorchServe.")
        return 0
    except (ServerError, ServiceUnavailable, requests.RequestException) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
