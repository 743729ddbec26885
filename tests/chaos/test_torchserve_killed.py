"""Scenario 2: TorchServe's frontend killed and TorchServe restarted under load, the UI in front.

Open-loop load through the UI the whole time. KILL_AT seconds in, the Java frontend gets SIGKILL
(its workers lose their connection and the whole TorchServe is gone); then TorchServe is started
again as `make run` starts it, with new keys, and nothing is done to the UI. While TorchServe is
down the UI must answer 503 `model_unavailable` JSON at once, never hang and never answer 500;
once TorchServe is back it must serve again by itself, re-reading the new key.

What TorchServe 0.12 does while it starts, measured here: its HTTP port opens, and `/ping` says
Healthy, seconds before its first worker is READY, and it queues the predictions it gets until
then. Through the inference API, the only one the UI may use, nothing tells the two apart, so
the UI forwards up to its in-flight bound (8) of them, which wait there (3 to 8 s here; at most
its read timeout, then 504), and answers the rest 503 `overloaded` at once. That is asserted too.

This scenario breaks its stack, so it has one of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bench.overload import Sent, offer
from tests.chaos.conftest import Record, since, start_stack, ui_failures
from tools.stack import Stack

RATE = 20.0  # requests per second: light, so what fails is the outage's doing, not the load's
LOAD_LIMIT_S = 120.0  # the load stops once the UI has recovered; this only bounds it
KILL_AT = 2.0  # seconds into the load
# Seconds a client waits: past the UI's read timeout (10 s), after which it answers 504 whatever
# TorchServe does, so only a hang in the UI itself goes unanswered.
PATIENCE = 15.0
PROBES = 10  # requests sent, one at a time, while TorchServe is down
# "At once": a refused connection to a stopped TorchServe is answered in milliseconds; the bound
# is the UI's connect timeout (1 s), which an answer could reach only if connecting hung.
FAST_S = 1.0
RECOVERY_S = 5.0  # after TorchServe is READY again, every request succeeds from this on
AFTER_S = 8.0  # seconds of load after TorchServe is READY again


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory)


def probe(url: str, body: bytes) -> tuple[int, str | None, float]:
    """One prediction through the UI: status, the JSON's `error`, seconds."""
    started = time.perf_counter()
    answer = requests.post(
        f"{url}/api/predict", data=body, headers={"Content-Type": "image/png"}, timeout=PATIENCE
    )
    seconds = time.perf_counter() - started
    return answer.status_code, answer.json().get("error"), seconds


def phases(timeline: list[Sent], origin: float) -> str:
    """The answers in the order requests started, as runs of one status: "200×40 from -2.0 s, …"
    (seconds from `origin`)."""
    runs: list[list] = []
    for sent in sorted(timeline, key=lambda sent: sent.at):
        if not runs or runs[-1][0] != sent.status:
            runs.append([sent.status, 0, sent.at - origin])
        runs[-1][1] += 1
    return ", ".join(f"{status}×{count} from {at:.1f} s" for status, count, at in runs)


def test_the_ui_answers_fast_503s_while_torchserve_is_down_and_recovers_by_itself(
    own_stack: Stack, seven: bytes, record: Record
):
    torchserve = own_stack.torchserve
    failures_before = ui_failures(own_stack.url)
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(offer, own_stack.url, seven, RATE, LOAD_LIMIT_S, PATIENCE, stop)
        try:
            time.sleep(KILL_AT)
            frontend = torchserve.frontend()
            frontend.kill()
            killed = time.perf_counter()
            frontend.wait(10)
            probes = [probe(own_stack.url, seven) for _ in range(PROBES)]
            torchserve.stop()  # ends what is left of its process group; drops the stale keys
            restarting = time.perf_counter()
            torchserve.start()
            ready = time.perf_counter()
            time.sleep(AFTER_S)
        finally:
            stop.set()
        run = load.result()

    kill_at, restart_at = killed - run.started, restarting - run.started
    ready_at = ready - run.started
    after_kill = [sent for sent in run.timeline if sent.at >= kill_at]
    # Answered late: held by the starting TorchServe until its first worker was READY.
    held = [sent for sent in after_kill if sent.latency_ms >= FAST_S * 1000]
    # When the first prediction after the kill was answered: the end of the outage for clients.
    back = min(s.at + s.latency_ms / 1000 for s in after_kill if s.status == "200")
    record(
        "2 TorchServe killed",
        answers=phases(run.timeline, kill_at),
        ui_counted=since(failures_before, ui_failures(own_stack.url)),
        downtime_s=round(back - kill_at, 2),
        torchserve_restart_s=round(ready - restarting, 2),
        first_200_after_torchserve_ready_s=round(back - ready_at, 2),
        slowest_503_ms=round(max(s.latency_ms for s in after_kill if s.status == "503"), 1),
        held_while_starting=len(held),
        slowest_held_ms=round(max((s.latency_ms for s in held), default=0.0), 1),
        probes_while_down=sorted({(status, error) for status, error, _ in probes}),
        slowest_probe_ms=round(max(seconds for *_, seconds in probes) * 1000, 1),
    )
    # Down: 503 model_unavailable JSON at once; no 500, no dropped connection, nothing hangs.
    assert all(status == 503 and error == "model_unavailable" for status, error, _ in probes)
    assert max(seconds for *_, seconds in probes) < FAST_S
    assert set(run.statuses) <= {"200", "503", "504"}, run.statuses
    assert all(s.latency_ms < FAST_S * 1000 for s in after_kill if s.status == "503")
    # Starting: only what the UI let through waited, and only once TorchServe was starting.
    assert len(held) <= own_stack.config.ui_max_in_flight
    assert all(sent.at >= restart_at for sent in held)
    # Back: the UI serves again with no action on it, and every request from shortly after
    # TorchServe is READY on.
    assert back - ready_at <= RECOVERY_S
    recovered = [sent for sent in run.timeline if sent.at >= ready_at + RECOVERY_S]
    assert recovered and {sent.status for sent in recovered} == {"200"}
