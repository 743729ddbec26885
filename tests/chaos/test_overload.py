"""Scenario 3: 4× overload through the UI, in front of the real TorchServe.

The peak first: wrk measures what the stack serves through the UI with as many connections as
the UI lets through to TorchServe at once (its in-flight bound, so nothing is shed), and that
rate is offered open loop (requests keep arriving whatever the answers, each on a new
connection, a client giving up after PATIENCE): the goodput there (200s within it, per second)
is the peak. Then 4 times that rate. The issue's bounds: only 200 and 503 answers, and a goodput
at 4× of at least 80% of the peak.

TorchServe gets half the CPUs and the UI and the load generator the other half, as deployed,
where each container has CPU of its own. Sharing 2 cores, the overload's own cost (this
generator's 900 connections a second, the UI's 700 503s a second) is taken from TorchServe, and
goodput measured 0.75 to 0.92 of the peak: the rig's limit, not the UI's (README, "Known
limitations").
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from bench import wrk
from bench.overload import offer
from tests.chaos.conftest import Record
from tests.chaos.processes import pinned
from tools import paths
from tools.stack import Stack
from tools.torchserve import group_processes

SECONDS = 5  # per load (whole seconds: wrk takes no fraction)
# Seconds a client waits; a 200 after that is no good to anyone. The stand-in's test waits 1 s;
# a real TorchServe on one shared core answers admitted requests later (p99 0.1 to 0.8 s).
PATIENCE = 2.0
FACTOR = 4.0
KEPT = 0.8  # the bound: goodput at 4× over the peak's


def test_goodput_at_4x_overload_stays_above_80_percent_of_the_peak(
    stack: Stack, seven: bytes, record: Record, tmp_path: Path
):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs 2 CPUs: one for TorchServe, one for the UI and the load")
    torchserve = group_processes(stack.torchserve.process_group)
    ui_and_load = [*group_processes(stack.ui_process_group), psutil.Process()]
    half = len(cpus) // 2
    script = tmp_path / "post.lua"
    script.write_text(
        wrk.post_script(paths.SAMPLES_DIR / "seven.png", {"Content-Type": "image/png"})
    )
    with pinned((torchserve, set(cpus[:half])), (ui_and_load, set(cpus[half:]))):
        capacity = wrk.run(
            f"{stack.url}/api/predict",
            script,
            connections=stack.config.ui_max_in_flight,
            threads=1,
            seconds=SECONDS,
        )
        peak = offer(stack.url, seven, capacity.requests_per_s, SECONDS, PATIENCE)
        time.sleep(PATIENCE)  # whatever the first run left in flight is answered or given up
        over = offer(stack.url, seven, FACTOR * capacity.requests_per_s, SECONDS, PATIENCE)
    record(
        "3 overload 4x",
        closed_loop_capacity_per_s=round(capacity.requests_per_s, 1),
        peak=peak.summary(),
        overload=over.summary(),
        goodput_ratio=round(over.goodput / peak.goodput, 2),
    )
    assert capacity.errors == 0  # at the in-flight bound nothing is shed
    assert set(over.statuses) <= {"200", "503"}, over.statuses
    assert over.retry_after == {"1"}  # what was refused was told when to come back
    assert over.goodput >= KEPT * peak.goodput
