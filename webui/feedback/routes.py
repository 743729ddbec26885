"""POST /api/feedback: a correction in, 201 with what was stored out.

In this order, cheapest refusal first: the client's rate (429), the request (400/413), the cap
(507), then TorchServe makes the 28×28 (the handler is the one preprocessing implementation), and
the row is inserted. Nothing is stored unless every step succeeded: when TorchServe cannot make
the 28×28 the answer is 503 with Retry-After, and the correction is not kept (the page may send
it again). The client's address is used for the rate limit only, in memory; it is never stored.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import struct
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, jsonify, request

from webui.api import image_type
from webui.config import WebUIConfig
from webui.errors import ApiError
from webui.feedback.ratelimit import RateLimiter, retry_after
from webui.feedback.request import FeedbackRequest, read_feedback
from webui.feedback.store import STORE_ERRORS, Correction, FeedbackStore, StoreFull
from webui.metrics import Metrics

log = logging.getLogger(__name__)

bp = Blueprint("feedback", __name__, url_prefix="/api")


@dataclass
class Feedback:
    """What the route needs, one per app (app.extensions["feedback"])."""

    config: WebUIConfig
    store: FeedbackStore | None  # None: no database configured, corrections are not collected
    limiter: RateLimiter
    metrics: Metrics

    def refuse(self, outcome: str, error: ApiError) -> ApiError:
        self.metrics.feedback.labels(outcome=outcome).inc()
        return error

    def unavailable(self, outcome: str, message: str) -> ApiError:
        headers = {"Retry-After": str(self.config.retry_after)}
        return self.refuse(outcome, ApiError(503, "feedback_unavailable", message, headers))


def register_feedback(app: Flask, store: FeedbackStore | None, metrics: Metrics) -> None:
    config: WebUIConfig = app.config["WEBUI"]
    limiter = RateLimiter(config.feedback_per_minute, config.feedback_burst)
    app.extensions["feedback"] = Feedback(config, store, limiter, metrics)
    app.register_blueprint(bp)


@bp.post("/feedback")
def feedback():
    state: Feedback = current_app.extensions["feedback"]
    config = state.config
    if state.store is None:
        message = "Corrections are not collected here: no database is configured."
        raise state.refuse("unavailable", ApiError(503, "feedback_off", message))
    wait = state.limiter.acquire(request.remote_addr or "")
    if wait:
        message = "Too many corrections from here: please wait a moment."
        error = ApiError(429, "rate_limited", message, {"Retry-After": retry_after(wait)})
        raise state.refuse("rate_limited", error)
    try:
        sent = read_feedback(request, config.feedback_max_image_bytes)
    except ApiError as error:
        raise state.refuse("invalid", error) from None
    try:
        if state.store.count() >= config.feedback_max_stored:
            raise StoreFull
        digit_png = _handlers_digit(state, sent)
        stored = state.store.add(
            Correction(
                label=sent.label,
                predicted=sent.predicted,
                mode=sent.mode,
                position=sent.position,
                digit_png=digit_png,
                original=sent.image,
                original_content_type=sent.content_type,
                model_name=config.model_name,
                model_version=config.model_version,
            ),
            config.feedback_max_stored,
        )
    except StoreFull:
        message = f"The corrections store is full ({config.feedback_max_stored:,}): thank you!"
        raise state.refuse("full", ApiError(507, "store_full", message)) from None
    except STORE_ERRORS as exc:
        log.error("cannot store a correction in %s: %s", state.store.describe(), exc)
        raise state.unavailable("unavailable", "The corrections store is unavailable.") from None
    state.metrics.feedback.labels(outcome="stored").inc()
    return jsonify(id=stored.id, stored=stored.summary()), 201


def _handlers_digit(state: Feedback, sent: FeedbackRequest) -> bytes:
    """The 28×28 PNG the handler makes of the image (for a number, of the digit at `position`)."""
    try:
        answer = current_app.extensions["torchserve"].predict(
            sent.image, "application/octet-stream", sent.mode
        )
    except ApiError as error:
        if error.status < 500:  # the handler refuses the image (no digit, bad image, too large)
            raise state.refuse("invalid", error) from None
        message = "The model server cannot read the image now, so nothing was stored."
        raise state.unavailable("model_unavailable", message) from None
    payload = json.loads(answer)
    if sent.mode == "number":
        digits = payload.get("digits") or []
        if sent.position >= len(digits):
            message = f'"position" is {sent.position}, but the number has {len(digits)} digit(s).'
            raise state.refuse("invalid", ApiError(400, "bad_position", message))
        payload = digits[sent.position]
    try:
        png = base64.b64decode(payload["preview"], validate=True)
        size = struct.unpack(">II", png[16:24])
    except (KeyError, TypeError, binascii.Error, struct.error):
        png, size = b"", None
    if image_type(png) != "image/png" or size != (28, 28):
        log.warning("TorchServe's preview is not a 28×28 PNG: %.120r", payload)
        error = ApiError(502, "bad_gateway", "The model server's answer had no 28×28 digit.")
        raise state.refuse("model_unavailable", error)
    return png
