"""wrk, the compiled HTTP load generator, as the benchmarks use it: POST one file, parse the output.

    script.write_text(post_script(Path("seven.png"), {"Content-Type": "image/png"}))
    result = run("http://127.0.0.1:5000/api/predict", script, connections=16, threads=2, seconds=10)

A compiled client keeps the load generator's own cost small and equal for every server, where a
Python client would spend as much CPU as the servers it measures (2 cores here). Every run asks
for `--latency`, which adds the percentile lines that `parse` reads (wrk 4.1's text output).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}  # wrk prints latencies with these units


class WrkError(RuntimeError):
    """wrk could not measure (nothing listens, or nothing was answered); the message says why."""


@dataclass
class WrkResult:
    requests: int  # requests completed in the run, answered with any status
    requests_per_s: float
    p50_ms: float  # latency percentiles of the completed requests
    p99_ms: float
    non_2xx: int  # answers with a status outside 2xx and 3xx
    socket_errors: int  # connect, read, write errors and timeouts

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def post_script(body: Path, headers: dict[str, str]) -> str:
    """A wrk Lua script that POSTs the file `body` with these headers on every request."""
    lines = ['wrk.method = "POST"']
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    lines += [
        f'local f = assert(io.open({lua_string(str(body))}, "rb"))',
        'wrk.body = f:read("*all")',
        "f:close()",
    ]
    return "\n".join(lines) + "\n"


def lua_string(text: str) -> str:
    """`text` as a Lua string literal: anything but printable ASCII (and quote, backslash) as a
    three-digit byte escape, so a temp dir's path or a key can never break the script."""
    escaped = (
        chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\{byte:03d}"
        for byte in text.encode()
    )
    return '"' + "".join(escaped) + '"'


def run(url: str, script: Path, *, connections: int, threads: int, seconds: float) -> WrkResult:
    """One wrk run of `seconds` against `url` with the Lua `script`."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += ["-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise WrkError(f"wrk failed on {url}: {(done.stderr or done.stdout).strip()}")
    result = parse(done.stdout)
    if result.requests == 0:
        # wrk then prints 0.00us for every percentile, which would read as infinitely fast.
        raise WrkError(f"{url} answered no request in {seconds} s")
    return result


def parse(text: str) -> WrkResult:
    """The figures of wrk 4.1's `--latency` output; the error lines appear only when non-zero."""
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return WrkResult(
        requests=int(_search(r"(\d+) requests in ", text)[1]),
        requests_per_s=float(_search(r"Requests/sec:\s+([\d.]+)", text)[1]),
        p50_ms=_latency_ms(text, "50%"),
        p99_ms=_latency_ms(text, "99%"),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
    )


def _latency_ms(text: str, percentile: str) -> float:
    match = _search(rf"^\s*{percentile}\s+([\d.]+)(us|ms|s)$", text)
    return float(match[1]) * UNIT_MS[match[2]]


def _search(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise WrkError(f"unexpected wrk output (no match for {pattern!r}):\n{text}")
    return match
