"""GET /healthz and GET /readyz."""

from __future__ import annotations

from webui import create_app
from webui.config import WebUIConfig


def test_healthz_answers_without_torchserve(down_url):
    config = WebUIConfig(torchserve_url=down_url)
    response = create_app(config).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_when_ping_and_model_answer(client, fake_torchserve):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "model": "mnist"}
    assert [(r.method, r.path) for r in fake_torchserve.requests] == [
        ("GET", "/ping"),
        ("OPTIONS", "/predictions/mnist"),
    ]
    assert all(r.headers["Authorization"].startswith("Bearer ") for r in fake_torchserve.requests)


def test_readyz_503_when_workers_are_missing(client, fake_torchserve):
    fake_torchserve.script("GET", "/ping", 500, {"status": "Unhealthy"})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"] == "model_unavailable"


def test_readyz_503_when_model_not_registered(client, fake_torchserve):
    fake_torchserve.script("OPTIONS", "/predictions/mnist", 404, {"code": 404})
    assert client.get("/readyz").status_code == 503


def test_readyz_503_when_torchserve_down(fake_torchserve, down_url):
    config = WebUIConfig(torchserve_url=down_url, key_file=fake_torchserve.key_file)
    response = create_app(config).test_client().get("/readyz")
    assert response.status_code == 503
    assert set(response.get_json()) == {"error", "message"}
