"""Scenarios 6 and 7: a 20,000-request soak straight to TorchServe, then the logs' disk use.

wrk POSTs the canvas PNG to TorchServe's inference API in rounds of ROUND_S seconds until 20,000
requests are answered, and the resident memory of the frontend and of each worker is read after
every round, once WARMUP_ROUNDS rounds have warmed it up. The issue's bound: every process grows
less than 10% from the first sample to the end. Then a short run through the UI gives its log
some traffic, and both logs must be under their caps: TorchServe's files roll at 10 MB and keep
3 archives each (serve_config/log4j2.xml), the UI's log rotates at WebUIConfig.log_max_bytes and
keeps log_backups old files.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench import wrk
from tests.chaos.conftest import Record
from tests.chaos.processes import MB, resident
from tools import paths
from tools.stack import Stack
from webui.config import WebUIConfig

SOAK_REQUESTS = 20_000
ROUND_S = 5  # whole seconds: wrk takes no fraction
# Before the first sample: the JVM compiles the hot paths, and its memory, grown by the
# scenarios before (thousands of connections at once, 4 MB uploads), settles. Sampled without a
# warm-up it grew 15% over the soak, after 2 rounds 7%, after 4 rounds up to 5%; over 66,000
# requests it was flat from about 8,000 on (its heap's size and old generation constant).
WARMUP_ROUNDS = 6
MAX_ROUNDS = 30  # bounds the soak at 150 s should TorchServe serve far less than it does
CONNECTIONS = 8  # 4 per worker: both stay busy
GROWTH = 0.10  # the bound, per process
UI_SECONDS = 3
UI_CONNECTIONS = 4  # under the UI's in-flight bound (8): nothing is shed
SAMPLE = paths.SAMPLES_DIR / "seven.png"
SIZE_UNITS = {"KB": 1024, "MB": 1024**2, "GB": 1024**3}  # log4j's, in bytes
# A file rolls once it has reached its size, so the last line written may take it past by one.
LINE_SLACK = 64 * 1024
CONSOLE = "torchserve.out"  # TorchServe's stdout, warnings only (log4j2.xml); nothing rotates it


@dataclass
class Soak:
    requests: int  # answered by TorchServe during the soak
    errors: int  # non-2xx answers and socket errors
    requests_per_s: float
    resident: list[dict[str, int]]  # bytes per process, after each round
    torchserve_log_bytes: tuple[int, int]  # TorchServe's log directory, before and after
    ui_requests: int  # answered by the UI in its short run
    ui_log_bytes: tuple[int, int]  # the UI's log files, before and after that run


def log_files(stack: Stack) -> tuple[list[Path], list[Path]]:
    """TorchServe's log files (archives included), and the UI's (rotated ones included)."""
    torchserve = [path for path in stack.torchserve.log_dir.rglob("*") if path.is_file()]
    return torchserve, sorted(stack.ui_log.parent.glob(stack.ui_log.name + "*"))


def total_bytes(files: list[Path]) -> int:
    return sum(path.stat().st_size for path in files)


@pytest.fixture(scope="module")
def soak(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Soak:
    torchserve = stack.torchserve
    script = tmp_path_factory.mktemp("soak") / "post.lua"
    headers = {"Authorization": f"Bearer {torchserve.token()}", "Content-Type": "image/png"}
    script.write_text(wrk.post_script(SAMPLE, headers))
    url = f"{torchserve.inference_url}/predictions/{paths.MODEL_NAME}"
    load = {"connections": CONNECTIONS, "threads": 2, "seconds": ROUND_S}
    for _ in range(WARMUP_ROUNDS):
        wrk.run(url, script, **load)
    logs_before = total_bytes(log_files(stack)[0])
    rounds, samples = [], [resident(torchserve)]
    while sum(r.requests for r in rounds) < SOAK_REQUESTS and len(rounds) < MAX_ROUNDS:
        rounds.append(wrk.run(url, script, **load))
        samples.append(resident(torchserve))
    logs_after = total_bytes(log_files(stack)[0])

    script.write_text(wrk.post_script(SAMPLE, {"Content-Type": "image/png"}))
    ui_before = total_bytes(log_files(stack)[1])
    ui = wrk.run(
        f"{stack.url}/api/predict",
        script,
        connections=UI_CONNECTIONS,
        threads=1,
        seconds=UI_SECONDS,
    )
    return Soak(
        requests=sum(r.requests for r in rounds),
        errors=sum(r.errors for r in rounds),
        requests_per_s=sum(r.requests for r in rounds) / (ROUND_S * len(rounds)),
        resident=samples,
        torchserve_log_bytes=(logs_before, logs_after),
        ui_requests=ui.requests,
        ui_log_bytes=(ui_before, total_bytes(log_files(stack)[1])),
    )


def test_soak_resident_memory_grows_under_10_percent(soak: Soak, record: Record):
    warm, end = soak.resident[0], soak.resident[-1]
    growth = {name: end[name] / warm[name] - 1 for name in warm if name in end}
    record(
        "6 soak",
        requests=soak.requests,
        errors=soak.errors,
        requests_per_s=round(soak.requests_per_s),
        **{
            f"RSS {name} MB": f"{warm[name] / MB:.0f} → {end[name] / MB:.0f} ({change:+.1%})"
            for name, change in sorted(growth.items())
        },
        frontend_MB_per_round=[round(sample["frontend"] / MB) for sample in soak.resident],
    )
    assert soak.requests >= SOAK_REQUESTS
    assert soak.errors == 0
    assert set(end) == set(warm), "a process was replaced during the soak"
    assert max(growth.values()) < GROWTH


def rolling_logs(log_config: Path) -> dict[str, tuple[int, int]]:
    """Each rolling log's file name → (bytes at which it rolls, archives kept)."""
    logs = {}
    for appender in ElementTree.parse(log_config).getroot().findall("./Appenders/RollingFile"):
        number, unit = appender.find("SizeBasedTriggeringPolicy").get("size").split()
        archives = int(appender.find("DefaultRolloverStrategy").get("max"))
        logs[Path(appender.get("fileName")).name] = (int(number) * SIZE_UNITS[unit], archives)
    return logs


