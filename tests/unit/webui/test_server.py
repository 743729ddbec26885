"""The waitress settings `python -m webui` serves with, and the open-files limit they need."""

from __future__ import annotations

import logging
import resource

import pytest
from waitress.adjustments import Adjustments

from webui import server
from webui.config import WebUIConfig


def test_waitress_takes_every_setting_and_gets_the_tuned_values():
    config = WebUIConfig(connection_limit=1234, channel_timeout=7, cleanup_interval=2, threads=20)
    settings = server.waitress_settings(config)
    adjustments = Adjustments(**settings)  # waitress refuses unknown names and bad values
    assert adjustments.connection_limit == 1234
    assert adjustments.channel_timeout == 7
    assert adjustments.cleanup_interval == 2
    assert adjustments.threads == 20
    assert adjustments.asyncore_use_poll is True  # select() stops at descriptor 1024
    assert adjustments.max_request_body_size == 2 * config.max_upload_bytes


@pytest.fixture
def limits(monkeypatch):
    """The open-files limit as (soft, hard), with setrlimit recorded instead of applied."""
    state = {"limit": (1024, 4096), "set": []}
    monkeypatch.setattr(resource, "getrlimit", lambda which: state["limit"])
    monkeypatch.setattr(resource, "setrlimit", lambda which, value: state["set"].append(value))
    return state


def test_the_soft_open_files_limit_is_raised_for_the_connections(limits):
    server.ensure_open_files(1064)
    assert limits["set"] == [(1064, 4096)]


def test_a_sufficient_limit_is_left_alone(limits):
    limits["limit"] = (65536, 65536)
    server.ensure_open_files(1064)
    assert limits["set"] == []


def test_a_hard_limit_below_the_need_is_used_and_reported(limits, caplog):
    limits["limit"] = (256, 512)
    with caplog.at_level(logging.WARNING, logger="webui.server"):
        server.ensure_open_files(1064)
    assert limits["set"] == [(512, 512)]
    assert "connection_limit" in caplog.text
