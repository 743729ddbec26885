"""The corrections' two databases: a SQLite file, and a real PostgreSQL server from Debian's
`postgresql` package (make setup-postgres), started once per session in a temporary directory on
a free port of 127.0.0.1 and always stopped. Each test gets a fresh database on it.

initdb refuses to run as root: as root, the server's commands run as the `postgres` system user
(which the package creates) in a directory it owns; otherwise as ourselves.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tools import paths
from tools.torchserve import free_port
from webui.feedback.store import DATABASE_URL_ENV


def _bin_dir() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


class Postgres:
    """`with Postgres() as server:` a PostgreSQL server on `server.url` until the block ends."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            pytest.skip("PostgreSQL is not installed (make setup-postgres)")
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="feedback-postgres-"))
        self.data = self.root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{paths.HOST}:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [*self.as_user, str(self.bin_dir / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if result.returncode != 0:
            log = self.root / "server.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed: {result.stdout}{result.stderr}{detail}")

    def __enter__(self) -> Postgres:
        try:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
            options = f"-p {self.port} -c listen_addresses={paths.HOST} -k {self.root} -c fsync=off"
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                      "-o", options, "-w", "-t", "60", "start")  # fmt: skip
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self, name: str) -> str:
        """A fresh, empty database; its URL."""
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(autouse=True)
def no_database_url_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """A FEEDBACK_DATABASE_URL in the developer's shell must not reach the tests' UIs."""
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with Postgres() as server:
        yield server


_databases = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind, as FEEDBACK_DATABASE_URL would name it (SQLite: a file)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feedback.db'}"
    server = request.getfixturevalue("postgres")
    return server.new_database(f"feedback_{next(_databases)}")
