"""Engine and schema: where the database is and how it is created.

>>> engine = open_engine("sqlite://")
>>> init_db(engine)
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from primsync.db.models import Base
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


def init_db(engine: Engine) -> list[str]:
    """Create every table of the contract that is missing; returns the names created."""
    before = set(inspect(engine).get_table_names())
    Base.metadata.create_all(engine)
    after = set(inspect(engine).get_table_names())
    return sorted(after - before)
