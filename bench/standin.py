"""A TorchServe stand-in with a fixed capacity, for the web UI's load tests and benchmarks.

It answers the three calls the UI makes (`POST /predictions/<model>`, `GET /ping`,
`OPTIONS /predictions/<model>`) with TorchServe's key check, and serves predictions like
TorchServe's workers: `workers` at a time, each holding a worker for `service_ms`, the rest
waiting their turn. So its throughput is known (workers / service time) and costs no CPU, which
makes the UI's own behaviour under load measurable on a 2-core machine shared with other work.

    python -m bench.standin --port 8090 --workers 2 --service-ms 20
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tools import paths
from tools.cli import parse_config

PREDICTION = json.dumps(
    {
        "digit": 7,
        "confidence": 0.97,
        "top3": [
            {"digit": 7, "probability": 0.97},
            {"digit": 1, "probability": 0.02},
            {"digit": 9, "probability": 0.01},
        ],
    }
).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 would drop connections in a burst


@dataclass
class StandInConfig:
    port: int = 0  # listens on 127.0.0.1:<port>; 0 picks a free one
    workers: int = 2  # predictions served at once (the shipped model-config.yaml has 2 workers)
    service_ms: float = 20.0  # milliseconds one prediction holds a worker
    key_file: Path = paths.ARTIFACTS_DIR / "standin" / "key_file.json"  # written like TorchServe's
    key: str = "standin-inference-key"  # the inference key it writes there and accepts


class StandIn:
    """`with StandIn(config) as standin:` serves on `standin.url` until the block ends."""

    def __init__(self, config: StandInConfig | None = None) -> None:
        self.config = config or StandInConfig()
        self.predictions = 0  # answered with 200
        self._workers = threading.Semaphore(self.config.workers)
        self._count_lock = threading.Lock()
        self._server = _Server((paths.HOST, self.config.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{paths.HOST}:{self._server.server_address[1]}"

    def __enter__(self) -> StandIn:
        key_file = self.config.key_file
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(json.dumps({"inference": {"key": self.config.key}}))
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def predict(self) -> None:
        with self._workers:  # waits like a request in TorchServe's job queue
            time.sleep(self.config.service_ms / 1000)
        with self._count_lock:
            self.predictions += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as TorchServe

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm holds
                # the body back until the client's delayed ACK, 40 ms later.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self.headers.get("Authorization") != f"Bearer {standin.config.key}":
                    status, body = 400, b'{"code": 400, "type": "InvalidKeyException"}'
                elif self.command == "POST" and self.path.startswith("/predictions/"):
                    standin.predict()
                    status, body = 200, PREDICTION
                else:
                    status, body = 200, b'{"status": "Healthy"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_OPTIONS = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass  # one line per request would cost more than the answer

        return Handler


def main(argv: list[str] | None = None) -> int:
    config = parse_config(StandInConfig, argv)
    with StandIn(config) as standin:
        print(f"TorchServe stand-in on {standin.url}, key file {config.key_file}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
