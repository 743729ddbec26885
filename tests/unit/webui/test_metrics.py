"""GET /metrics: the UI's Prometheus metrics, counted as requests go through the app."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from webui.metrics import UPSTREAM_ERROR_KINDS


def scrape(client) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of one scrape."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def labels(**values: str) -> frozenset:
    return frozenset(values.items())


def test_requests_are_counted_by_route_method_and_status(client, upstream):
    client.get("/")
    client.get("/")
    client.get("/no/such/page/12345")
    client.post("/api/predict", data=b"\x89PNG\r\n\x1a\nbytes", content_type="image/png")
    samples = scrape(client)
    requests = "webui_requests_total"
    assert samples[(requests, labels(route="/", method="GET", status="200"))] == 2
    # Unknown paths share one series, so a scanner cannot create thousands.
    assert samples[(requests, labels(route="unmatched", method="GET", status="404"))] == 1
    assert samples[(requests, labels(route="/api/predict", method="POST", status="503"))] == 1
    count = ("webui_request_duration_seconds_count", labels(route="/api/predict"))
    assert samples[count] == 1
    assert ("webui_request_duration_seconds_bucket", labels(route="/", le="0.1")) in samples


def test_torchserve_failures_are_counted_by_kind(client, upstream):
    client.post("/api/predict", data=b"\x89PNG\r\n\x1a\nbytes", content_type="image/png")
    client.get("/readyz")
    samples = scrape(client)
    errors = {
        dict(key)["kind"]: value
        for (name, key), value in samples.items()
        if name == "webui_torchserve_errors_total"
    }
    assert errors == {kind: (2 if kind == "unreachable" else 0) for kind in UPSTREAM_ERROR_KINDS}


def test_load_gauges(client, config):
    samples = scrape(client)
    assert samples[("webui_requests_in_flight", frozenset())] == 1  # this scrape itself
    assert samples[("webui_torchserve_in_flight", frozenset())] == 0
    assert samples[("webui_torchserve_in_flight_limit", frozenset())] == config.max_in_flight
    assert samples[("webui_requests_shed_total", frozenset())] == 0


def test_each_app_has_its_own_registry(app, config):
    from webui import create_app

    create_app(config).test_client().get("/")  # counts in its own registry only
    samples = scrape(app.test_client())
    assert ("webui_requests_total", labels(route="/", method="GET", status="200")) not in samples
