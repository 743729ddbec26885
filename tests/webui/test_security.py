"""Security headers everywhere, JSON errors everywhere, and no way through to management."""

from __future__ import annotations

import pytest

from webui.security import SECURITY_HEADERS


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/static/app.js"),
        ("GET", "/nowhere"),
        ("POST", "/api/predict"),
        ("DELETE", "/api/predict"),
    ],
)
def test_every_response_has_the_security_headers(client, method, path):
    response = client.open(path, method=method)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ):
        assert directive in csp


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 404), ("DELETE", "/api/predict", 405), ("GET", "/api/predict", 405)],
)
def test_http_errors_are_json(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert set(response.get_json()) == {"error", "message"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/models"),
        ("GET", "/models/mnist"),
        ("PUT", "/models/mnist?min_worker=0"),
        ("DELETE", "/models/mnist"),
        ("POST", "/models?url=http://example.invalid/x.mar"),
        ("GET", "/token?type=inference"),
        ("GET", "/api/models"),
        ("GET", "/api/management/models"),
        ("GET", "/api/../models"),
        ("GET", "/metrics"),
    ],
)
def test_no_management_route_through_the_ui(client, fake_torchserve, method, path):
    response = client.open(path, method=method)
    assert response.status_code in (404, 405)
    assert fake_torchserve.requests == []


def test_the_ui_has_no_management_settings(config):
    # The UI is only ever told TorchServe's inference address; it cannot reach anything else.
    assert not any("management" in name for name in config.__dataclass_fields__)
