"""Chaos fixtures: the whole stack as `make run` starts it, and a record of what each scenario
measured.

`stack` is TorchServe (model_store/mnist.mar, the project's config) with the web UI under
waitress in front, on free ports, with every file in a temporary directory. It starts once per
session and serves every scenario that leaves it whole (a killed worker is replaced by TorchServe
itself); the scenario that kills TorchServe starts its own with `start_stack`. Both always stop,
leaving no process behind.

`record` keeps each scenario's figures: printed as a table at the end of the run and written to
artifacts/chaos/summary.json, the failed scenarios' figures included.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
import requests
import yaml

from bench.metrics_chart import parse, total
from tools import paths
from tools.stack import Stack, StackConfig
from tools.torchserve import PORT_FIELDS, free_ports, process_group_alive
from webui.metrics import UPSTREAM_ERROR_KINDS

SUMMARY = paths.ARTIFACTS_DIR / "chaos" / "summary.json"
# TorchServe's start() returns once one worker is READY; the scenarios start from all of them.
WORKERS = yaml.safe_load((paths.SERVE_CONFIG_DIR / "model-config.yaml").read_text())["minWorkers"]
FIGURES: dict[str, dict[str, object]] = {}  # scenario → figure → value, in the order recorded

Record = Callable[..., None]


def start_stack(factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A started stack on free ports; stopped afterwards, with nothing of TorchServe left."""
    if not paths.SHIPPED_MAR.exists():
        pytest.skip("model_store/mnist.mar is not built yet (make archive)")
    config = StackConfig(**free_ports("ui_port", *PORT_FIELDS), run_dir=factory.mktemp("stack"))
    with Stack(config) as stack:
        deadline = time.monotonic() + 60
        while len(stack.torchserve.ready_workers()) < WORKERS:
            assert time.monotonic() < deadline, f"fewer than {WORKERS} workers READY after 60 s"
            time.sleep(0.2)
        yield stack
        pgid = stack.torchserve.process_group  # after any restart, the running TorchServe's
    assert pgid is None or not process_group_alive(pgid), "TorchServe left processes behind"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory)


@pytest.fixture(scope="session")
def seven() -> bytes:
    """What the load sends: the page's canvas export of a 7 (a 280×280 PNG)."""
    return (paths.SAMPLES_DIR / "seven.png").read_bytes()


def ui_failures(url: str) -> dict[str, int]:
    """What the UI at `url` has counted so far (its /metrics): predictions it shed, and failed
    calls to TorchServe by kind (unreachable, unavailable, timeout, …)."""
    sample = parse(requests.get(f"{url}/metrics", timeout=5).text)
    counts = {
        kind: total(sample, "webui_torchserve_errors_total", kind=kind)
        for kind in UPSTREAM_ERROR_KINDS
    }
    counts["shed"] = total(sample, "webui_requests_shed_total")
    return {kind: int(count) for kind, count in counts.items()}


def since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The counts that grew from `before` to `after`, by how much."""
    return {kind: after[kind] - before[kind] for kind in after if after[kind] > before[kind]}


@pytest.fixture
def record() -> Record:
    """`record(scenario, name=value, …)`: keep figures for the summary, and print them (-s)."""

    def keep(scenario: str, **figures: object) -> None:
        FIGURES.setdefault(scenario, {}).update(figures)
        print(f"\n{scenario}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))

    return keep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(FIGURES, indent=2, ensure_ascii=False) + "\n")
    terminalreporter.section("chaos figures")
    for scenario in sorted(FIGURES):
        for name, value in FIGURES[scenario].items():
            terminalreporter.write_line(f"{scenario:20} {name:52} {value}")
    terminalreporter.write_line(f"(also in {SUMMARY})")
