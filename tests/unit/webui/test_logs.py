"""The UI's log: each line once, rotated by size with a cap, an access line per request with
method, path, status and latency, and never the bytes of an upload."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest

from webui import create_app
from webui.logs import configure_logging

PNG = b"\x89PNG\r\n\x1a\nSECRET-PIXELS-0123456789"


@pytest.fixture
def log_setup():
    """Configures the UI's logging like `python -m webui`; undone after the test."""
    root = logging.getLogger()
    level = root.level
    installed = []

    def configure(config):
        handler = configure_logging(config)
        installed.append(handler)
        return handler

    yield configure
    for handler in installed:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_each_line_is_written_once(config, tmp_path, log_setup):
    log_file = tmp_path / "logs" / "webui.log"
    config = replace(config, log_file=log_file)
    log_setup(config)
    log_setup(config)  # configured twice: still one handler
    logging.basicConfig()  # waitress.serve calls this; it must add nothing
    logging.getLogger("waitress.queue").warning("queue line")
    logging.getLogger("webui.torchserve_client").warning("client line")
    create_app(config).test_client().get("/healthz")
    text = log_file.read_text()
    assert text.count("queue line") == 1
    assert text.count("client line") == 1
    assert text.count("GET /healthz 200") == 1


def test_rotation_caps_the_size(config, tmp_path, log_setup):
    log_dir = tmp_path / "logs"
    log_setup(replace(config, log_file=log_dir / "webui.log", log_max_bytes=2_000, log_backups=2))
    log = logging.getLogger("webui.test")
    for i in range(1_000):  # about 100 kB of lines
        log.info("line %04d %s", i, "x" * 40)
    files = sorted(p.name for p in log_dir.iterdir())
    assert files == ["webui.log", "webui.log.1", "webui.log.2"]
    for path in log_dir.iterdir():
        assert path.stat().st_size <= 2_000
    assert lines(log_dir / "webui.log")[-1].endswith("line 0999 " + "x" * 40)


def test_access_lines_have_method_path_status_and_latency(config, tmp_path, log_setup):
    log_file = tmp_path / "webui.log"
    config = replace(config, log_file=log_file)
    log_setup(config)
    app = create_app(config)
    app.test_client().get("/?visitor=someone")
    access = [line for line in lines(log_file) if " webui.access: " in line]
    assert len(access) == 1
    assert re.search(r" INFO webui\.access: GET / 200 \d+\.\d ms$", access[0]), access[0]
    assert "visitor" not in log_file.read_text()  # the query string is left out


def test_an_encoded_newline_in_the_path_cannot_forge_a_line(config, tmp_path, log_setup):
    log_file = tmp_path / "webui.log"
    log_setup(replace(config, log_file=log_file))
    create_app(config).test_client().get("/x%0d%0aINFO webui.access: GET /forged 200 1.0 ms")
    assert len(lines(log_file)) == 1


def test_uploads_never_reach_the_log(config, tmp_path, log_setup, app, upstream):
    log_file = tmp_path / "webui.log"
    log_setup(replace(config, log_file=log_file))
    client = app.test_client()
    client.post("/api/predict", data=PNG, content_type="image/png")  # 503: TorchServe absent
    client.post("/api/predict", data=PNG, content_type="application/x-www-form-urlencoded")
    client.post("/api/predict", data=PNG[8:], content_type="application/x-www-form-urlencoded")
    client.post("/api/predict", json={"image": PNG.decode("latin-1"), "images": []})
    text = log_file.read_text()
    assert text.count("POST /api/predict") == 4
    assert "SECRET-PIXELS" not in text


def test_a_dash_logs_to_stderr(config, log_setup, capsys):
    log_setup(replace(config, log_file=Path("-")))
    logging.getLogger("webui.test").warning("to stderr")
    assert capsys.readouterr().err.count("to stderr") == 1
