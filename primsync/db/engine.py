"""Engine and schema: where the database is and how it is created.

>>> engine = open_engine("sqlite://")
>>> init_db(engine)
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from primsync.errors import ConfigurationError

DEFAULT_URL = "sqlite:///data/primsync.db"


def database_url(url: str | None = None) -> str:
    """The URL to use: the one given, else ``$PRIMSYNC_DB``, else the SQLite file under data/."""
    return url or os.environ.get("PRIMSYNC_DB") or DEFAULT_URL


def open_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (see :func:`database_url`); SQLite files get their folder created."""
    resolved = database_url(url)
    try:
        parsed = make_url(resolved)
    except ArgumentError as exc:
        raise ConfigurationError(f"not a database URL: {resolved!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


MIGRATIONS = Path(__file__).parent / "migrations"
FIRST_REVISION = "0001"


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None: empty, or made before migrations)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def init_db(engine: Engine, *, revision: str = "head") -> list[str]:
    """Bring the database to the current schema (or ``revision``); returns the tables created.

    An empty database is created by the migrations; a database at an older revision is
    upgraded without losing data; one created before migrations existed is stamped first.
    """
    before = set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        config = _alembic_config(conn)
        if "record" in before and MigrationContext.configure(conn).get_current_revision() is None:
            columns = {c["name"] for c in inspect(conn).get_columns("sync_run")}
            command.stamp(config, "head" if "undone_at" in columns else FIRST_REVISION)
        command.upgrade(config, revision)
    after = set(inspect(engine).get_table_names())
    return sorted(after - before - {"alembic_version"})
