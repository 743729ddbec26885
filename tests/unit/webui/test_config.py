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


def test_server_defaults_survive_the_slow_client_scenario():
    config = WebUIConfig()
    assert config.connection_limit >= 300  # 300 slow connections, with room for everyone else
    assert config.channel_timeout <= 15  # a stalled request is closed in seconds, not 120 s
    assert config.cleanup_interval <= config.channel_timeout
    assert config.threads > config.max_in_flight


def test_threads_must_exceed_the_in_flight_bound():
    with pytest.raises(ValueError, match=r"threads \(8\) must exceed max_in_flight \(8\)"):
        WebUIConfig(threads=8, max_in_flight=8)
    with pytest.raises(ValueError, match="threads"):
        WebUIConfig.from_env({"WEBUI_MAX_IN_FLIGHT": "64"})


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("true", True), ("off", False)])
def test_boolean_variables(raw, value):
    assert WebUIConfig.from_env({"WEBUI_DEBUG": raw}).debug is value


def test_a_boolean_that_is_neither_fails_clearly():
    with pytest.raises(ValueError, match="WEBUI_DEBUG='maybe'"):
        WebUIConfig.from_env({"WEBUI_DEBUG": "maybe"})


def test_flags_override_the_environment_which_overrides_defaults():
    environ = {"WEBUI_PORT": "5100", "WEBUI_THREADS": "20", "WEBUI_LOG_FILE": "-"}
    config = WebUIConfig.from_args(["--port", "5200", "--max-in-flight", "12"], environ)
    assert config.port == 5200  # flag
    assert config.threads == 20  # environment
    assert config.max_in_flight == 12
    assert config.log_file == Path("-")
    assert config.connection_limit == WebUIConfig().connection_limit  # default
    assert WebUIConfig.from_args(["--debug"], {}).debug is True


def test_every_setting_is_a_flag_with_its_comment_as_help(capsys):
    with pytest.raises(SystemExit):
        WebUIConfig.from_args(["--help"], {})
    help_text = " ".join(capsys.readouterr().out.split())
    for name in WebUIConfig.__dataclass_fields__:
        assert f"--{name.replace('_', '-')}" in help_text
        assert f"[WEBUI_{name.upper()}, now:" in help_text
    assert "waitress's default: 120" in help_text  # channel_timeout's comment
