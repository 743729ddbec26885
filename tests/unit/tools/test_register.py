"""tools.register: what reaches TorchServe's management API, and what never does."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tools import register as register_module
from tools.register import RegistrationRefused, checked_archive, checked_name, register
from tools.torchserve import ServerError, TorchServe


def write_mar(path: Path, manifest: bool = True) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        if manifest:
            archive.writestr("MAR-INF/MANIFEST.json", json.dumps({"model": {"modelName": "x"}}))
        archive.writestr("model.pt", b"weights")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A model store with one good archive, and next to it, outside, another one."""
    path = tmp_path / "store"
    path.mkdir()
    write_mar(path / "mnist-2.0.mar")
    write_mar(tmp_path / "outside.mar")
    return path


def test_a_mar_file_in_the_store_is_registered_by_its_name(store):
    assert checked_archive(store, "mnist-2.0.mar") == "mnist-2.0.mar"
    assert checked_archive(store, store / "mnist-2.0.mar") == "mnist-2.0.mar"


def test_a_link_inside_the_store_is_registered_as_what_it_points_to(store):
    (store / "latest.mar").symlink_to(store / "mnist-2.0.mar")
    assert checked_archive(store, "latest.mar") == "mnist-2.0.mar"


def directory_with_a_manifest(path: Path) -> Path:
    """What TorchServe 0.12 registers and runs: a folder whose manifest names a handler."""
    (path / "MAR-INF").mkdir(parents=True)
    (path / "MAR-INF" / "MANIFEST.json").write_text('{"model": {"handler": "evil.py"}}')
    (path / "evil.py").write_text("raise SystemExit('this must never run')\n")
    return path


def link_to_outside(store: Path) -> str:
    (store / "out.mar").symlink_to(store.parent / "outside.mar")
    return "out.mar"


def in_a_subfolder(store: Path) -> Path:
    (store / "sub").mkdir()
    return write_mar(store / "sub" / "x.mar")


def not_a_zip(store: Path) -> str:
    (store / "text.mar").write_text("not a zip")
    return "text.mar"


# What is refused, built in the store's surroundings, and words of the reason.
REFUSED = {
    "directory-outside": (lambda store: directory_with_a_manifest(store.parent / "evil"), "inside"),
    "directory-inside-named-.mar": (
        lambda store: directory_with_a_manifest(store / "evil.mar"),
        "a directory",
    ),
    "absolute-path-outside": (lambda store: store.parent / "outside.mar", "directly inside"),
    "dot-dot-name": (lambda store: "../outside.mar", "directly inside"),
    "dot-dot-path": (lambda store: store / ".." / "outside.mar", "directly inside"),
    "subfolder": (in_a_subfolder, "directly inside"),
    "link-to-outside": (link_to_outside, "directly inside"),
    "missing": (lambda store: "absent.mar", "not there"),
    "not-.mar": (lambda store: write_mar(store / "model.zip"), "not a .mar"),
    "not-a-zip": (not_a_zip, "not a .mar"),
    "no-manifest": (lambda store: write_mar(store / "bare.mar", manifest=False), "MANIFEST"),
}


@pytest.mark.parametrize(("make", "words"), REFUSED.values(), ids=REFUSED.keys())
def test_anything_but_a_mar_file_directly_in_the_store_is_refused(store, make, words):
    with pytest.raises(RegistrationRefused, match=words):
        checked_archive(store, make(store))


@pytest.mark.parametrize("name", ["mnist", "mnist-2", "Digit_reader", "m" * 64])
def test_plain_model_names_pass(name):
    assert checked_name(name) == name


@pytest.mark.parametrize(
    "name", ["../../x", "", "2mnist", "a/b", "a b", "mnist.mar", "m" * 65, "x\n", "zähler", "-x"]
)
def test_other_model_names_are_refused(name):
    with pytest.raises(RegistrationRefused, match="letters, digits"):
        checked_name(name)


class Reply:
    def __init__(self, status: int, body: dict) -> None:
        self.status_code, self.body, self.ok = status, body, status < 400
        self.text = json.dumps(body)

    def json(self) -> dict:
        return self.body


@pytest.fixture
def server(tmp_path, store) -> TorchServe:
    """A TorchServe that is not running, with a key file as a running one leaves."""
    server = TorchServe(management_port=1, workdir=tmp_path / "work", model_store=store)
    stamp = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    server.key_file.parent.mkdir(parents=True)
    server.key_file.write_text(
        json.dumps({"management": {"key": "m-key", "expiration time": stamp}, "API": {"key": "a"}})
    )
    return server


def test_registration_sends_the_file_name_and_the_checked_name(server, monkeypatch):
    sent = []

    def post(url, params, headers, timeout):
        sent.append((url, params, headers))
        return Reply(
            200, {"status": 'Model "mnist" Version: 2.0 registered with 1 initial workers'}
        )

    monkeypatch.setattr(register_module.requests, "post", post)
    answer = register(server, server.config.model_store / "mnist-2.0.mar", "mnist")
    assert answer["status"].startswith('Model "mnist"')
    [(url, params, headers)] = sent
    assert url == "http://127.0.0.1:1/models"
    assert params["url"] == "mnist-2.0.mar" and params["model_name"] == "mnist"
    assert headers == {"Authorization": "Bearer m-key"}


@pytest.mark.parametrize(("mar", "name"), [("../outside.mar", "mnist"), ("mnist-2.0.mar", "../x")])
def test_a_refused_archive_or_name_never_reaches_torchserve(server, monkeypatch, mar, name):
    monkeypatch.setattr(register_module.requests, "post", lambda *a, **k: pytest.fail("called"))
    with pytest.raises(RegistrationRefused):
        register(server, mar, name)


def test_a_server_with_the_model_api_off_says_how_to_turn_it_on(server, monkeypatch):
    monkeypatch.setattr(register_module.requests, "post", lambda *a, **k: Reply(405, {}))
    with pytest.raises(ServerError, match="--enable-model-api"):
        register(server, "mnist-2.0.mar", "mnist")


def test_the_command_line_refuses_a_directory(store, capsys):
    evil = directory_with_a_manifest(store.parent / "evil")
    assert register_module.main([str(evil), "--model-store", str(store)]) == 1
    assert "refused" in capsys.readouterr().err
