"""Liveness and readiness.

/healthz says the web UI process answers. /readyz also asks TorchServe (inference API only: the
UI never talks to the management API) whether the model can serve, so a load balancer or the page's
retry loop knows when predictions will work again.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    client = current_app.extensions["torchserve"]
    client.check_ready()
    return jsonify(status="ready", model=client.model_name)
