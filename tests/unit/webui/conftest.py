"""Fixtures for the web UI's unit tests: the app with no TorchServe anywhere.

`upstream` replaces the UI's connection pool with one that records each attempt and fails it, so a
unit test proves what never reaches TorchServe (and nothing here touches the network).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from urllib3.exceptions import NewConnectionError

from webui.config import WebUIConfig
from webui.feedback.store import DATABASE_URL_ENV


@pytest.fixture(autouse=True)
def no_database_url_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """A FEEDBACK_DATABASE_URL in the developer's shell must not reach the tests' UIs."""
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)


@pytest.fixture
def config(tmp_path: Path) -> WebUIConfig:
    key_file = tmp_path / "key_file.json"
    key_file.write_text(json.dumps({"inference": {"key": "inference-key"}}))
    return WebUIConfig(
        torchserve_url="http://torchserve.invalid:8080",
        key_file=key_file,
        model_report=tmp_path / "report.json",
        max_upload_bytes=64 * 1024,
        feedback_db_file=tmp_path / "feedback.db",
    )


@pytest.fixture
def upstream(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every request the UI tries to send to TorchServe, as (method, url, keyword arguments);
    each one fails as unreachable."""
    attempts: list[tuple[Any, ...]] = []

    def unreachable(*args: Any, **kwargs: Any) -> None:
        attempts.append((*args, kwargs))
        raise NewConnectionError(None, "unit tests have no TorchServe")

    monkeypatch.setattr(app.extensions["torchserve"].pool, "request", unreachable)
    return attempts


@pytest.fixture
def answering(app: Flask, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A TorchServe that answers every prediction with `answering.status` / `answering.body`
    (a dict is sent as JSON) and records each request in `answering.sent`, as `upstream` does."""
    state = SimpleNamespace(status=200, body={"digit": 7, "confidence": 0.9, "top3": []}, sent=[])

    def answer(*args: Any, **kwargs: Any) -> SimpleNamespace:
        state.sent.append((*args, kwargs))
        body = state.body if isinstance(state.body, bytes) else json.dumps(state.body).encode()
        return SimpleNamespace(status=state.status, data=body)

    monkeypatch.setattr(app.extensions["torchserve"].pool, "request", answer)
    return state
