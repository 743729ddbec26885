"""Goodput under overload: requests answered 200 in time, per second, as the offered load grows.

    python -m bench.overload --url http://127.0.0.1:5000 --rate 50 --factor 4

Open loop, as real traffic: requests start at a fixed rate whether or not earlier ones have been
answered (a closed loop, where each client waits for its answer, can never overload a server).
Each request is a new connection that POSTs an image to /api/predict and gives up after
`--timeout` seconds, as a person does. Goodput counts the 200s that came within that time.
It runs at `--rate` (set it to what the server behind the UI can answer: the peak) and at
`--factor` times that rate, and prints both; the integration tests use `offer` the same way.
Each answer is also kept with its time (`Offered.timeline`), so a test that breaks something
during a run (the chaos suite) can see when answers failed and when they came back.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.slow_clients import Figures
from tools import paths
from tools.cli import parse_config


@dataclass
class OverloadConfig:
    url: str = f"http://{paths.HOST}:{paths.UI_PORT}"  # the web UI
    rate: float = 50.0  # requests per second at 1x: what the server behind the UI can answer
    factor: float = 4.0  # the overload, as a multiple of rate
    seconds: float = 5.0  # how long each load is offered
    timeout: float = 1.0  # seconds a client waits for its answer before giving up
    image: Path = paths.SAMPLES_DIR / "seven.png"  # what each request sends


@dataclass
class Sent:
    """One request: when it started, how it ended, how long that took."""

    at: float  # seconds after the run started (time.perf_counter() - Offered.started)
    status: str  # the HTTP status, "timeout", or the name of the connection error
    latency_ms: float


@dataclass
class Offered:
    """What one run at a fixed rate got back."""

    rate: float  # requests per second offered
    seconds: float  # how long requests were started for
    ok: Figures = field(default_factory=Figures)  # 200s, with their latencies
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    retry_after: set[str] = field(default_factory=set)  # Retry-After values seen on 503s
    started: float = field(default_factory=time.perf_counter)  # time.perf_counter() at the start
    timeline: list[Sent] = field(default_factory=list)  # every request, in the order it ended

    @property
    def goodput(self) -> float:
        """200s answered within the timeout, per second."""
        return len(self.ok.latencies_ms) / self.seconds

    def summary(self) -> str:
        counts = ", ".join(f"{n} × {status}" for status, n in sorted(self.statuses.items()))
        return (
            f"offered {self.rate:.0f}/s: goodput {self.goodput:.1f}/s; "
            f"200s p50 {self.ok.percentile(50):.0f} ms, p99 {self.ok.percentile(99):.0f} ms; "
            f"{counts}"
        )


async def _one(host: str, port: int, request: bytes, timeout: float, run: Offered) -> None:
    started = time.perf_counter()
    status, headers = await _exchange(host, port, request, timeout)
    latency_ms = (time.perf_counter() - started) * 1000
    run.statuses[status] += 1
    run.timeline.append(Sent(started - run.started, status, latency_ms))
    if status == "200":
        run.ok.latencies_ms.append(latency_ms)
    elif status == "503":
        run.retry_after.update(
            line.split(":", 1)[1].strip()
            for line in headers
            if line.lower().startswith("retry-after:")
        )


async def _exchange(host: str, port: int, request: bytes, timeout: float) -> tuple[str, list[str]]:
    """One request on a new connection: the answer's status and header lines; "timeout" or the
    connection error's name when no answer came."""
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            answer = await reader.read()  # Connection: close, so up to EOF
    except TimeoutError:
        return "timeout", []
    except OSError as error:
        return type(error).__name__, []
    finally:
        if writer is not None:
            writer.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return (head[0].split(" ")[1] if head[0].startswith("HTTP/") else "broken"), head[1:]


async def _offer(
    url: str, body: bytes, rate: float, seconds: float, timeout: float, stop: threading.Event
) -> Offered:
    parts = urlsplit(url)
    request = (
        f"POST /api/predict HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: image/png\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    run = Offered(rate, seconds)
    tasks = []
    for i in range(round(rate * seconds)):
        if stop.is_set():
            run.seconds = i / rate
            break
        await asyncio.sleep(max(0.0, run.started + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(_one(parts.hostname, parts.port, request, timeout, run)))
    await asyncio.gather(*tasks)
    return run


def offer(
    url: str,
    body: bytes,
    rate: float,
    seconds: float,
    timeout: float,
    stop: threading.Event | None = None,
) -> Offered:
    """Start `rate` requests per second for `seconds`, or until `stop` is set (from another
    thread); return what came back."""
    return asyncio.run(_offer(url, body, rate, seconds, timeout, stop or threading.Event()))


def main(argv: list[str] | None = None) -> int:
    config = parse_config(OverloadConfig, argv)
    body = config.image.read_bytes()
    peak = offer(config.url, body, config.rate, config.seconds, config.timeout)
    print(f"1x:  {peak.summary()}", flush=True)
    time.sleep(config.timeout)  # let the server drain what the first run left
    over = offer(config.url, body, config.rate * config.factor, config.seconds, config.timeout)
    print(f"{config.factor:g}x:  {over.summary()}")
    ratio = over.goodput / peak.goodput if peak.goodput else float("nan")
    print(f"goodput at {config.factor:g}x / goodput at 1x: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
