"""GET /: the drawing page. Everything it needs is in templates/ and static/."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    config = current_app.config["WEBUI"]
    return render_template(
        "index.html",
        low_confidence=config.low_confidence,
        retry_max_seconds=config.retry_max_seconds,
        max_upload_bytes=config.max_upload_bytes,
    )
