"""Load shedding: at most max_in_flight predictions wait on TorchServe; one more is answered
503 `overloaded` with Retry-After at once, without reaching TorchServe."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from types import SimpleNamespace

import pytest

from webui import create_app

PREDICTION = json.dumps({"digit": 7, "confidence": 0.9, "top3": []}).encode()
PNG = b"\x89PNG\r\n\x1a\n image bytes"


def predict(client):
    return client.post("/api/predict", data=PNG, content_type="image/png")


@pytest.fixture
def held_torchserve(monkeypatch):
    """A TorchServe that holds every prediction until `release` is set; `calls` counts them."""
    state = SimpleNamespace(release=threading.Event(), arrived=threading.Semaphore(0), calls=0)

    def answer_when_released(method, url, **kwargs):
        state.calls += 1
        state.arrived.release()
        assert state.release.wait(10), "the test never released TorchServe"
        return SimpleNamespace(status=200, data=PREDICTION)

    state.install = lambda app: monkeypatch.setattr(
        app.extensions["torchserve"].pool, "request", answer_when_released
    )
    return state


def metric(client, name: str) -> float:
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_a_prediction_beyond_the_bound_is_503_overloaded_at_once(config, held_torchserve):
    app = create_app(replace(config, max_in_flight=2, retry_after=3))
    held_torchserve.install(app)
    client = app.test_client()
    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(predict, app.test_client()) for _ in range(2)]
        for _ in held:
            assert held_torchserve.arrived.acquire(timeout=10)
        assert metric(client, "webui_torchserve_in_flight") == 2

        shed = predict(client)
        assert shed.status_code == 503
        assert shed.get_json() == {
            "error": "overloaded",
            "message": "The digit reader is busy: please try again in a moment.",
        }
        assert shed.headers["Retry-After"] == "3"
        assert held_torchserve.calls == 2  # the third never reached TorchServe
        assert metric(client, "webui_requests_shed_total") == 1

        held_torchserve.release.set()
        assert [future.result().status_code for future in held] == [200, 200]
    # The places are given back: the next predictions go through.
    assert [predict(client).status_code for _ in range(3)] == [200, 200, 200]
    assert metric(client, "webui_torchserve_in_flight") == 0


def test_a_failed_prediction_gives_its_place_back(config, upstream, app):
    # upstream: TorchServe unreachable, so every prediction fails with 503 model_unavailable.
    client = app.test_client()
    answers = [predict(client) for _ in range(config.max_in_flight + 2)]
    assert {a.get_json()["error"] for a in answers} == {"model_unavailable"}
    assert metric(client, "webui_torchserve_in_flight") == 0


def test_other_routes_are_never_shed(config, held_torchserve):
    app = create_app(replace(config, max_in_flight=1))
    held_torchserve.install(app)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(predict, app.test_client())
        assert held_torchserve.arrived.acquire(timeout=10)
        client = app.test_client()
        assert predict(client).status_code == 503
        for path in ("/", "/healthz", "/api/model", "/metrics"):
            assert client.get(path).status_code == 200, path
        held_torchserve.release.set()
        assert held.result().status_code == 200
