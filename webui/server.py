"""The production server: waitress, tuned so that slow clients cannot lock everyone out.

Why waitress (measured, docs/webui.md "Reliability"): it reads each request, headers and body, in
its event loop and hands it to a worker thread only once complete, so a slow or stalled client
costs a file descriptor, never a thread. gunicorn's gthread workers read the request in a worker
thread: beside 300 connections trickling headers, 2 × 64 threads answered 3 requests in 8 s.
waitress's defaults still fail here (100 connections at most, 120 s before a stalled one is
closed), hence the settings below, all from WebUIConfig.
"""

from __future__ import annotations

import logging
import resource
from typing import Any

import waitress
from flask import Flask

from webui.config import WebUIConfig

log = logging.getLogger(__name__)

# File descriptors beyond the connections: the listening socket, TorchServe's pooled
# connections, log files, the spool files of large uploads.
SPARE_FILES = 64


def waitress_settings(config: WebUIConfig) -> dict[str, Any]:
    """The keyword arguments of waitress.serve for this config."""
    return {
        "host": config.host,
        "port": config.port,
        "threads": config.threads,
        "connection_limit": config.connection_limit,
        "channel_timeout": config.channel_timeout,
        "cleanup_interval": config.cleanup_interval,
        # select() cannot watch a descriptor numbered 1024 or more; poll() has no such limit.
        "asyncore_use_poll": True,
        # waitress would spool up to 1 GiB to disk before Flask's own limit answers 413 JSON;
        # twice that limit still lets Flask answer, and bounds what is spooled.
        "max_request_body_size": 2 * config.max_upload_bytes,
    }


def ensure_open_files(needed: int) -> None:
    """Raise the soft limit on open files to `needed` where the hard limit allows (containers
    often start with 1024, which the connection limit alone would exceed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            log.warning(
                "open files limited to %d: fewer connections than connection_limit=%d fit",
                target,
                needed - SPARE_FILES,
            )


def serve(app: Flask, config: WebUIConfig) -> None:
    """Serve `app` with waitress until interrupted."""
    ensure_open_files(config.connection_limit + SPARE_FILES)
    waitress.serve(app, **waitress_settings(config))
