"""Fixtures for the web UI tests: a scriptable fake TorchServe and apps wired to it.

The fake is a real HTTP server on a free port of 127.0.0.1, in a thread, so the UI's client code
(requests, pooling, timeouts, key handling) runs exactly as against TorchServe.
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
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, sync_playwright

from handler.server import free_port
from webui import create_app
from webui.config import REPO_ROOT, WebUIConfig
from webui.stack import Stack, StackConfig

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


@pytest.fixture
def app(config: WebUIConfig) -> Flask:
    app = create_app(config)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# ---- browser tests: real TorchServe + real waitress (as `make run`) + real headless Chromium ----

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """TorchServe with model_store/mnist.mar and the UI under waitress, on free ports."""
    if not (REPO_ROOT / "model_store" / "mnist.mar").exists():
        pytest.skip("model_store/mnist.mar is not built yet (make archive)")
    config = StackConfig(
        ui_port=free_port(),
        inference_port=free_port(),
        management_port=free_port(),
        metrics_port=free_port(),
        run_dir=tmp_path_factory.mktemp("stack"),
    )
    with Stack(config) as stack:
        yield stack


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make setup-chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class WatchedPage:
    """A page plus every console error and uncaught exception it produced."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path


def open_page(browser: Browser, url: str, **context_options: object) -> WatchedPage:
    context = browser.new_context(**context_options)
    page = context.new_page()
    watched = WatchedPage(page)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: watched.errors.append(f"pageerror: {exc}"))
    page.goto(url)
    return watched


@pytest.fixture
def desktop(chromium: Browser, live_stack: Stack) -> Iterator[WatchedPage]:
    watched = open_page(chromium, live_stack.url, viewport={"width": 1100, "height": 760})
    yield watched
    watched.page.context.close()


@pytest.fixture
def phone(chromium: Browser, live_stack: Stack) -> Iterator[WatchedPage]:
    watched = open_page(
        chromium,
        live_stack.url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    yield watched
    watched.page.context.close()
