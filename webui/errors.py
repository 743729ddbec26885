"""Every error the UI answers is JSON `{"error": <code>, "message": <for a person>}`.

The page shows `message` as it is, so messages are one plain sentence without stack traces.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer the API gives on purpose: an HTTP status, a short code and a sentence."""

    def __init__(
        self, status: int, error: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}

    def to_response(self) -> tuple[Response, int]:
        response = jsonify(error=self.error, message=self.message)
        response.headers.update(self.headers)
        return response, self.status


# Codes for the HTTP errors Flask and Werkzeug raise themselves (routing, size limits, methods).
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def register_error_handlers(app: Flask) -> None:
    """Turn ApiError, Werkzeug's HTTP errors and unexpected exceptions into JSON."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return exc.to_response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        if status == 413:
            limit_mb = app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
            message = f"The upload is too large: the limit is {limit_mb:g} MB."
        else:
            message = exc.description or exc.name
        error = _HTTP_CODES.get(status, exc.name.lower().replace(" ", "_"))
        return ApiError(status, error, message).to_response()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # The traceback goes to the server log, never to the browser.
        log.exception("unhandled error")
        return ApiError(500, "internal_error", "Something went wrong in the web UI.").to_response()
