"""Where the UI's log lines go: one handler on the root logger, so each line is written once.

The UI's own loggers (`webui.*`, the access log `webui.access` included), Flask's and waitress's
all propagate to the root logger and have no handler of their own. The file rotates by size, so
the logs never take more than (log_backups + 1) × log_max_bytes.
"""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from webui.config import WebUIConfig

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STDERR = Path("-")

_installed: logging.Handler | None = None  # ours, replaced when configured again


def configure_logging(config: WebUIConfig) -> logging.Handler:
    """Send every log line at INFO and above to config.log_file (rotated), or to stderr."""
    global _installed
    root = logging.getLogger()
    if _installed is not None:  # configured twice (tests): replace, never add a second one
        root.removeHandler(_installed)
        _installed.close()
    if config.log_file == STDERR:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        config.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            config.log_file,
            maxBytes=config.log_max_bytes,
            backupCount=config.log_backups,
            encoding="utf-8",
        )
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    _installed = handler
    return handler
