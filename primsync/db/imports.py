"""The import's and the undo's writes: who may import (``import_permission``), the messages,
their attachments and the folders' sync state stored in one transaction (``store_import``), and
an import run taken back (``undo_run``).

The unique key (record_id, dedupe_key) of ``imported_message`` does the deduplication: an
``INSERT ... ON CONFLICT DO NOTHING`` that inserts nothing is a duplicate. What to fetch and
which rows to store is ``primsync.commit``'s; nothing here reads the mailbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.orm import Session

from primsync.db.accounts import get_account
from primsync.db.directory import get_group, get_user, user_level
from primsync.db.engine import upsert_insert, write_transaction
from primsync.db.models import AppUser, Attachment, FolderState, ImportedMessage, SyncRun
from primsync.errors import ConfigurationError, PermissionDenied

__all__ = ["FolderMark", "ImportIds", "import_permission", "store_import", "undo_run"]


@dataclass(frozen=True)
class ImportIds:
    """Who imports, at which group, from which account (database ids)."""

    user_id: int
    group_id: int
    account_id: int


@dataclass(frozen=True)
class FolderMark:
    """How far an import read a folder: its UIDVALIDITY, the highest UID it saw, its
    HIGHESTMODSEQ (what the next "since last sync" starts from)."""

    folder: str
    uidvalidity: int
    highest_uid: int
    highestmodseq: int | None = None


def import_permission(engine: Engine, *, user: str, accessible_to: str, account: str) -> ImportIds:
    """The ids of an import ``user`` may make: the owner of the account, filing at a group
    at or below their own level (:class:`PermissionDenied` otherwise)."""
    with Session(engine) as session:
        person = get_user(session, user)
        group = get_group(session, accessible_to)
        own_level = user_level(session, person)
        acct = get_account(session, account)
        if acct.owner_id != person.id:
            raise PermissionDenied(
                f"only the owner of the mail account may import from it, not {user!r}",
                account=account,
            )
        if group.level > own_level:
            raise PermissionDenied(
                f"{user!r} (level {own_level}) cannot file messages at {group.name!r} "
                f"(level {group.level}): choose a group at or below your own level",
                account=account,
            )
        return ImportIds(user_id=person.id, group_id=group.id, account_id=acct.id)


def _insert_message(conn: Connection) -> Any:
    """``INSERT ... ON CONFLICT (record_id, dedupe_key) DO NOTHING RETURNING id, record_id,
    dedupe_key``: executed with every message's parameters at once (SQLAlchemy's "insertmanyvalues"
    batches them), the rows returned say which messages were new."""
    stmt = upsert_insert(conn, ImportedMessage).on_conflict_do_nothing(
        index_elements=["record_id", "dedupe_key"]
    )
    return stmt.returning(ImportedMessage.id, ImportedMessage.record_id, ImportedMessage.dedupe_key)


def _mark_folders(
    conn: Connection, marks: Iterable[FolderMark], account_id: int, now: datetime
) -> None:
    for mark in marks:
        state = conn.execute(
            select(FolderState.uidvalidity, FolderState.last_uid).where(
                FolderState.account_id == account_id, FolderState.folder == mark.folder
            )
        ).first()
        highest = mark.highest_uid
        if state is not None and int(state.uidvalidity) == mark.uidvalidity:
            highest = max(highest, int(state.last_uid))
        values = {
            "uidvalidity": mark.uidvalidity,
            "last_uid": highest,
            "highestmodseq": mark.highestmodseq,
            "last_sync_at": now,
        }
        stmt = upsert_insert(conn, FolderState).values(
            account_id=account_id, folder=mark.folder, **values
        )
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["account_id", "folder"], set_=values)
        )


def store_import(
    engine: Engine,
    messages: Sequence[dict[str, Any]],
    attachments: Sequence[Sequence[dict[str, Any]]],
    marks: Iterable[FolderMark],
    *,
    account_id: int,
) -> list[int | None]:
    """One transaction: ``messages`` (``imported_message`` values, ``imported_at`` filled
    here), each one's ``attachments`` (``attachment`` values without ``message_id``) and the
    folders' sync state. Returns each message's new id, None for a duplicate (already stored
    on its record, or met twice in this import)."""
    now = datetime.now(UTC)
    stored: list[int | None] = []
    with write_transaction(engine) as conn:
        values = [{**message, "imported_at": now} for message in messages]
        created: dict[tuple[int, str], int] = {}
        if values:  # one executemany: SQLAlchemy sends multi-row INSERTs, RETURNING the new ids
            result = conn.execute(_insert_message(conn), values)
            created = {(int(rid), key): int(new_id) for new_id, rid, key in result}
        parts: list[dict[str, Any]] = []
        for row, its_parts in zip(values, attachments, strict=True):
            # a conflict returns no row; a message met twice (two folders) is stored once
            new_id = created.pop((row["record_id"], row["dedupe_key"]), None)
            stored.append(new_id)
            if new_id is not None:
                parts += [{**part, "message_id": new_id} for part in its_parts]
        if parts:
            conn.execute(insert(Attachment), parts)
        _mark_folders(conn, marks, account_id, now)
    return stored


def undo_run(engine: Engine, run_id: int, *, user: str) -> int:
    """Remove what import run ``run_id`` stored; returns how many messages were removed.

    Allowed to the user who ran the import, or to a user of a higher level. The import run is
    marked undone (when, by whom) and an "undo" run records the removal.
    """
    with Session(engine) as session:
        person = get_user(session, user)
        level = user_level(session, person)
        run = session.get(SyncRun, run_id)
        if run is None or run.kind != "import":
            raise ConfigurationError(f"no import run {run_id}")
        if run.undone_at is not None:
            raise ConfigurationError(f"import run {run_id} was already undone")
        account_id = run.account_id
        if run.user_id != person.id:
            owner = session.get(AppUser, run.user_id) if run.user_id else None
            owner_level = user_level(session, owner) if owner else 0
            if level <= owner_level:
                raise PermissionDenied(
                    f"{user!r} (level {level}) may not undo run {run_id}: only its user or a "
                    f"user of a higher level than {owner_level} may"
                )
    with write_transaction(engine) as conn:
        now = datetime.now(UTC)
        claimed = conn.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id, SyncRun.undone_at.is_(None))
            .values(undone_at=now, undone_by_id=person.id, note=f"undone by {user}")
        )
        if claimed.rowcount != 1:  # another undo got there first
            raise ConfigurationError(f"import run {run_id} was already undone")
        ids = select(ImportedMessage.id).where(ImportedMessage.run_id == run_id)
        conn.execute(delete(Attachment).where(Attachment.message_id.in_(ids)))
        removed = conn.execute(delete(ImportedMessage).where(ImportedMessage.run_id == run_id))
        conn.execute(
            insert(SyncRun).values(
                kind="undo",
                user_id=person.id,
                account_id=account_id,
                started_at=now,
                finished_at=now,
                option="",
                folders="",
                status="ok",
                note=f"undo of import run {run_id}: {removed.rowcount} messages removed",
            )
        )
    return int(removed.rowcount)
