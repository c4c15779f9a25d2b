"""One sync at a time per account: a PostgreSQL advisory lock for a team database, a file lock
next to a SQLite database.

>>> with account_lock(engine, account_id=3):     # doctest: +SKIP
...     ...
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Engine, text

from primsync.errors import AccountLocked

__all__ = ["AccountLocked", "account_lock"]

_NAMESPACE = 0x70726D73  # "prms": keeps our advisory lock keys apart from other applications'
_MEMORY_LOCKS: dict[tuple[str, int], threading.Lock] = {}


@contextmanager
def account_lock(engine: Engine, account_id: int, *, address: str = "") -> Iterator[None]:
    """Hold the account's sync lock, or raise :class:`AccountLocked` at once."""
    busy = AccountLocked("another sync of this account is running", account=address or None)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :id)"), {"ns": _NAMESPACE, "id": account_id}
            ).scalar()
            conn.commit()
            if not got:
                raise busy
            try:
                yield
            finally:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:ns, :id)"),
                    {"ns": _NAMESPACE, "id": account_id},
                )
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        lock = _MEMORY_LOCKS.setdefault((str(engine.url), account_id), threading.Lock())
        if not lock.acquire(blocking=False):
            raise busy
        try:
            yield
        finally:
            lock.release()
        return
    # a lock file beside the SQLite file (flock on POSIX, msvcrt locking on Windows)
    file_lock = FileLock(Path(f"{database}.account-{account_id}.lock"), timeout=0)
    try:
        file_lock.acquire()
    except Timeout:
        raise busy from None
    try:
        yield
    finally:
        file_lock.release()
