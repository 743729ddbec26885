"""Register a model archive on a running TorchServe: the checked way to roll out a new version.

    python -m tools.torchserve --enable-model-api      # a TorchServe with registration on
    python -m tools.register mnist-2.0.mar --name mnist

TorchServe 0.12 checks little at registration: with the model API on, `POST /models?url=/any/dir`
registers a directory outside the model store whose MAR-INF/MANIFEST.json names a handler, and
its worker imports and runs that handler (allowed_urls does not stop absolute directory paths);
a model name such as `../../x` is accepted and can then never be unregistered. TorchServe is
archived upstream, so the project keeps the model API off (serve_config/config.properties) and
this tool checks what TorchServe does not, before calling it: the archive must be a regular
`.mar` file (a zip with MAR-INF/MANIFEST.json) directly inside the model store, symlinks
resolved; the model name a plain identifier. TorchServe is then given the file's name in the
store, never a path or URL.
"""

from __future__ import annotations

import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tools import paths
from tools.cli import parse_config
from tools.client import ServiceUnavailable
from tools.torchserve import ServerError, TorchServe

# A model name TorchServe puts into URLs and file paths: letters, digits, "_" and "-" only.
MODEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
MANIFEST = "MAR-INF/MANIFEST.json"


class RegistrationRefused(ValueError):
    """An archive or model name that must not reach TorchServe's management API."""


@dataclass
class RegisterConfig:
    mar: Path = Path("mnist.mar")  # the archive: a file name in the model store, or a path to it
    name: str = paths.MODEL_NAME  # the model name to register it under (/predictions/<name>)
    initial_workers: int = 1  # workers to start (the archive's minWorkers win, as at start-up)
    model_store: Path = paths.MODEL_STORE  # the running TorchServe's model store
    workdir: Path = paths.TORCHSERVE_WORKDIR  # the running TorchServe's working directory (keys)
    management_port: int = paths.MANAGEMENT_PORT  # the running TorchServe's management API


def checked_name(name: str) -> str:
    """The model name, if it is a plain identifier; RegistrationRefused otherwise."""
    if not MODEL_NAME.fullmatch(name):
        raise RegistrationRefused(
            f"Model name {name!r} refused: use 1-64 letters, digits, '_' or '-', "
            "starting with a letter."
        )
    return name


def checked_archive(model_store: Path, mar: Path | str) -> str:
    """The archive's file name in the model store, once it is known to be a regular .mar file
    directly inside it (symlinks resolved); RegistrationRefused otherwise."""
    store = Path(model_store).resolve()
    given = Path(mar)
    path = (store / given if given.name == str(mar) else given).resolve()  # a bare name: in store
    if path.parent != store:
        raise RegistrationRefused(
            f"{mar} refused: only a file directly inside the model store {store} is registered "
            f"(it resolves to {path})."
        )
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not there"
        raise RegistrationRefused(f"{mar} refused: {path} is {kind}, not a .mar file.")
    if path.suffix != ".mar" or not zipfile.is_zipfile(path):
        raise RegistrationRefused(f"{mar} refused: {path} is not a .mar archive (a zip file).")
    with zipfile.ZipFile(path) as archive:
        if MANIFEST not in archive.namelist():
            raise RegistrationRefused(f"{mar} refused: {path} holds no {MANIFEST}.")
    return path.name


def register(server: TorchServe, mar: Path | str, name: str, initial_workers: int = 1) -> Any:
    """Register `mar` (checked) under `name` (checked) and wait for its workers; TorchServe's
    answer. ServerError when TorchServe refuses, e.g. because its model API is off."""
    file_name = checked_archive(server.config.model_store, mar)
    params = {
        "url": file_name,
        "model_name": checked_name(name),
        "initial_workers": initial_workers,
        "synchronous": "true",
    }
    reply = requests.post(
        f"{server.management_url}/models",
        params=params,
        headers={"Authorization": f"Bearer {server.token('management')}"},
        timeout=300,
    )
    if reply.status_code == 405:
        raise ServerError(
            "This TorchServe has its model API off (the default). Start the instance that takes "
            "the new version with --enable-model-api (make serve ENABLE_MODEL_API=1), register, "
            "then restart it without."
        )
    if not reply.ok:
        raise ServerError(
            f"TorchServe refused the registration ({reply.status_code}): {reply.text}"
        )
    return reply.json()


def main(argv: list[str] | None = None) -> int:
    config = parse_config(RegisterConfig, argv, positional=("mar",))
    server = TorchServe(
        management_port=config.management_port,
        workdir=config.workdir,
        model_store=config.model_store,
    )
    try:
        answer = register(server, config.mar, config.name, config.initial_workers)
    except (RegistrationRefused, ServerError, ServiceUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except requests.RequestException as error:
        print(f"error: TorchServe did not answer: {error}", file=sys.stderr)
        return 1
    print(answer.get("status", answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
