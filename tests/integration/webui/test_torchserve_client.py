"""Error mapping between TorchServe and the UI: down, not ready, timeouts, keys."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from webui import create_app
from webui.config import WebUIConfig

PNG_BYTES = b"\x89PNG fake"


def predict(client):
    return client.post("/api/predict", data=PNG_BYTES, content_type="image/png")


def test_torchserve_down_is_503_quickly(fake_torchserve, down_url):
    config = WebUIConfig(torchserve_url=down_url, key_file=fake_torchserve.key_file)
    client = create_app(config).test_client()
    started = time.monotonic()
    response = predict(client)
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.get_json()["error"] == "model_unavailable"
    # Not a timing benchmark: a hang would take the read timeout or forever; 5 s is generous.
    assert elapsed < 5 * config.connect_timeout


def test_a_name_lookup_that_hangs_is_503_not_a_wait(config, fake_torchserve, monkeypatch):
    """Like aardvark-dns for a killed container: the name resolves, but only seconds later.

    A client that waited for the lookup would reach the fake TorchServe and answer 200."""
    released = threading.Event()
    real_getaddrinfo = socket.getaddrinfo

    def slow_getaddrinfo(host, *args, **kwargs):
        if host == "torchserve.test":
            released.wait(5)
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    url = f"http://torchserve.test:{fake_torchserve.port}"
    config = WebUIConfig(**{**config.__dict__, "torchserve_url": url, "connect_timeout": 0.2})
    response = predict(create_app(config).test_client())
    released.set()

    assert response.status_code == 503
    assert response.get_json()["error"] == "model_unavailable"
    assert fake_torchserve.requests == []


def test_missing_key_file_means_torchserve_is_not_running(config, fake_torchserve):
    fake_torchserve.key_file.unlink()
    response = predict(create_app(config).test_client())
    assert response.status_code == 503
    assert response.get_json()["error"] == "model_unavailable"
    assert fake_torchserve.requests == []


def test_read_timeout_is_504(config, fake_torchserve):
    fake_torchserve.script("POST", "/predictions/mnist", 200, {}, delay=3.0)
    config = WebUIConfig(**{**config.__dict__, "read_timeout": 0.3})
    started = time.monotonic()
    response = predict(create_app(config).test_client())
    assert response.status_code == 504
    assert response.get_json()["error"] == "timeout"
    assert time.monotonic() - started < 3.0  # gave up before TorchServe answered


def test_torchserve_request_timeout_is_504(client, fake_torchserve):
    fake_torchserve.script(
        "POST", "/predictions/mnist", 408, {"code": 408, "type": "RequestTimeout", "message": "x"}
    )
    response = predict(client)
    assert response.status_code == 504
    assert response.get_json()["error"] == "timeout"


@pytest.mark.parametrize("status", [500, 503, 507])
def test_torchserve_server_errors_are_503(client, fake_torchserve, status):
    fake_torchserve.script(
        "POST",
        "/predictions/mnist",
        status,
        {"code": status, "type": "ServiceUnavailableException", "message": "no worker"},
    )
    response = predict(client)
    assert response.status_code == 503
    assert response.get_json()["error"] == "model_unavailable"


def test_unknown_model_is_503(client, fake_torchserve):
    fake_torchserve.script(
        "POST",
        "/predictions/mnist",
        404,
        {"code": 404, "type": "ModelNotFoundException", "message": "Model not found: mnist"},
    )
    assert predict(client).status_code == 503


def test_frontend_413_without_json_becomes_json(client, fake_torchserve):
    fake_torchserve.script("POST", "/predictions/mnist", 413, None)
    response = predict(client)
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"


def test_unexpected_answer_is_502_json(client, fake_torchserve):
    fake_torchserve.script("POST", "/predictions/mnist", 200, b"<html>oops</html>")
    response = predict(client)
    assert response.status_code == 502
    assert response.get_json()["error"] == "bad_gateway"


def test_rotated_key_is_reread_and_the_request_retried_once(client, fake_torchserve):
    assert predict(client).status_code == 200  # the UI has cached inference-key-1
    fake_torchserve.write_key_file("inference-key-2")  # TorchServe restarted with a new key
    fake_torchserve.requests.clear()

    response = predict(client)

    assert response.status_code == 200
    keys = [r.headers["Authorization"] for r in fake_torchserve.predictions()]
    assert keys == ["Bearer inference-key-1", "Bearer inference-key-2"]


def test_key_still_rejected_after_reread_is_503_without_looping(client, fake_torchserve):
    fake_torchserve.key = "a-key-the-file-does-not-have"
    response = predict(client)
    assert response.status_code == 503
    assert response.get_json()["error"] == "model_unavailable"
    assert len(fake_torchserve.predictions()) == 2  # the first try and exactly one retry


def test_recovers_when_torchserve_comes_back(client, fake_torchserve):
    fake_torchserve.script("POST", "/predictions/mnist", 503, {"message": "down"})
    assert predict(client).status_code == 503
    fake_torchserve.unscript("POST", "/predictions/mnist")
    assert predict(client).status_code == 200


def torchserve_errors(client) -> dict[str, float]:
    text = client.get("/metrics").get_data(as_text=True)
    found = re.findall(r'^webui_torchserve_errors_total\{kind="(\w+)"\} (\S+)$', text, re.M)
    return {kind: float(value) for kind, value in found if float(value)}


@pytest.mark.parametrize(
    ("script", "kind"),
    [
        ((500, {"code": 500, "type": "InternalServerException"}), "unavailable"),
        ((404, {"code": 404, "type": "ModelNotFoundException"}), "unavailable"),
        ((408, {"code": 408, "type": "RequestTimeout"}), "timeout"),
        ((302, b""), "bad_answer"),
    ],
    ids=["5xx", "model-not-registered", "response-timeout", "unexpected-status"],
)
def test_torchserve_failures_are_counted_by_kind(client, fake_torchserve, script, kind):
    fake_torchserve.script("POST", "/predictions/mnist", *script)
    predict(client)
    assert torchserve_errors(client) == {kind: 1}


def test_read_timeouts_and_rejected_keys_are_counted(config, fake_torchserve):
    config = WebUIConfig(**{**config.__dict__, "read_timeout": 0.3})
    client = create_app(config).test_client()
    fake_torchserve.script("POST", "/predictions/mnist", 200, {}, delay=1.0)
    predict(client)
    fake_torchserve.unscript("POST", "/predictions/mnist")
    fake_torchserve.key = "a-key-the-ui-cannot-know"
    predict(client)
    assert torchserve_errors(client) == {"timeout": 1, "key_rejected": 1}


def test_torchserve_down_is_counted_as_unreachable(fake_torchserve, down_url):
    client = create_app(
        WebUIConfig(torchserve_url=down_url, key_file=fake_torchserve.key_file)
    ).test_client()
    predict(client)
    client.get("/readyz")
    assert torchserve_errors(client) == {"unreachable": 2}


def test_handler_refusals_are_not_torchserve_failures(client, fake_torchserve):
    fake_torchserve.script("POST", "/predictions/mnist", 422, {"error": "no_digit", "message": "x"})
    assert predict(client).status_code == 422
    assert torchserve_errors(client) == {}
