"""Throughput of the whole chain (browser-style POST /api/predict → UI → TorchServe → model), for
`make run` and for the compose stack, side by side.

Starts both on free ports (make run's processes, and the containers of `make up`), then runs wrk
against each in turn, round after round, so background load hits both alike; prints every round and
the medians. Needs the images (`make images`) and wrk (`make bench-stack` installs it).

The request is docs/samples/seven.png sent raw, as the page sends its canvas.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import wrk
from tools import containers, paths
from tools.cli import parse_config
from tools.stack import Stack, StackConfig
from tools.torchserve import PORT_FIELDS, free_port, free_ports

SAMPLE = paths.REPO_ROOT / "docs" / "samples" / "seven.png"


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


def run_wrk(url: str, config: ThroughputConfig, script: Path) -> wrk.WrkResult:
    return wrk.run(
        f"{url}/api/predict",
        script,
        connections=config.connections,
        threads=config.threads,
        seconds=config.seconds,
    )


def measure(config: ThroughputConfig) -> list[Run]:
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(wrk.post_script(SAMPLE, {"Content-Type": "image/png"}))
        local = StackConfig(
            **free_ports("ui_port", *PORT_FIELDS),
            run_dir=Path(tmp) / "run",
        )
        compose = containers.ContainersConfig(ui_port=free_port())
        with Stack(local) as stack:
            try:
                urls = {"make run": stack.url, "compose": containers.up(compose)}
                for round_ in range(1, config.rounds + 1):
                    for name, url in urls.items():
                        run_wrk(url, config, script)  # warm-up: connections, JIT, caches
                        result = run_wrk(url, config, script)
                        run = Run(
                            name,
                            round_,
                            result.requests_per_s,
                            result.p50_ms,
                            result.p99_ms,
                            result.errors,
                        )
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
