"""The web UI: a Flask app that serves the drawing page and proxies predictions to TorchServe.

No model runs here; TorchServe does the work. Build the app with `create_app()`.
"""

from __future__ import annotations

import mimetypes

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from webui import api, health, pages
from webui.config import WebUIConfig
from webui.errors import register_error_handlers
from webui.feedback.routes import register_feedback
from webui.feedback.store import FeedbackStore, database_url
from webui.metrics import Metrics, register_monitoring
from webui.security import register_security_headers
from webui.torchserve_client import TorchServeClient

# The page's ES modules must be served as JavaScript; some systems' MIME tables say text/plain.
mimetypes.add_type("text/javascript", ".js")


def create_app(config: WebUIConfig | None = None) -> Flask:
    """Application factory; `config` defaults to the WEBUI_* environment variables."""
    config = config or WebUIConfig.from_env()
    app = Flask(__name__)
    app.config["WEBUI"] = config
    # Werkzeug answers 413 (as JSON, through the error handlers) before reading a larger body.
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
    app.json.sort_keys = False
    metrics = Metrics(config.max_in_flight)
    app.extensions["torchserve"] = TorchServeClient(config, metrics)

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    # The database is opened (and migrated) at the first correction, or by `python -m webui`
    # at start: an app built in a test touches no file until it stores one.
    url = database_url(config.feedback_db_file)
    store = FeedbackStore(url) if config.feedback_sqlite or not url.startswith("sqlite") else None
    register_feedback(app, store, metrics)
    if config.forwarded_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.forwarded_hops)
    register_error_handlers(app)
    register_security_headers(app)
    register_monitoring(app, metrics)
    return app
