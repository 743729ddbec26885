"""The web UI's configuration: one dataclass, read from environment variables.

Every field has a default that works for `make webui` from the repository root (the paths are
relative to the working directory), so the UI needs no configuration on a developer machine. The UI
is its own image: it imports nothing else from this repository, and its defaults are its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
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
    # Seconds to open a TCP connection to TorchServe. Small, so "server down" is reported in ~1 s.
    connect_timeout: float = 1.0
    # Seconds to wait for TorchServe's answer once connected (a prediction takes milliseconds).
    read_timeout: float = 10.0
    # Largest upload accepted, in bytes; larger ones get 413 before TorchServe sees them.
    max_upload_bytes: int = 5 * 1024 * 1024
    # Below this top-1 probability the page says "not sure" (chosen from data, see docs/webui.md).
    low_confidence: float = 0.65
    # Longest pause, in seconds, between the page's readiness polls while the model is unavailable.
    retry_max_seconds: float = 4.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> WebUIConfig:
        """Build a config from `WEBUI_<FIELD>` variables (e.g. WEBUI_TORCHSERVE_URL)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            default = getattr(cls, f.name)
            try:
                values[f.name] = type(default)(raw)
            except ValueError:
                raise ValueError(
                    f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a valid {type(default).__name__}"
                ) from None
        return cls(**values)


def env_help() -> str:
    """One line per environment variable, for `python -m webui --help`."""
    lines = []
    for f in fields(WebUIConfig):
        lines.append(f"  {ENV_PREFIX}{f.name.upper():<24} default: {getattr(WebUIConfig, f.name)}")
    return "\n".join(lines)
