"""Latency and throughput of TorchServe for several worker / batch settings, side by side.

Starts its own TorchServe (free ports, temporary directory, the project's config, or another
config.properties with --config-template) serving model_store/mnist.mar, then for every setting
re-registers mnist through the management API with that many workers, batch size and batch delay,
and measures with wrk (bench/wrk.py):
  one client   one connection: p50 / p99 latency (what a single user feels)
  concurrent   N connections: throughput and p50 / p99 latency (what a busy server does)
Settings are interleaved and repeated (round 1: all settings, round 2: all settings, …) so that
background load hits them alike; medians over rounds are shown.

The request is docs/samples/seven.png, a 280×280 canvas export, sent raw as the web UI sends it.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from bench import wrk
from tools.archive import stock_model_store
from tools.cli import parse_config
from tools.paths import ARTIFACTS_DIR, REPO_ROOT, SERVE_CONFIG_DIR
from tools.torchserve import TorchServe, free_ports

SETTINGS = "1:1:0,2:1:0,3:1:0,2:4:1,2:8:1,2:8:2"
SAMPLE = REPO_ROOT / "docs" / "samples" / "seven.png"


@dataclass
class BenchConfig:
    settings: str = SETTINGS  # workers:batch_size:max_batch_delay_ms, comma-separated
    seconds: int = 8  # wrk run length, per setting, load and round
    warmup: int = 2  # seconds of load before measuring each setting
    concurrency: int = 16  # connections for the throughput run
    repeats: int = 2  # rounds over all settings
    config_template: Path = SERVE_CONFIG_DIR / "config.properties"  # e.g. other netty threads
    out: Path = ARTIFACTS_DIR / "bench" / "serve_latency.json"  # raw results


@dataclass
class Measurement:
    setting: str
    round: int
    seq_p50_ms: float
    seq_p99_ms: float
    conc_p50_ms: float
    conc_p99_ms: float
    throughput_rps: float
    errors: int
    mean_batch: float  # images per forward pass under concurrency (from /metrics)
    load_before: float  # 1-minute load average when the measurement started


def register(server: TorchServe, workers: int, batch: int, delay_ms: int) -> dict:
    """Re-register mnist with this setting; returns TorchServe's own description of it."""
    headers = {"Authorization": f"Bearer {server.token('management')}"}
    base = server.management_url + "/models"
    requests.delete(f"{base}/mnist", headers=headers, timeout=120)
    params = {
        "url": "mnist.mar",
        "batch_size": batch,
        "max_batch_delay": delay_ms,
        "initial_workers": workers,
        "synchronous": "true",
    }
    requests.post(base, params=params, headers=headers, timeout=300).raise_for_status()
    # model-config.yaml's minWorkers/maxWorkers win over initial_workers: scale explicitly.
    scale = {"min_worker": workers, "max_worker": workers, "synchronous": "true"}
    requests.put(f"{base}/mnist", params=scale, headers=headers, timeout=300).raise_for_status()
    [model] = requests.get(f"{base}/mnist", headers=headers, timeout=60).json()
    return model


def batch_counters(server: TorchServe) -> tuple[float, float]:
    """(images classified, forward passes) so far, from the handler's Prometheus counters."""
    text = requests.get(server.metrics_url + "/metrics", timeout=30).text
    totals = {"ImagesClassified": 0.0, "ForwardPasses": 0.0}
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return totals["ImagesClassified"], totals["ForwardPasses"]


def measure(server: TorchServe, config: BenchConfig, setting: str, round_: int) -> Measurement:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        headers = {"Content-Type": "image/png", "Authorization": f"Bearer {server.token()}"}
        script.write_text(wrk.post_script(SAMPLE, headers))
        url = f"{server.inference_url}/predictions/mnist"

        def load_with(connections: int, seconds: int) -> wrk.WrkResult:
            threads = min(2, connections)
            return wrk.run(url, script, connections=connections, threads=threads, seconds=seconds)

        load_with(config.concurrency, config.warmup)
        one = load_with(1, config.seconds)
        images_before, passes_before = batch_counters(server)
        many = load_with(config.concurrency, config.seconds)
        time.sleep(0.5)  # metrics reach the frontend asynchronously
        images_after, passes_after = batch_counters(server)
    return Measurement(
        setting=setting,
        round=round_,
        seq_p50_ms=round(one.p50_ms, 2),
        seq_p99_ms=round(one.p99_ms, 2),
        conc_p50_ms=round(many.p50_ms, 2),
        conc_p99_ms=round(many.p99_ms, 2),
        throughput_rps=round(many.requests_per_s, 1),
        errors=one.errors + many.errors,
        mean_batch=round((images_after - images_before) / max(passes_after - passes_before, 1), 2),
        load_before=round(load, 2),
    )


def summary_table(results: list[Measurement], config: BenchConfig) -> str:
    lines = [
        f"wrk, {config.seconds:g} s per run: one connection, then {config.concurrency}; "
        f"medians over {config.repeats} rounds.",
        "",
        f"| workers:batch:delay | 1 client p50 ms | p99 ms | {config.concurrency} clients p50 ms "
        "| p99 ms | req/s | images/pass | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for setting in dict.fromkeys(m.setting for m in results):
        rows = [m for m in results if m.setting == setting]

        def med(name: str, rows: list[Measurement] = rows) -> float:
            return round(statistics.median(getattr(m, name) for m in rows), 2)

        lines.append(
            f"| {setting} | {med('seq_p50_ms')} | {med('seq_p99_ms')} | {med('conc_p50_ms')} | "
            f"{med('conc_p99_ms')} | {med('throughput_rps')} | {med('mean_batch')} | "
            f"{sum(m.errors for m in rows)} |"
        )
    return "\n".join(lines)


def run(config: BenchConfig) -> list[Measurement]:
    settings = [tuple(int(x) for x in s.split(":")) for s in config.settings.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        store = Path(tmp) / "model_store"
        try:
            stock_model_store(store)
        except FileNotFoundError as error:
            raise SystemExit(f"error: {error}; train a model or run `make archive` first") from None
        server = TorchServe(
            **free_ports(),
            workdir=Path(tmp) / "work",
            model_store=store,
            config_template=config.config_template,
            enable_model_api=True,  # it re-registers mnist per setting; a private, temporary server
        )
        print(f"Starting TorchServe ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}) …")
        with server:
            results = []
            for round_ in range(1, config.repeats + 1):
                for workers, batch, delay in settings:
                    setting = f"{workers}:{batch}:{delay}"
                    model = register(server, workers, batch, delay)
                    actual = (len(model["workers"]), model["batchSize"], model["maxBatchDelay"])
                    if actual != (workers, batch, delay):
                        print(f"warning: asked {setting}, TorchServe runs {actual}")
                    result = measure(server, config, setting, round_)
                    results.append(result)
                    print(f"round {round_} {setting}: {asdict(result)}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    config = parse_config(BenchConfig, argv)
    results = run(config)
    table = summary_table(results, config)
    print("\n" + table)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "config": {k: str(v) for k, v in asdict(config).items()},
        "cpus": os.cpu_count(),
        "results": [asdict(m) for m in results],
        "table": table,
    }
    config.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nRaw results: {config.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
