"""A chart of both components' Prometheus metrics during a short real run (docs/images).

    python -m bench.metrics_chart        # about 40 s: TorchServe start-up, then 3 load phases

Starts TorchServe and the web UI as `make run` does (free ports, a temporary run directory),
scrapes the UI's /metrics and TorchServe's metrics port every second while wrk POSTs the canvas
sample to /api/predict in three phases (a few clients, then far more than the UI lets through
to TorchServe, then a few again), and plots what the scrapes said, computed as Prometheus
would (rates of counters, quantiles from histogram buckets). Not Grafana: matplotlib, from the
same series the dashboard in deploy/grafana/ queries. The raw scrapes are kept as JSON.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from bench import wrk
from tools import paths
from tools.cli import parse_config
from tools.stack import Stack, StackConfig
from tools.torchserve import PORT_FIELDS, free_port, free_ports


@dataclass
class ChartConfig:
    phases: str = "4:8,64:8,4:6"  # wrk phases as connections:seconds, one after another
    interval: float = 1.0  # seconds between scrapes
    image: Path = paths.SAMPLES_DIR / "seven.png"  # the request body (the page's canvas export)
    out: Path = paths.REPO_ROOT / "docs" / "images" / "webui-metrics.png"  # the chart
    raw: Path = paths.ARTIFACTS_DIR / "bench" / "metrics_scrapes.json"  # every scrape, parsed


Sample = list[tuple[str, dict[str, str], float]]  # (name, labels, value) of one scrape


def parse(text: str) -> Sample:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def total(sample: Sample, name: str, **labels: str) -> float:
    """The sum of `name`'s series whose labels include `labels` (0 when none), like sum()."""
    return sum(v for n, found, v in sample if n == name and labels.items() <= found.items())


class Scraper(threading.Thread):
    """Scrapes each URL every `interval` seconds until stopped: [(t, {url: sample})]."""

    def __init__(self, urls: list[str], interval: float) -> None:
        super().__init__(daemon=True)
        self.urls, self.interval = urls, interval
        self.scrapes: list[tuple[float, dict[str, Sample]]] = []
        self.stop = threading.Event()
        self.started = time.monotonic()

    def run(self) -> None:
        while not self.stop.is_set():
            at = time.monotonic() - self.started
            self.scrapes.append(
                (at, {url: parse(requests.get(url, timeout=5).text) for url in self.urls})
            )
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - self.started - at)))


def rate(scrapes, url: str, name: str, **labels: str) -> tuple[list[float], list[float]]:
    """Per-second increase of a counter between consecutive scrapes."""
    times, values = [], []
    for (t0, a), (t1, b) in itertools.pairwise(scrapes):
        times.append(t1)
        values.append((total(b[url], name, **labels) - total(a[url], name, **labels)) / (t1 - t0))
    return times, values


def gauge(scrapes, url: str, name: str) -> tuple[list[float], list[float]]:
    return [t for t, _ in scrapes], [total(s[url], name) for _, s in scrapes]


def quantile(scrapes, url: str, q: float, name: str, **labels: str):
    """histogram_quantile(q, sum by (le) (increase of the buckets)) between consecutive scrapes,
    in ms, interpolated within a bucket as Prometheus does."""
    times, values = [], []
    for (_, a), (t1, b) in itertools.pairwise(scrapes):
        bounds = sorted({float(found["le"]) for n, found, _ in b[url] if n == name + "_bucket"})
        buckets = [
            (
                le,
                total(b[url], name + "_bucket", le=_le(le), **labels)
                - total(a[url], name + "_bucket", le=_le(le), **labels),
            )
            for le in bounds
        ]
        times.append(t1)
        count = buckets[-1][1] if buckets else 0
        if count <= 0:
            values.append(math.nan)
            continue
        rank, lower, below = q * count, 0.0, 0.0
        for upper, cumulative in buckets:
            if cumulative >= rank:
                top = lower if math.isinf(upper) else upper
                share = (rank - below) / max(cumulative - below, 1e-9)
                values.append((lower + (top - lower) * share) * 1000)
                break
            lower, below = upper, cumulative
    return times, values


