"""tools.torchserve without a running TorchServe (plus one start that must fail fast)."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tools import paths
from tools import torchserve as server_module
from tools.torchserve import ServerError, TorchServe, free_ports


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    path.mkdir()
    (path / "mnist.mar").write_bytes(b"placeholder")
    return path


def make_server(tmp_path: Path, store: Path, **overrides) -> TorchServe:
    return TorchServe(
        **{**free_ports(), "workdir": tmp_path / "work", "model_store": store, **overrides}
    )


def read_properties(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in path.read_text().splitlines() if line and line[0] != "#"
    )


def test_instance_config_fills_in_ports_and_paths(tmp_path, store):
    server = make_server(tmp_path, store, grpc_inference_port=17070)
    props = read_properties(server.write_config())
    assert props["inference_address"] == server.inference_url
    assert props["management_address"] == server.management_url
    assert props["metrics_address"] == server.metrics_url
    assert props["grpc_inference_port"] == "17070"
    assert int(props["grpc_management_port"]) > 0
    assert Path(props["metrics_config"]).is_absolute() and Path(props["metrics_config"]).exists()
    # Java properties turn a doubled backslash into one; the rest is the regex TorchServe uses.
    allowed = re.compile(props["allowed_urls"].replace("\\\\", "\\"))
    assert allowed.fullmatch(f"file://{store}/mnist-2.0.mar")
    for refused in (
        f"file://{store}/../x.mar",
        f"file://{store}/mnist.marx",
        "file:///etc/passwd",
        "http://127.0.0.1/mnist.mar",
        f"file://{store}/sub/x.mar",
    ):
        assert not allowed.fullmatch(refused), refused
    # The project's security choices survive the rewrite.
    assert props["disable_token_authorization"] == "false"
    assert props["enable_model_api"] == "false"  # TorchServe would run code from any directory
    assert props["inference_address"].startswith("http://127.0.0.1:")


def test_the_model_api_is_on_only_when_asked_for(tmp_path, store):
    assert server_module.ServerConfig().enable_model_api is False
    args = server_module.config_parser(server_module.ServerConfig).parse_args(
        ["--enable-model-api"]
    )
    server = make_server(tmp_path, store, enable_model_api=args.enable_model_api)
    assert read_properties(server.write_config())["enable_model_api"] == "true"


def test_defaults_are_the_project_config():
    server = TorchServe()
    assert (server.inference_url, server.management_url, server.metrics_url) == (
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8081",
        "http://127.0.0.1:8082",
    )
    assert server.key_file == paths.KEY_FILE
    assert server.config.models == "mnist=mnist.mar"


def test_busy_port_fails_before_launching(tmp_path, store):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = make_server(tmp_path, store, inference_port=busy.getsockname()[1])
        with pytest.raises(ServerError, match=r"Port \d+ \(inference_port\).*busy"):
            server.start()
    assert not server.is_running()


def test_missing_archive_is_a_clear_error(tmp_path, store):
    server = make_server(tmp_path, store, models="mnist=absent.mar")
    with pytest.raises(ServerError, match=r"absent\.mar does not exist.*make archive"):
        server.start()


def test_missing_java_is_a_clear_error(tmp_path, store, monkeypatch):
    monkeypatch.setattr(server_module.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ServerError, match="Java"):
        make_server(tmp_path, store).start()


def write_keys(path: Path, inference: str, expires: datetime) -> None:
    stamp = expires.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # Java prints nanoseconds
    keys = {
        "management": {"key": "m-key", "expiration time": stamp},
        "inference": {"key": inference, "expiration time": stamp},
        "API": {"key": "api-key"},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys))


def test_token_is_read_fresh_each_call(tmp_path, store):
    server = make_server(tmp_path, store)
    later = datetime.now(UTC) + timedelta(hours=1)
    write_keys(server.key_file, "first", later)
    assert server.token() == "first"
    write_keys(server.key_file, "second", later)
    assert server.token() == "second"
    assert server.token("management") == "m-key"


def test_print_token_without_a_server_says_so(tmp_path, capsys):
    assert server_module.main(["--print-token", "--workdir", str(tmp_path)]) == 1
    assert "TorchServe is not running" in capsys.readouterr().err


def test_a_container_binds_every_address_and_still_checks_on_loopback(tmp_path, store):
    server = make_server(tmp_path, store, bind_address="0.0.0.0")
    props = read_properties(server.write_config())
    for name in ("inference", "management", "metrics"):
        assert props[f"{name}_address"].startswith("http://0.0.0.0:")
    assert server.management_url.startswith("http://127.0.0.1:")


def test_check_ready_without_a_server_is_not_ready(tmp_path):
    assert server_module.main(["--check-ready", "--workdir", str(tmp_path)]) == 1


def test_load_errors_name_the_first_exceptions_however_long_the_logs_grew(tmp_path, store):
    server = make_server(tmp_path, store)
    server.log_dir.mkdir(parents=True)
    first = "2026-12-07 W-9000-mnist_1.0-stdout MODEL_LOG - ImportError: broken on purpose"
    retry = "2026-12-07 W-9000-mnist_1.0-stdout MODEL_LOG - ModuleNotFoundError: No module named x"
    noise = [f"2026-12-07 INFO line {i}" for i in range(100)]
    (server.log_dir / "torchserve.out").write_text("\n".join([first, *noise, retry, first, *noise]))
    errors = server.load_errors()
    assert errors.splitlines() == [
        "Exceptions logged:",
        "ImportError: broken on purpose",
        "ModuleNotFoundError: No module named x",
    ]
    assert "broken on purpose" not in server.log_tail()  # 100 lines later: out of the tail
    assert make_server(tmp_path / "other", store).load_errors() == "(no exception in the logs)"
