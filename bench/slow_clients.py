"""Slow clients against a web server: do normal users still get answers while many connections
trickle their request headers (slowloris)?

    python -m bench.slow_clients --url http://127.0.0.1:5000 --slow 300 --seconds 10

Opens `--slow` connections that each send a request line and then one more header line every
`--interval` seconds, never finishing the request. Meanwhile a normal client POSTs an image to
`/api/predict` one request after another, each on a new connection (as a new visitor), and the
latencies of its answers are reported: first alone, then beside the slow connections. A request
without an answer within `--timeout` counts as failed. The integration tests use the same classes.
"""

from __future__ import annotations

import http.client
import math
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tools import paths
from tools.cli import parse_config


@dataclass
class SlowClientsConfig:
    url: str = f"http://{paths.HOST}:{paths.UI_PORT}"  # the web UI
    slow: int = 300  # slow connections held open at once
    seconds: float = 10.0  # how long the normal client runs, alone and then beside them
    interval: float = 1.0  # seconds between two header lines of a slow connection
    timeout: float = 2.0  # seconds a normal request may take before it counts as failed
    image: Path = paths.SAMPLES_DIR / "seven.png"  # what the normal client sends


@dataclass
class Figures:
    """What a normal client saw: the latency of each answered request, and each failure."""

    latencies_ms: list[float] = field(default_factory=list)  # requests answered 200
    failures: list[str] = field(default_factory=list)  # another status, an error or a timeout

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the latencies (q in 0..100); NaN when none."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    def summary(self) -> str:
        return (
            f"{len(self.latencies_ms)} answered, {len(self.failures)} failed; "
            f"p50 {self.percentile(50):.1f} ms, p99 {self.percentile(99):.1f} ms, "
            f"max {self.percentile(100):.1f} ms"
        )


class SlowClients:
    """`with SlowClients(host, port, count):` holds `count` connections that trickle headers."""

    def __init__(self, host: str, port: int, count: int, interval: float = 1.0) -> None:
        self.host, self.port, self.count, self.interval = host, port, count, interval
        self.sockets: list[socket.socket] = []
        self.closed_by_server = 0  # connections the server closed while they trickled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self) -> SlowClients:
        for _ in range(self.count):
            # Connecting succeeds even when the server no longer accepts: the kernel completes
            # the handshake and queues the connection in the listen backlog.
            sock = socket.create_connection((self.host, self.port), timeout=5)
            sock.sendall(f"POST /api/predict HTTP/1.1\r\nHost: {self.host}\r\n".encode())
            self.sockets.append(sock)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()

    def _trickle(self) -> None:
        line = 0
        while not self._stop.wait(self.interval):
            line += 1
            for sock in self.sockets:
                if sock.fileno() < 0:
                    continue
                try:
                    sock.sendall(f"X-Slow-{line}: 1\r\n".encode())
                except OSError:
                    self.closed_by_server += 1
                    sock.close()


def normal_requests(
    url: str, body: bytes, seconds: float, timeout: float, content_type: str = "image/png"
) -> Figures:
    """POST `body` to `url`/api/predict one request after another for `seconds`."""
    parts = urlsplit(url)
    figures = Figures()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            connection.connect()
            # http.client writes headers and body separately: without this, Nagle's algorithm
            # holds the body back until the server's delayed ACK, 40 ms later.
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.request(
                "POST", "/api/predict", body=body, headers={"Content-Type": content_type}
            )
            response = connection.getresponse()
            response.read()
        except OSError as error:  # refused, reset, or timed out
            figures.failures.append(type(error).__name__)
            continue
        finally:
            connection.close()
        if response.status == 200:
            figures.latencies_ms.append((time.perf_counter() - started) * 1000)
        else:
            figures.failures.append(str(response.status))
    return figures


def main(argv: list[str] | None = None) -> int:
    config = parse_config(SlowClientsConfig, argv)
    body = config.image.read_bytes()
    parts = urlsplit(config.url)
    alone = normal_requests(config.url, body, config.seconds, config.timeout)
    print(f"alone:                      {alone.summary()}", flush=True)
    with SlowClients(parts.hostname, parts.port, config.slow, config.interval) as slow:
        beside = normal_requests(config.url, body, config.seconds, config.timeout)
    print(f"beside {config.slow} slow connections: {beside.summary()}")
    print(f"slow connections closed by the server: {slow.closed_by_server}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
