"""Security headers everywhere, JSON errors everywhere, and no way through to management."""

from __future__ import annotations

import pytest

from webui.security import SECURITY_HEADERS


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/static/favicon.svg"),
        ("GET", "/nowhere"),
        ("POST", "/api/predict"),
        ("DELETE", "/api/predict"),
    ],
)
def test_every_response_has_the_security_headers(client, method, path):
    response = client.open(path, method=method)
    response.close()  # a static file's answer holds the file open until closed
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


def test_the_ui_has_no_management_settings(config):
    # The UI is only ever told TorchServe's inference address; it cannot reach anything else.
    assert not any("management" in name for name in config.__dataclass_fields__)
