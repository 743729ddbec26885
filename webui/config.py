"""The web UI's configuration: one dataclass, read from environment variables and flags.

Every field has a default that works for `make webui` from the repository root (the paths are
relative to the working directory), so the UI needs no configuration on a developer machine. Each
field is a `WEBUI_<FIELD>` variable and a `python -m webui --<field>` flag (the flag wins); the
comment above a field is its help. The UI is its own image: it imports nothing else from this
repository, and its defaults are its own.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

ENV_PREFIX = "WEBUI_"


@dataclass(frozen=True)
class WebUIConfig:
    # TorchServe's inference API (never the management API: the UI must not be able to reach it).
    torchserve_url: str = "http://127.0.0.1:8080"
    # Model name registered in TorchServe (model_store/mnist.mar registers `mnist`).
    model_name: str = "mnist"
    # Version packed into model_store/mnist.mar (docs/architecture.md); shown on the model card.
    model_version: str = "1.0"
    # TorchServe writes key_file.json into its working directory; the inference key is read from it.
    key_file: Path = Path(".run/torchserve/key_file.json")
    # Model card shown on the page (written by training next to the shipped model).
    model_report: Path = Path("training/shipped/report.json")
    # Seconds to look up and connect to TorchServe. Small, so "server down" is reported in ~1 s.
    connect_timeout: float = 1.0
    # Seconds to wait for TorchServe's answer once connected (a prediction takes milliseconds).
    read_timeout: float = 10.0
    # Largest upload accepted, in bytes; larger ones get 413 before TorchServe sees them.
    max_upload_bytes: int = 5 * 1024 * 1024
    # Below this top-1 probability the page says "not sure" (chosen from data, see docs/webui.md).
    low_confidence: float = 0.90
    # Longest pause, in seconds, between the page's readiness polls while the model is unavailable.
    retry_max_seconds: float = 4.0

    # Predictions in flight to TorchServe at once: 4 per worker of the shipped model-config.yaml
    # (2 workers), enough to keep them busy. Beyond it the UI answers 503 `overloaded` at once.
    max_in_flight: int = 8
    # Seconds a client is asked to wait (Retry-After) after a 503 `overloaded`.
    retry_after: int = 1

    # SQLite file of the corrections sent to /api/feedback, used unless the environment variable
    # FEEDBACK_DATABASE_URL names another database (PostgreSQL, for several replicas).
    feedback_db_file: Path = Path(".run/feedback.db")
    # Whether that SQLite file may be used (one process; its disk must outlive it). Off where
    # replicas come and go (Kubernetes): without FEEDBACK_DATABASE_URL corrections are refused.
    feedback_sqlite: bool = True
    # Largest original image a correction may carry, in bytes, decoded (a canvas PNG: ~10-30 kB).
    feedback_max_image_bytes: int = 2 * 1024 * 1024
    # Corrections stored at most; beyond it /api/feedback answers 507 store_full.
    feedback_max_stored: int = 20_000
    # Corrections one client address may send at once (every digit of a 12-digit number) …
    feedback_burst: int = 12
    # … and then per minute, on average (counted in memory only; never stored).
    feedback_per_minute: float = 30.0

    # Address to listen on (loopback: put a reverse proxy in front to expose it).
    host: str = "127.0.0.1"
    # Port to listen on.
    port: int = 5000
    # waitress worker threads: more than max_in_flight, so that a request beyond the bound finds
    # a thread to answer its 503 at once instead of queueing behind the ones waiting on TorchServe.
    threads: int = 16
    # Open connections waitress keeps. A connection costs it one file descriptor and no thread
    # until its request is complete, so slow clients are cheap; at waitress's default of 100,
    # 100 of them locked everyone else out.
    connection_limit: int = 1000
    # Seconds a connection may send nothing before waitress closes it: an idle keep-alive, or a
    # request that stopped halfway (waitress's default: 120).
    channel_timeout: int = 10
    # Seconds between waitress's checks for such connections (waitress's default: 30).
    cleanup_interval: int = 1

    # The UI's log, rotated by size; "-" logs to stderr instead (containers).
    log_file: Path = Path(".run/webui.log")
    # Bytes a log file may reach before it is rotated.
    log_max_bytes: int = 10 * 1024 * 1024
    # Rotated log files kept (webui.log.1 …); the logs never take more than (this + 1) × max bytes.
    log_backups: int = 5

    # Reverse proxies in front of the UI whose X-Forwarded-For is trusted, for the client address
    # the rate limit counts by (0: the connection's address; behind an ingress: 1).
    forwarded_hops: int = 0

    # Flask's development server with reloader and debugger (local debugging only, never exposed).
    debug: bool = False

    def __post_init__(self) -> None:
        if self.threads <= self.max_in_flight:
            raise ValueError(
                f"threads ({self.threads}) must exceed max_in_flight ({self.max_in_flight}): "
                "otherwise requests beyond the bound queue instead of being answered 503"
            )
        if self.feedback_burst < 1 or self.feedback_per_minute <= 0:
            raise ValueError("feedback_burst must be 1 or more and feedback_per_minute above 0")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebUIConfig:
        """Build a config from `WEBUI_<FIELD>` variables (e.g. WEBUI_TORCHSERVE_URL)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(env_name(f.name))
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _parse(raw, type(getattr(cls, f.name)))
            except ValueError:
                kind = type(getattr(cls, f.name)).__name__
                raise ValueError(f"{env_name(f.name)}={raw!r} is not a valid {kind}") from None
        return cls(**values)

    @classmethod
    def from_args(
        cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> WebUIConfig:
        """The environment's config, with the flags given in `argv` on top."""
        config = cls.from_env(environ)
        args = vars(config_parser(config).parse_args(argv))
        return replace(config, **{name: value for name, value in args.items() if value is not None})


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _parse(raw: str, kind: type) -> object:
    if kind is bool:  # bool("false") is True
        if raw.lower() not in _TRUE | _FALSE:
            raise ValueError(raw)
        return raw.lower() in _TRUE
    return kind(raw)


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def field_help() -> dict[str, str]:
    """Each field's help: the comment lines right above it in this file's source."""
    helps, comment = {}, []
    for line in inspect.getsource(WebUIConfig).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("# "))
        elif match := re.match(r"(\w+)\s*:", stripped):
            helps[match[1]] = " ".join(comment)
            comment = []
        else:
            comment = []
    return helps


def config_parser(defaults: WebUIConfig) -> argparse.ArgumentParser:
    """`python -m webui`'s flags: one per field; an absent flag keeps `defaults` (the env's)."""
    parser = argparse.ArgumentParser(
        prog="python -m webui",
        description="Serve the digit-recognition web UI (TorchServe must be running).",
        epilog="Every flag is also an environment variable: --threads is WEBUI_THREADS, etc.",
    )
    helps = field_help()
    for f in fields(WebUIConfig):
        default = getattr(defaults, f.name)
        options: dict[str, object] = {
            "default": None,
            "help": f"{helps[f.name]} [{env_name(f.name)}, now: {default}]",
        }
        if isinstance(default, bool):
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = type(default)
        parser.add_argument("--" + f.name.replace("_", "-"), **options)
    return parser
