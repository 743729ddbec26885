"""Under 4x overload the real server (`python -m webui`, waitress) sheds what it cannot serve in
time and keeps its goodput: 200s within a client's patience, per second.

The TorchServe stand-in answers 2 predictions at a time in 40 ms each: 50 per second at most, the
peak. Offered 4 times that, open loop (requests keep arriving whatever the answers), a UI that
queues everything answers later and later until nothing arrives in time; one that bounds what it
sends to TorchServe answers the rest 503 at once and keeps serving the peak.
"""

from __future__ import annotations

import time

import pytest

from bench.overload import offer
from bench.standin import StandInConfig
from tests.integration.webui.conftest import ui_process

CAPACITY = StandInConfig(workers=2, service_ms=40.0)
PEAK_RATE = CAPACITY.workers / (CAPACITY.service_ms / 1000)  # 50 requests per second
PATIENCE = 1.0  # seconds a client waits; a 200 after that is no good to anyone
SECONDS = 5.0


@pytest.mark.parametrize("standin", [CAPACITY], indirect=True)
def test_goodput_at_4x_overload_stays_above_80_percent_of_peak(standin, tmp_path, images):
    with ui_process(standin, tmp_path) as url:
        peak = offer(url, images["seven"], PEAK_RATE, SECONDS, PATIENCE)
        time.sleep(PATIENCE)  # whatever the first run left in flight is answered or given up
        over = offer(url, images["seven"], 4 * PEAK_RATE, SECONDS, PATIENCE)
    print(f"\n1x: {peak.summary()}\n4x: {over.summary()}")
    print(f"goodput 4x / 1x: {over.goodput / peak.goodput:.2f}")
    assert peak.goodput >= 0.8 * PEAK_RATE  # the UI itself keeps up with the stand-in
    assert over.goodput >= 0.8 * peak.goodput
    # What was not served was refused at once, with a hint when to come back; nothing hung.
    assert set(over.statuses) == {"200", "503"}
    assert over.retry_after == {"1"}
    assert len(over.timeline) == over.statuses.total()  # every request, with its time
