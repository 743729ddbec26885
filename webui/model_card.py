"""The read-only model card: a few facts from training/shipped/report.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from webui.errors import ApiError


def read_model_card(report_path: Path, model_name: str, model_version: str) -> dict[str, Any]:
    """Name, version, test accuracy and parameter count of the shipped model.

    The report is read on every call (it is small) so a retrained model shows without a restart.
    Before the first training run there is no report: the card then has name and version only
    (`null` figures), which is a normal state rather than an error.
    """
    try:
        report = json.loads(report_path.read_text())
    except FileNotFoundError:
        report = {}
    except (OSError, ValueError) as exc:
        raise ApiError(500, "bad_model_card", f"The model report cannot be read: {exc}") from None
    if not isinstance(report, dict):
        raise ApiError(500, "bad_model_card", "The model report is not a JSON object.")
    return {
        "name": model_name,
        "version": model_version,
        "test_accuracy": report.get("test_accuracy"),
        "parameters": report.get("parameters"),
    }