def _le(bound: float) -> str:
    """A bucket bound as the text format writes it (0.005, 1.0, +Inf)."""
    return "+Inf" if math.isinf(bound) else repr(bound)


def main(argv: list[str] | None = None) -> int:
    config = parse_config(ChartConfig, argv)
    phases = [tuple(int(x) for x in phase.split(":")) for phase in config.phases.split(",")]
    with tempfile.TemporaryDirectory() as run_dir:
        stack_config = StackConfig(
            ui_port=free_port(), **free_ports(*PORT_FIELDS), run_dir=Path(run_dir)
        )
        with Stack(stack_config) as stack:
            ui = f"{stack.url}/metrics"
            torchserve = f"{stack.torchserve.metrics_url}/metrics"
            script = Path(run_dir) / "post.lua"
            script.write_text(wrk.post_script(config.image, {"Content-Type": "image/png"}))
            scraper = Scraper([ui, torchserve], config.interval)
            scraper.start()
            marks = []
            for connections, seconds in phases:
                marks.append((time.monotonic() - scraper.started, connections))
                result = wrk.run(
                    f"{stack.url}/api/predict",
                    script,
                    connections=connections,
                    threads=2,
                    seconds=seconds,
                )
                print(
                    f"{connections} clients, {seconds} s: {result.requests_per_s:.0f} requests/s, "
                    f"p99 {result.p99_ms:.1f} ms, non-2xx {result.non_2xx}",
                    flush=True,
                )
            time.sleep(2 * config.interval)
            scraper.stop.set()
            scraper.join()
            raw_torchserve = requests.get(torchserve, timeout=5).text
    scrapes = scraper.scrapes
    config.raw.parent.mkdir(parents=True, exist_ok=True)
    config.raw.write_text(json.dumps({"phases": marks, "scrapes": scrapes}))
    config.raw.with_suffix(".torchserve.txt").write_text(raw_torchserve)
    plot(scrapes, marks, ui, torchserve, config.out)
    print(f"Wrote {config.out} and {config.raw}")
    return 0


def plot(scrapes, marks, ui: str, torchserve: str, out: Path) -> None:
    import matplotlib  # only here: the rest of the module needs no display stack

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    route = {"route": "/api/predict"}
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), sharex=True)
    (answers, latency), (load, upstream) = axes

    for status, colour in (("200", "tab:green"), ("503", "tab:orange")):
        answers.plot(
            *rate(scrapes, ui, "webui_requests_total", status=status, **route),
            label=f"{status}",
            color=colour,
        )
    answers.set_title("UI: /api/predict answers per second, by status")
    answers.set_ylabel("answers/s")

    for q, style in ((0.5, "-"), (0.99, "--")):
        latency.plot(
            *quantile(scrapes, ui, q, "webui_request_duration_seconds", **route),
            style,
            label=f"p{round(q * 100)}",
            color="tab:blue",
        )
    latency.set_title("UI: /api/predict latency (from the histogram)")
    latency.set_ylabel("ms")

    load.plot(*gauge(scrapes, ui, "webui_torchserve_in_flight"), label="in flight to TorchServe")
    load.plot(
        *gauge(scrapes, ui, "webui_torchserve_in_flight_limit"),
        ":",
        label="max_in_flight",
        color="black",
    )
    times, shed = rate(scrapes, ui, "webui_requests_shed_total")
    load.plot(times, [v / 100 for v in shed], label="shed per second / 100", color="tab:orange")
    load.set_title("UI: predictions in flight, and shedding")

    upstream.plot(
        *rate(scrapes, torchserve, "ts_inference_requests_total"),
        label="inference requests/s",
        color="tab:purple",
    )
    upstream.set_title("TorchServe (its metrics port): inference requests per second")
    upstream.set_ylabel("requests/s")

    for ax in axes.flat:
        for at, connections in marks:
            ax.axvline(at, color="grey", linewidth=0.6)
            ax.annotate(
                f"{connections} clients",
                (at, 1),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                va="top",
                ha="left",
                color="grey",
            )
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("seconds")
    fig.suptitle(
        "Scraped from a real run: TorchServe + the web UI on 2 shared cores, wrk load", fontsize=10
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    sys.exit(main())
