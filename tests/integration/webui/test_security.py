"""No way through the UI to TorchServe's management API: nothing is even forwarded."""

from __future__ import annotations

import pytest


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
    ],
)
def test_no_management_route_through_the_ui(client, fake_torchserve, method, path):
    response = client.open(path, method=method)
    assert response.status_code in (404, 405)
    assert fake_torchserve.requests == []


def test_metrics_are_the_uis_own_and_nothing_is_forwarded(client, fake_torchserve):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "webui_requests_total" in response.get_data(as_text=True)
    assert "ts_inference" not in response.get_data(as_text=True)  # TorchServe's are not proxied
    assert fake_torchserve.requests == []
