"""Throughput of the whole chain (browser-style POST /api/predict → UI → TorchServe → model), for
`make run` and for the compose stack, side by side.

Starts both on free ports (make run's processes, and the containers of `make up`), then runs wrk
against each in turn, round after round, so background load hits both alike; prints every round and
the medians. Needs the images (`make images`) and wrk (`make bench-stack` installs it).

The request is docs/samples/seven.png sent raw, as the page sends its canvas.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tools import containers, paths
from tools.cli import parse_config
from tools.stack import Stack, StackConfig
from tools.torchserve import free_port

SAMPLE = paths.REPO_ROOT / "docs" / "samples" / "seven.png"
WRK_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/png"
local f = assert(io.open("{sample}", "rb"))
wrk.body = f:read("*all")
f:close()
"""


@dataclass
class ThroughputConfig:
    rounds: int = 3  # rounds over both stacks
    seconds: int = 15  # wrk duration per stack and round
    connections: int = 8  # concurrent keep-alive connections
    threads: int = 2  # wrk threads
    out: Path = paths.ARTIFACTS_DIR / "bench" / "stack_throughput.json"  # raw results


@dataclass
class Run:
    stack: str
    round: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers and socket errors


def wrk(url: str, config: ThroughputConfig, script: Path) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, errors) of one wrk run."""
    command = ["wrk", f"-t{config.threads}", f"-c{config.connections}", f"-d{config.seconds}s"]
    command += ["--latency", "-s", str(script), f"{url}/api/predict"]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    errors = int(non_2xx[1]) if non_2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return rps, _ms(text, "50%"), _ms(text, "99%"), errors


def _ms(text: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def measure(config: ThroughputConfig) -> list[Run]:
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT.format(sample=SAMPLE))
        local = StackConfig(
            ui_port=free_port(),
            inference_port=free_port(),
            management_port=free_port(),
            metrics_port=free_port(),
            run_dir=Path(tmp) / "run",
        )
        compose = containers.ContainersConfig(ui_port=free_port())
        with Stack(local) as stack:
            try:
                urls = {"make run": stack.url, "compose": containers.up(compose)}
                for round_ in range(1, config.rounds + 1):
                    for name, url in urls.items():
                        wrk(url, config, script)  # warm-up: connections, JIT, caches
                        run = Run(name, round_, *wrk(url, config, script))
                        runs.append(run)
                        print(f"round {round_} {name:8}: {asdict(run)}", flush=True)
            finally:
                containers.down(compose)
    return runs


def summary(runs: list[Run]) -> str:
    lines = ["| stack | requests/s (median) | p50 ms | p99 ms | errors |", "|---|---|---|---|---|"]
    for name in dict.fromkeys(run.stack for run in runs):
        mine = [run for run in runs if run.stack == name]
        rps = statistics.median(run.requests_per_s for run in mine)
        p50 = statistics.median(run.p50_ms for run in mine)
        p99 = statistics.median(run.p99_ms for run in mine)
        lines.append(
            f"| {name} | {rps:.0f} | {p50:.1f} | {p99:.1f} | {sum(r.errors for r in mine)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    config = parse_config(ThroughputConfig, argv)
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (make bench-stack installs it).", file=sys.stderr)
        return 1
    runs = measure(config)
    table = summary(runs)
    print("\n" + table)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "config": {k: str(v) for k, v in asdict(config).items()},
        "runs": [asdict(r) for r in runs],
    }
    config.out.write_text(json.dumps(report | {"table": table}, indent=2) + "\n")
    print(f"\nRaw results: {config.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
