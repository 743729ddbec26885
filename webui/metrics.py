"""Prometheus metrics of the UI, served on GET /metrics (text format), and the access log.

One registry per app (tests build many apps in one process). Every request, whatever its
outcome, passes through `register_monitoring`'s hooks: one access-log line (method, path, status,
latency; never a body) and the request metrics. TorchServe's own metrics are on its separate
metrics port; these are what the UI sees: its answers, its latency, its load, and the failures
of its calls to TorchServe by kind.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

access_log = logging.getLogger("webui.access")

# Seconds; a prediction through TorchServe takes ~5-10 ms alone, the read timeout is 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)

# How a call to TorchServe failed (the label of webui_torchserve_errors_total).
UPSTREAM_ERROR_KINDS = (
    "unreachable",  # refused, connect timeout, dropped, no key file
    "timeout",  # no answer within the read timeout, or TorchServe's own 408
    "unavailable",  # TorchServe answered 5xx, or the model is not registered
    "key_rejected",  # the inference key was refused even after re-reading the key file
    "bad_answer",  # a broken or unexpected answer
)


# What became of a correction sent to /api/feedback (the label of webui_feedback_total).
FEEDBACK_OUTCOMES = (
    "stored",
    "invalid",  # refused as sent: bad JSON or fields, too large, or the handler found no digit
    "rate_limited",  # 429: too many from one client address
    "full",  # 507: the cap on stored corrections is reached
    "model_unavailable",  # TorchServe could not make the 28×28, so nothing was stored
    "unavailable",  # the database failed, so nothing was stored
)


class Metrics:
    """The UI's metrics, in a registry of their own."""

    def __init__(self, max_in_flight: int) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "webui_requests",
            "Requests answered, by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "webui_request_duration_seconds",
            "Time from the request's arrival in Flask to its response, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "webui_requests_in_flight",
            "Requests the UI is handling now.",
            registry=self.registry,
        )
        self.torchserve_in_flight = Gauge(
            "webui_torchserve_in_flight",
            "Predictions sent to TorchServe and not yet answered.",
            registry=self.registry,
        )
        limit = Gauge(
            "webui_torchserve_in_flight_limit",
            "Predictions allowed in flight to TorchServe (max_in_flight); more are shed.",
            registry=self.registry,
        )
        limit.set(max_in_flight)
        self.shed = Counter(
            "webui_requests_shed",
            "Predictions answered 503 overloaded at once, because max_in_flight were in flight.",
            registry=self.registry,
        )
        self.torchserve_latency = Histogram(
            "webui_torchserve_request_duration_seconds",
            "Time TorchServe took to answer a prediction, as the UI measures it.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.torchserve_errors = Counter(
            "webui_torchserve_errors",
            "Calls to TorchServe that failed, by kind.",
            ["kind"],
            registry=self.registry,
        )
        for kind in UPSTREAM_ERROR_KINDS:  # present at 0 from the start, so rate() works
            self.torchserve_errors.labels(kind=kind)
        self.feedback = Counter(
            "webui_feedback",
            "Corrections sent to /api/feedback, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in FEEDBACK_OUTCOMES:
            self.feedback.labels(outcome=outcome)

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), mimetype=CONTENT_TYPE_LATEST)


def register_monitoring(app: Flask, metrics: Metrics) -> None:
    """The /metrics route, and the access log line and metrics of every request."""
    app.add_url_rule("/metrics", "metrics", metrics.exposition)

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        metrics.in_flight.inc()

    @app.after_request
    def _record(response: Response) -> Response:
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        # The rule, not the path: unknown paths must not create a series each.
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(route, request.method, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(seconds)
        # The path without its query string, and never a body: uploads are people's images.
        # Escaped, so that a path with an encoded newline cannot forge a log line.
        path = request.path.encode("unicode_escape").decode("ascii")
        access_log.info(
            "%s %s %d %.1f ms", request.method, path, response.status_code, seconds * 1000
        )
        return response

    @app.teardown_request
    def _finish(exc: BaseException | None) -> None:
        if "started" in g:
            metrics.in_flight.dec()
