"""Side by side, in one run with one load generator (wrk): this project's TorchServe, the whole
chain through the web UI, a server written the seed project's way, and the in-process floor.

    python -m bench.compare                    # make bench-compare (about 13 minutes)
    python -m bench.compare --rounds 1 --seconds 2 --bodies canvas

The systems, each started here on free ports in a temporary directory and always stopped:
  torchserve  POST /predictions/mnist on this project's TorchServe: raw body, inference key
  chain       POST /api/predict on the web UI (tools.stack.Stack, as `make run`): UI → TorchServe
  reference   POST /predict on bench.seed_reference: Flask + waitress, model in the server process,
              naive preprocessing
  floor       handler.preprocess.preprocess + forward pass of the shipped model, in this process,
              one thread, no HTTP: the least a server running this project's pipeline can take
Both TorchServes serve the same archive, built from the current sources.

The bodies, the same bytes for every system: `canvas` (docs/samples/seven.png, the page's 280×280
export), `photo` (docs/samples/three-photo.jpg) and `small` (a 64×64 PNG upload drawn here).

Round after round, for each body, each system in turn gets a warm-up, then
  wrk -t1 -c1      p50 / p99 latency of a lone client (the floor: of one call)
  wrk -t2 -c16     requests/s under load (--clients, --threads)
so background load hits all systems alike; the table shows medians over rounds, and the ratio of
requests/s to the reference's for the same body. A system that fails to start, or stops
answering, is reported and left out; the others go on. Non-2xx answers and socket errors are
counted. Output: the table on stdout, and under artifacts/bench/ compare.json (config, every
measurement, failures, table) and compare.png (the figures as bars).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import requests
import torch
from PIL import Image, ImageDraw

from bench import wrk
from handler.normalize import scale_pixels
from handler.preprocess import preprocess
from tools import paths
from tools.archive import stock_model_store
from tools.cli import parse_config
from tools.stack import Stack, StackConfig
from tools.torchserve import PORT_FIELDS, ServerError, TorchServe, free_port, free_ports

SAMPLES = paths.REPO_ROOT / "docs" / "samples"
REFERENCE = "reference"  # the system every other one's requests/s is divided by


@dataclass
class CompareConfig:
    rounds: int = 3  # rounds over every body and system; the table shows medians over rounds
    seconds: int = 10  # length of each measured run (wrk takes whole seconds)
    warmup: int = 2  # seconds of load before each measurement, discarded (0: none)
    clients: int = 16  # connections of the throughput run
    threads: int = 2  # wrk threads of the throughput run
    bodies: str = "canvas,photo,small"  # request bodies, comma-separated
    systems: str = "torchserve,chain,reference,floor"  # systems to compare, comma-separated
    out: Path = paths.ARTIFACTS_DIR / "bench" / "compare.json"  # results; the plot goes beside


@dataclass(frozen=True)
class Body:
    name: str
    path: Path
    content_type: str


@dataclass
class Measurement:
    """One system, one body, one round."""

    system: str
    body: str
    round: int
    p50_ms: float  # one client (the floor: one call)
    p99_ms: float
    requests_per_s: float | None = None  # with `clients` connections; None for the floor
    errors: int = 0  # non-2xx answers and socket errors, over both measured runs
    wrk: dict = field(default_factory=dict)  # wrk's figures: one_client, many_clients


@dataclass
class Row:
    """One system and body in the table: medians over rounds."""

    body: str
    system: str
    p50_ms: float
    p99_ms: float
    requests_per_s: float | None
    vs_reference: float | None  # requests/s divided by the reference's for the same body
    errors: int  # summed over rounds


class System(Protocol):
    name: str

    def measure(self, body: Body, round_: int, config: CompareConfig) -> Measurement: ...


# ---- the bodies ----------------------------------------------------------------------------------


def small_upload() -> bytes:
    """A 64×64 PNG of a 4, dark ink on white, as a cropped scan is uploaded; drawn here with fixed
    coordinates, so every run sends the same bytes."""
    image = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(image).line([(40, 56), (40, 8), (14, 40), (50, 40)], fill=20, width=5)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_bodies(names: list[str], folder: Path) -> list[Body]:
    """The chosen bodies, as files wrk can read."""
    small = folder / "small.png"
    small.write_bytes(small_upload())
    known = {
        "canvas": Body("canvas", SAMPLES / "seven.png", "image/png"),
        "photo": Body("photo", SAMPLES / "three-photo.jpg", "image/jpeg"),
        "small": Body("small", small, "image/png"),
    }
    unknown = set(names) - set(known)
    if unknown:
        raise SystemExit(f"error: unknown bodies {sorted(unknown)}; choose from {sorted(known)}")
    return [known[name] for name in names]


# ---- the systems ---------------------------------------------------------------------------------


class HttpSystem:
    """A server measured with wrk: bodies POSTed raw to `url`."""

    def __init__(self, name: str, url: str, folder: Path, headers: Callable[[], dict]) -> None:
        self.name, self.url, self.folder = name, url, folder
        self.headers = headers  # called before each measurement: a key read then is fresh

    def measure(self, body: Body, round_: int, config: CompareConfig) -> Measurement:
        script = self.folder / f"{self.name}-{body.name}.lua"
        headers = {"Content-Type": body.content_type, **self.headers()}
        script.write_text(wrk.post_script(body.path, headers))
        load = {"connections": config.clients, "threads": config.threads}
        if config.warmup:
            wrk.run(self.url, script, **load, seconds=config.warmup)  # connections, caches
        one = wrk.run(self.url, script, connections=1, threads=1, seconds=config.seconds)
        many = wrk.run(self.url, script, **load, seconds=config.seconds)
        return Measurement(
            self.name,
            body.name,
            round_,
            p50_ms=one.p50_ms,
            p99_ms=one.p99_ms,
            requests_per_s=many.requests_per_s,
            errors=one.errors + many.errors,
            wrk={"one_client": asdict(one), "many_clients": asdict(many)},
        )


class Floor:
    """The handler's preprocessing and the model's forward pass, called here, one at a time."""

    name = "floor"

    def __init__(self, model: Path) -> None:
        torch.set_num_threads(1)  # as each TorchServe worker (OMP_NUM_THREADS=1)
        self.model = torch.jit.load(str(model), map_location="cpu").eval()

    def measure(self, body: Body, round_: int, config: CompareConfig) -> Measurement:
        data = body.path.read_bytes()
        self.time_calls(data, config.warmup)
        ms = self.time_calls(data, config.seconds)
        p50, p99 = np.percentile(ms, [50, 99])
        return Measurement(self.name, body.name, round_, float(p50), float(p99))

    def time_calls(self, data: bytes, seconds: float) -> list[float]:
        """Milliseconds per call, calling again and again for `seconds`."""
        ms: list[float] = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            with torch.inference_mode():
                self.model(torch.from_numpy(scale_pixels(preprocess(data)))[None, None])
            ms.append((time.perf_counter() - started) * 1000)
        return ms


def start_torchserve(exits: ExitStack, tmp: Path) -> HttpSystem:
    server = TorchServe(
        **free_ports(),
        workdir=tmp / "torchserve",
        model_store=model_store(tmp),
    )
    exits.enter_context(server)
    url = f"{server.inference_url}/predictions/{paths.MODEL_NAME}"
    # token() renews a key about to expire, so each measurement starts with a valid one.
    return HttpSystem("torchserve", url, tmp, lambda: {"Authorization": f"Bearer {server.token()}"})


SHED_NONE_BELOW = 64  # clients the chain serves without answering 503 overloaded


def start_chain(exits: ExitStack, tmp: Path) -> HttpSystem:
    stack = Stack(
        StackConfig(
            **free_ports("ui_port", *PORT_FIELDS),
            run_dir=tmp / "chain",
            model_store=model_store(tmp),
            # The chain's capacity is measured, not its admission policy: no client is shed.
            ui_max_in_flight=SHED_NONE_BELOW,
            ui_threads=SHED_NONE_BELOW + 8,
        )
    )
    exits.enter_context(stack)

    def renew_for_the_ui() -> dict:
        # The UI reads the key file; `make run` renews the key the same way while it serves.
        stack.torchserve.renew_keys()
        return {}

    return HttpSystem("chain", f"{stack.url}/api/predict", tmp, renew_for_the_ui)


def start_reference(exits: ExitStack, tmp: Path) -> HttpSystem:
    port = free_port()
    log = tmp / "reference.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.seed_reference", "--port", str(port)],
            cwd=paths.REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches this process only; the ExitStack stops it
        )
    exits.callback(stop_process, process)
    url = f"http://{paths.HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"the reference server exited: {log.read_text()[-2000:]}")
        try:
            requests.get(url, timeout=1)  # any answer (404): the model is loaded, waitress serves
            return HttpSystem(REFERENCE, f"{url}/predict", tmp, dict)
        except requests.ConnectionError:
            time.sleep(0.2)
    raise ServerError(f"the reference server did not answer on {url} within 60 s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_floor(exits: ExitStack, tmp: Path) -> Floor:
    return Floor(paths.SHIPPED_MODEL)


def model_store(tmp: Path) -> Path:
    """mnist.mar built once per run from the current sources, for both TorchServes."""
    store = tmp / "model_store"
    if not store.is_dir():
        stock_model_store(store)
    return store


STARTERS: dict[str, Callable[[ExitStack, Path], System]] = {
    "torchserve": start_torchserve,
    "chain": start_chain,
    REFERENCE: start_reference,
    "floor": start_floor,
}


def start_systems(names: list[str], exits: ExitStack, tmp: Path) -> tuple[list[System], dict]:
    """The systems that started, and {name: why} for those that did not."""
    unknown = set(names) - set(STARTERS)
    if unknown:
        raise SystemExit(f"error: unknown systems {sorted(unknown)}; choose from {list(STARTERS)}")
    systems, failures = [], {}
    for name in names:
        print(f"Starting {name} …", flush=True)
        try:
            systems.append(STARTERS[name](exits, tmp))
        except Exception as error:  # whatever stops one system must not stop the comparison
            print(f"  {name} did not start: {error}", file=sys.stderr, flush=True)
            failures[name] = f"did not start: {error}"
    return systems, failures


# ---- measuring and reporting ---------------------------------------------------------------------


def measure(
    systems: list[System], bodies: list[Body], config: CompareConfig, failures: dict
) -> list[Measurement]:
    """Every round, body and system, interleaved. A system that stops answering is dropped, with
    the reason in `failures`."""
    measurements = []
    for round_ in range(1, config.rounds + 1):
        for body in bodies:
            for system in list(systems):
                try:
                    result = system.measure(body, round_, config)
                except wrk.WrkError as error:
                    print(f"  {system.name} dropped: {error}", file=sys.stderr, flush=True)
                    failures[system.name] = f"stopped answering in round {round_}: {error}"
                    systems.remove(system)
                    continue
                measurements.append(result)
                print(f"round {round_} {body.name:6} {system.name:10} {_brief(result)}", flush=True)
    return measurements


def _brief(m: Measurement) -> str:
    rps = "" if m.requests_per_s is None else f", {m.requests_per_s:.0f} requests/s"
    return f"p50 {m.p50_ms:.2f} ms, p99 {m.p99_ms:.2f} ms{rps}, {m.errors} errors"


def summarise(measurements: list[Measurement]) -> list[Row]:
    """Medians over rounds per body and system, in the order they were measured."""
    rows = []
    for body, system in dict.fromkeys((m.body, m.system) for m in measurements):
        mine = [m for m in measurements if (m.body, m.system) == (body, system)]
        rates = [m.requests_per_s for m in mine if m.requests_per_s is not None]
        rows.append(
            Row(
                body=body,
                system=system,
                p50_ms=statistics.median(m.p50_ms for m in mine),
                p99_ms=statistics.median(m.p99_ms for m in mine),
                requests_per_s=statistics.median(rates) if rates else None,
                vs_reference=None,
                errors=sum(m.errors for m in mine),
            )
        )
    reference = {r.body: r.requests_per_s for r in rows if r.system == REFERENCE}
    for row in rows:
        if row.requests_per_s is not None and reference.get(row.body):
            row.vs_reference = row.requests_per_s / reference[row.body]
    return rows


def table(rows: list[Row], config: CompareConfig, failures: dict[str, str]) -> str:
    """The rows as markdown, with what the columns mean above and the failures below."""
    lines = [
        f"Medians over {config.rounds} rounds of {config.seconds} s runs (wrk); 1 client: "
        f"wrk -t1 -c1; {config.clients} clients: wrk -t{config.threads} -c{config.clients}; "
        "floor: one in-process call, no HTTP.",
        "",
        f"| body | system | p50 ms, 1 client | p99 ms, 1 client | requests/s, {config.clients} "
        "clients | × reference | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        rps = "—" if r.requests_per_s is None else f"{r.requests_per_s:.0f}"
        ratio = "—" if r.vs_reference is None else f"{r.vs_reference:.2f}×"
        lines.append(
            f"| {r.body} | {r.system} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {rps} | {ratio} | "
            f"{r.errors} |"
        )
    if failures:
        lines += ["", "Left out:"] + [f"- {name}: {why}" for name, why in failures.items()]
    return "\n".join(lines)


def plot(rows: list[Row], config: CompareConfig, path: Path) -> None:
    """Bars per body and system: requests/s under load (left), p50 of a lone client (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_rps, ax_p50) = plt.subplots(1, 2, figsize=(12, 4.5))
    _bars(ax_rps, rows, lambda r: r.requests_per_s)  # the floor has no rate: not shown
    _bars(ax_p50, rows, lambda r: r.p50_ms)
    ax_rps.set(title=f"requests/s, {config.clients} clients (higher is better)")
    ax_p50.set(title="p50 ms, 1 client (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _bars(ax: Any, rows: list[Row], value: Callable[[Row], float | None]) -> None:
    """One group of bars per body, one bar per system that has a value."""
    bodies = list(dict.fromkeys(r.body for r in rows))
    shown = [r for r in rows if value(r) is not None]
    systems = list(dict.fromkeys(r.system for r in shown))
    width = 0.8 / max(len(systems), 1)
    for i, system in enumerate(systems):
        mine = {r.body: value(r) for r in shown if r.system == system}
        x = [b + (i - (len(systems) - 1) / 2) * width for b in range(len(bodies))]
        ax.bar(x, [mine.get(body, 0) for body in bodies], width, label=system)
    ax.set_xticks(range(len(bodies)), bodies)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    config = parse_config(CompareConfig, argv)
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (make bench-compare installs it).", file=sys.stderr)
        return 1
    # Ctrl-C and a supervisor's SIGTERM both stop the servers, through the ExitStack; SIGINT is set
    # explicitly because a shell starting us in the background would otherwise have it ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp, ExitStack() as exits:
            bodies = write_bodies(config.bodies.split(","), Path(tmp))
            systems, failures = start_systems(config.systems.split(","), exits, Path(tmp))
            measurements = measure(systems, bodies, config, failures)
            print("Stopping the servers …", flush=True)
    except KeyboardInterrupt:
        print("\nInterrupted; every server was stopped.", file=sys.stderr)
        return 130
    rows = summarise(measurements)
    text = table(rows, config, failures)
    print("\n" + text)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "config": {k: str(v) for k, v in asdict(config).items()},
        "cpus": os.cpu_count(),
        "load_before": load_before,  # 1, 5, 15-minute load averages when the run started
        "failures": failures,
        "measurements": [asdict(m) for m in measurements],
        "summary": [asdict(r) for r in rows],
        "table": text,
    }
    config.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(rows, config, config.out.with_suffix(".png"))
    print(f"\nResults: {config.out}, plot: {config.out.with_suffix('.png')}")
    return 0 if measurements else 1


if __name__ == "__main__":
    sys.exit(main())
