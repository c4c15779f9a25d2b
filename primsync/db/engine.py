"""Engine and schema: where the database is and how it is created.

>>> engine = open_engine("sqlite://")
>>> sorted(init_db(engine))[:3]
['app_user', 'attachment', 'crm_message']
>>> check_schema(engine)
>>> engine.dispose()  # its connections closed
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from primsync.errors import ConfigurationError, DatabaseError, SchemaMissing

if TYPE_CHECKING:
    from alembic.config import Config

# the newest migration: what check_schema expects (a test keeps it equal to Alembic's head;
# Alembic itself is imported only by init, which takes 0.1 s off every other command)
SCHEMA_HEAD = "0007"

DEFAULT_URL = "sqlite:///data/primsync.db"


def database_url(url: str | None = None) -> str:
    """The URL to use: the one given, else ``$PRIMSYNC_DB``, else the SQLite file under data/."""
    return url or os.environ.get("PRIMSYNC_DB") or DEFAULT_URL


INIT_ADVICE = "run `primsync init` first (or `primsync demo` for the demo database)"


def safe_url(url: str | None) -> str:
    """``url`` for messages: the password, if any, replaced by ``***``."""
    resolved = database_url(url)
    try:
        return make_url(resolved).render_as_string(hide_password=True)
    except ArgumentError:
        return "the database URL given"


def open_engine(url: str | None = None, *, create: bool = False) -> Engine:
    """An engine for ``url`` (see :func:`database_url`).

    A SQLite file that does not exist is an error (:class:`SchemaMissing`, "run primsync
    init") unless ``create`` — what ``init``, the demo and the tests ask for — and only then are
    its folders made: a mistyped path creates nothing.
    """
    resolved = database_url(url)
    try:
        parsed = make_url(resolved)
    except ArgumentError as exc:
        raise ConfigurationError(f"not a database URL: {resolved!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.is_file():
                raise SchemaMissing(f"there is no database at {path}: {INIT_ADVICE}")
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"primsync keeps its data in SQLite or PostgreSQL, not {parsed.get_backend_name()}: "
            "give a sqlite:/// or postgresql+psycopg:// URL"
        )
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except (ImportError, NoSuchModuleError) as exc:  # a PostgreSQL driver that is not installed
        raise ConfigurationError(
            f"the database driver {parsed.drivername!r} is not installed: use "
            "postgresql+psycopg:// (psycopg comes with primsync)"
        ) from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _sqlite_begin), not the driver
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A write transaction takes the write lock when it starts: two importers then queue up
    # instead of failing with "database is locked" when a read lock cannot be upgraded.
    conn.exec_driver_sql(
        "BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN"
    )


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: committed on success, rolled back on any error.

    On SQLite it takes the write lock at BEGIN (IMMEDIATE), so that concurrent writers wait
    for each other (up to the busy timeout) instead of failing with "database is locked".
    """
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        yield conn


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """An ORM session inside :func:`write_transaction`; flushed, then committed, at the end."""
    with write_transaction(engine) as conn, Session(bind=conn) as session:
        yield session
        session.flush()


MIGRATIONS = Path(__file__).parent / "migrations"
FIRST_REVISION = "0001"


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upsert_insert(conn: Connection, table: Any) -> Any:
    """``INSERT`` for ``table`` in the connection's dialect, with ``ON CONFLICT`` clauses
    (PostgreSQL's and SQLite's share one form): the one place that chooses between them."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # loaded only where it is used

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None: empty, or made before migrations)."""
    with engine.connect() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def check_schema(engine: Engine) -> None:
    """Raise unless the database answers and is at primsync's current schema:
    :class:`DatabaseError` when it cannot be reached, :class:`SchemaMissing` ("run primsync
    init") when its tables are missing or older."""
    try:
        with engine.connect() as conn:
            current = _revision(conn)
            has_tables = inspect(conn).has_table("mail_account")
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        raise DatabaseError(
            f"cannot use the database {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from exc
    if not has_tables:
        raise SchemaMissing(f"the database has no primsync tables: {INIT_ADVICE}")
    if current != SCHEMA_HEAD:
        raise SchemaMissing(
            f"the database is at schema {current or 'before migrations'}, this primsync needs "
            f"{SCHEMA_HEAD}: run `primsync init` to upgrade it in place"
        )


def _driver(conn: Connection) -> Any:
    """The driver's own connection under ``conn`` (for what must run outside a transaction)."""
    driver = conn.connection.dbapi_connection
    assert driver is not None, "an open connection has a driver connection"
    return driver


def init_db(engine: Engine, *, revision: str = "head") -> list[str]:
    """Bring the database to the current schema (or ``revision``); returns the tables created.

    An empty database is created by the migrations; a database at an older revision is
    upgraded without losing data; one created before migrations existed is stamped first.
    """
    from alembic import command

    before = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it; foreign keys must be off meanwhile, which
            # only takes effect outside a transaction, hence on the driver's connection
            _driver(conn).execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                config = _alembic_config(conn)
                current = _revision(conn)
                if "record" in before and current is None:
                    columns = {c["name"] for c in inspect(conn).get_columns("sync_run")}
                    command.stamp(config, "head" if "undone_at" in columns else FIRST_REVISION)
                command.upgrade(config, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise ConfigurationError(f"the migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                _driver(conn).execute("PRAGMA foreign_keys=ON")
    after = set(inspect(engine).get_table_names())
    return sorted(after - before - {"alembic_version"})
