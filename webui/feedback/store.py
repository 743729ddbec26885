"""The corrections' database through SQLAlchemy: SQLite by default, PostgreSQL for several replicas.

- SQLite: a file (WebUIConfig.feedback_db_file, under the run directory), in WAL mode so reading
  never blocks the writer. Every transaction starts with BEGIN IMMEDIATE, which takes the write
  lock at once: the count against the cap and the insert after it are one atomic step.
- PostgreSQL: when FEEDBACK_DATABASE_URL is set (psycopg 3). It is read from the environment
  only, never a flag, so a password shows neither in `ps` nor in `--help`. Each insert takes a
  transaction-level advisory lock, so the cap holds across replicas too.

Rows are only ever inserted, each in its own transaction: a failure rolls back that one insert
and nothing else, and no code path updates or deletes a row.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from webui.feedback.schema import corrections

log = logging.getLogger(__name__)

DATABASE_URL_ENV = "FEEDBACK_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock's key for this table's migrations and inserts (any constant; "digit").
ADVISORY_LOCK_KEY = 0x6469676974
# Seconds SQLite waits for another writer's lock before failing (a failure is a 503, not a loss).
SQLITE_BUSY_TIMEOUT_MS = 5000


# What a database that is down, locked, or at a revision this code does not know raises: answered
# 503 by the route, logged at start, never fatal to the UI (predictions do not need the store).
STORE_ERRORS = (SQLAlchemyError, CommandError)


class StoreFull(Exception):
    """The cap on stored corrections is reached."""


@dataclass(frozen=True)
class Correction:
    """A correction to store: what the person sent and the handler's 28×28 of it."""

    label: int
    predicted: int | None
    mode: str
    position: int | None
    digit_png: bytes
    original: bytes
    original_content_type: str
    model_name: str | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class StoredCorrection(Correction):
    id: int = 0
    created_at: datetime = datetime.min

    def summary(self) -> dict[str, Any]:
        """What was stored, for the API's answer: the original's type and size, not its bytes."""
        fields = asdict(self)
        original = fields.pop("original")
        return {
            **fields,
            "created_at": self.created_at.isoformat(),
            "digit_png": base64.b64encode(self.digit_png).decode("ascii"),
            "original_bytes": len(original),
        }


def database_url(db_file: Path, environ: Mapping[str, str] | None = None) -> str:
    """FEEDBACK_DATABASE_URL when set, else the SQLite file `db_file`."""
    environ = os.environ if environ is None else environ
    return environ.get(DATABASE_URL_ENV, "").strip() or f"sqlite:///{db_file}"


def _with_driver(url: str) -> str:
    """postgresql:// (or postgres://) means psycopg 3: SQLAlchemy's default would be psycopg2."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


class FeedbackStore:
    """Insert, count and read corrections; `migrate()` brings the schema to the latest revision."""

    def __init__(self, url: str) -> None:
        self.url = make_url(_with_driver(url))
        self.sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = create_engine(self.url, pool_pre_ping=not self.sqlite)
        if self.sqlite:
            _configure_sqlite(self.engine)
        self._migrated = False
        self._migrate_lock = threading.Lock()

    def describe(self) -> str:
        """The database, for logs: the URL without its password."""
        return self.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """`alembic upgrade head`, once per process; several replicas may call it at once."""
        with self._migrate_lock:
            if self._migrated:
                return
            if self.sqlite and self.url.database:
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            with self.engine.begin() as connection:
                self._lock(connection)  # the other replicas wait here, then find it done
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS_DIR))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            self._migrated = True

    def add(self, correction: Correction, max_stored: int) -> StoredCorrection:
        """Insert one correction in its own transaction, unless `max_stored` are stored already."""
        self.migrate()
        created_at = datetime.now(UTC)
        with self.engine.begin() as connection:
            self._lock(connection)
            if connection.scalar(select(func.count()).select_from(corrections)) >= max_stored:
                raise StoreFull
            values = {**asdict(correction), "created_at": created_at}
            result = connection.execute(insert(corrections).values(**values))
            new_id = result.inserted_primary_key[0]
        return StoredCorrection(**asdict(correction), id=new_id, created_at=created_at)

    def count(self) -> int:
        self.migrate()
        with self.engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(corrections))

    def rows(self, batch: int = 200) -> Iterator[StoredCorrection]:
        """Every stored correction in the order stored, read `batch` rows at a time."""
        self.migrate()
        last_id = 0
        while True:
            query = select(corrections).where(corrections.c.id > last_id)
            with self.engine.connect() as connection:
                found = connection.execute(query.order_by(corrections.c.id).limit(batch)).all()
            for row in found:
                values = row._asdict()
                created_at = values["created_at"]
                if created_at.tzinfo is None:  # SQLite keeps no zone; every value was UTC
                    values["created_at"] = created_at.replace(tzinfo=UTC)
                yield StoredCorrection(**values)
            if len(found) < batch:
                return
            last_id = found[-1].id

    def dispose(self) -> None:
        self.engine.dispose()

    def _lock(self, connection: Connection) -> None:
        """Serialise writers across processes until the transaction ends."""
        if not self.sqlite:  # SQLite: BEGIN IMMEDIATE has taken the database's write lock
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": ADVISORY_LOCK_KEY})


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, and transactions SQLAlchemy begins itself, with BEGIN IMMEDIATE (the
    sqlite3 module would otherwise begin them late, after the SELECT that counts)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN from the sqlite3 module
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def migrate_at_start(store: FeedbackStore) -> None:
    """Bring the schema up to date before serving. A database that cannot be reached is logged,
    not fatal: predictions do not need it, and each correction tries again."""
    try:
        store.migrate()
        log.info("corrections are stored in %s", store.describe())
    except STORE_ERRORS as exc:
        log.error("the corrections database %s is unavailable: %s", store.describe(), exc)
