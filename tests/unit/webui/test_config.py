"""WebUIConfig.from_env: WEBUI_* variables override the defaults, bad values fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from webui.config import WebUIConfig


def test_defaults_without_environment():
    config = WebUIConfig.from_env({})
    assert config == WebUIConfig()
    assert config.torchserve_url == "http://127.0.0.1:8080"
    assert config.connect_timeout <= 1.0


def test_environment_overrides_with_types():
    config = WebUIConfig.from_env(
        {
            "WEBUI_TORCHSERVE_URL": "http://127.0.0.1:9999",
            "WEBUI_KEY_FILE": "/tmp/keys.json",
            "WEBUI_READ_TIMEOUT": "2.5",
            "WEBUI_MAX_UPLOAD_BYTES": "1000",
            "WEBUI_LOW_CONFIDENCE": "",  # empty means "default"
        }
    )
    assert config.torchserve_url == "http://127.0.0.1:9999"
    assert config.key_file == Path("/tmp/keys.json")
    assert config.read_timeout == 2.5
    assert config.max_upload_bytes == 1000
    assert config.low_confidence == WebUIConfig().low_confidence


def test_bad_value_names_the_variable():
    with pytest.raises(ValueError, match="WEBUI_READ_TIMEOUT='soon'"):
        WebUIConfig.from_env({"WEBUI_READ_TIMEOUT": "soon"})