def test_logs_stay_under_their_caps_after_the_soak(soak: Soak, stack: Stack, record: Record):
    log_dir = stack.torchserve.log_dir
    rolling = rolling_logs(stack.torchserve.config.log_config)
    torchserve_cap = sum(size * (1 + archives) for size, archives in rolling.values())
    torchserve_files, ui_files = log_files(stack)
    ui_config = WebUIConfig()  # the stack runs the UI with its default log settings
    ui_cap = (ui_config.log_backups + 1) * ui_config.log_max_bytes
    (ts_before, ts_after), (ui_before, ui_after) = soak.torchserve_log_bytes, soak.ui_log_bytes
    record(
        "7 log disk use",
        torchserve_log_dir_bytes=ts_after,
        torchserve_cap_bytes=torchserve_cap,
        torchserve_bytes_per_request=round((ts_after - ts_before) / soak.requests, 1),
        torchserve_console_bytes=(log_dir / CONSOLE).stat().st_size,
        ui_log_bytes=ui_after,
        ui_cap_bytes=ui_cap,
        ui_bytes_per_request=round((ui_after - ui_before) / soak.ui_requests, 1),
    )
    assert total_bytes(torchserve_files) <= torchserve_cap
    assert total_bytes(ui_files) <= ui_cap
    # The caps hold because each file rolls at its size and keeps so many archives; a
    # configuration that rolls later (TorchServe's own: 100 MB) or never would fail here first.
    for name, (size, archives) in rolling.items():
        assert (log_dir / name).stat().st_size <= size + LINE_SLACK, name
        assert len(list(log_dir.glob(Path(name).stem + ".*.log.gz"))) <= archives, name
    assert all(path.stat().st_size <= ui_config.log_max_bytes for path in ui_files)
    assert len(ui_files) <= ui_config.log_backups + 1
