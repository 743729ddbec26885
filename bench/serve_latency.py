"""Latency and throughput of TorchServe for several worker / batch settings, side by side.

Starts its own TorchServe (free ports, temporary directory, the project's config) serving
model_store/mnist.mar, then for every setting re-registers mnist through the management API with
that many workers, batch size and batch delay, and measures:
  sequential   one request at a time: p50 / p95 latency (what a single user feels)
  concurrent   N clients at once: throughput and p50 / p95 latency (what a busy server does)
Settings are interleaved and repeated (round 1: all settings, round 2: all settings, …) so that
background load, e.g. training on the same cores, hits them alike; medians over rounds are shown.

The request is a 280×280 canvas-style PNG of a drawn digit, sent raw, as the web UI sends it.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import requests
from PIL import Image, ImageDraw

from tools.archive import stock_model_store
from tools.cli import parse_config
from tools.paths import ARTIFACTS_DIR
from tools.torchserve import TorchServe, free_port

SETTINGS = "1:1:0,1:8:1,1:8:5,2:1:0,2:4:5,2:8:1,2:8:5,2:8:20"


@dataclass
class BenchConfig:
    settings: str = SETTINGS  # workers:batch_size:max_batch_delay_ms, comma-separated
    sequential: int = 100  # single requests, one after the other, per setting and round
    concurrent_requests: int = 400  # requests per setting and round under concurrency
    concurrency: int = 8  # clients sending at once
    warmup: int = 20  # requests before measuring each setting
    repeats: int = 2  # rounds over all settings
    out: Path = ARTIFACTS_DIR / "bench" / "serve_latency.json"  # raw results


@dataclass
class Measurement:
    setting: str
    round: int
    seq_p50_ms: float
    seq_p95_ms: float
    conc_p50_ms: float
    conc_p95_ms: float
    throughput_rps: float
    errors: int
    mean_batch: float  # images per forward pass under concurrency (from /metrics)
    load_before: float  # 1-minute load average when the measurement started


def digit_png() -> bytes:
    """A 280×280 canvas export: black strokes on a transparent background."""
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(60, 60), (220, 60), (120, 240)], fill=(0, 0, 0, 255), width=22)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Client:
    """Sends the benchmark image; one HTTP session per thread (connections are reused)."""

    def __init__(self, server: TorchServe, image: bytes) -> None:
        self.server, self.image = server, image
        self.url = f"{server.inference_url}/predictions/mnist"
        self.local = threading.local()

    def request(self, _: object = None) -> tuple[float, bool]:
        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        headers = {"Authorization": f"Bearer {self.server.token()}"}
        started = time.perf_counter()
        answer = session.post(self.url, data=self.image, headers=headers, timeout=60)
        return (time.perf_counter() - started) * 1000, answer.status_code == 200


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


def measure(client: Client, config: BenchConfig, setting: str, round_: int) -> Measurement:
    load = os.getloadavg()[0]
    for _ in range(config.warmup):
        client.request()
    sequential = [client.request() for _ in range(config.sequential)]
    images_before, passes_before = batch_counters(client.server)
    with ThreadPoolExecutor(config.concurrency) as pool:
        started = time.perf_counter()
        concurrent = list(pool.map(client.request, range(config.concurrent_requests)))
        elapsed = time.perf_counter() - started
    time.sleep(0.5)  # metrics reach the frontend asynchronously
    images_after, passes_after = batch_counters(client.server)
    seq_ms = [ms for ms, _ in sequential]
    conc_ms = [ms for ms, _ in concurrent]
    return Measurement(
        setting=setting,
        round=round_,
        seq_p50_ms=round(percentile(seq_ms, 50), 1),
        seq_p95_ms=round(percentile(seq_ms, 95), 1),
        conc_p50_ms=round(percentile(conc_ms, 50), 1),
        conc_p95_ms=round(percentile(conc_ms, 95), 1),
        throughput_rps=round(len(concurrent) / elapsed, 1),
        errors=sum(not ok for _, ok in sequential + concurrent),
        mean_batch=round((images_after - images_before) / max(passes_after - passes_before, 1), 2),
        load_before=round(load, 2),
    )


def summary_table(results: list[Measurement], config: BenchConfig) -> str:
    lines = [
        f"Sequential: {config.sequential} requests; concurrent: {config.concurrent_requests} "
        f"requests from {config.concurrency} clients; median over {config.repeats} rounds.",
        "",
        "| workers:batch:delay | seq p50 ms | seq p95 ms | conc p50 ms | conc p95 ms | req/s | "
        "images/pass | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for setting in dict.fromkeys(m.setting for m in results):
        rows = [m for m in results if m.setting == setting]

        def med(name: str, rows: list[Measurement] = rows) -> float:
            return round(statistics.median(getattr(m, name) for m in rows), 1)

        lines.append(
            f"| {setting} | {med('seq_p50_ms')} | {med('seq_p95_ms')} | {med('conc_p50_ms')} | "
            f"{med('conc_p95_ms')} | {med('throughput_rps')} | {med('mean_batch')} | "
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
            inference_port=free_port(),
            management_port=free_port(),
            metrics_port=free_port(),
            workdir=Path(tmp) / "work",
            model_store=store,
        )
        print(f"Starting TorchServe ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}) …")
        with server:
            client = Client(server, digit_png())
            results = []
            for round_ in range(1, config.repeats + 1):
                for workers, batch, delay in settings:
                    setting = f"{workers}:{batch}:{delay}"
                    model = register(server, workers, batch, delay)
                    actual = (len(model["workers"]), model["batchSize"], model["maxBatchDelay"])
                    if actual != (workers, batch, delay):
                        print(f"warning: asked {setting}, TorchServe runs {actual}")
                    result = measure(client, config, setting, round_)
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
