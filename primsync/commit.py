"""Import the ticked rows: full fetch → one transaction → a summary.

For example (with a review ``result`` of a mailbox the user owns)::

    summary = import_selected(engine, result, user="ana", accessible_to="Recruiters")
    summary.imported, summary.skipped      # (3, 1)

The unique key (record_id, dedupe_key) of ``imported_message`` does the deduplication: an
``INSERT ... ON CONFLICT DO NOTHING`` that inserts nothing is a duplicate, reported as skipped.
Everything of one import, messages, attachments and the folders' sync state, is written in one
transaction, so a failure leaves nothing half-stored; the ``sync_run`` row says what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.orm import Session

from primsync import frame as F
from primsync.db import queries
from primsync.db.engine import upsert_insert, write_transaction
from primsync.db.models import AppUser, Attachment, FolderState, ImportedMessage, SyncRun
from primsync.errors import (
    CommitError,
    ConfigurationError,
    PermissionDenied,
    PrimsyncError,
)
from primsync.imap import Mailbox, waited_note
from primsync.oauth import TokenProvider
from primsync.parse import Body, parse_message
from primsync.progress import Progress, reporter
from primsync.review import ReviewResult, open_mailbox

__all__ = ["ImportSummary", "import_selected", "undo_run"]

OUTCOME = "outcome"
REASON = "reason"
STORED_ID = "stored_id"


@dataclass(frozen=True)
class ImportSummary:
    """What one import did: one row per ticked message with its outcome and reason."""

    run_id: int
    rows: pd.DataFrame

    @property
    def imported(self) -> int:
        return int((self.rows[OUTCOME] == "imported").sum())

    @property
    def skipped(self) -> int:
        return int((self.rows[OUTCOME] == "skipped").sum())

    def counts(self) -> pd.DataFrame:
        """Messages per record, context and outcome."""
        return (
            self.rows.groupby([F.IMPORTED_INTO, F.CONTEXT, OUTCOME], dropna=False)
            .size()
            .rename("messages")
            .reset_index()
        )

    def __str__(self) -> str:
        lines = [f"import run {self.run_id}: {self.imported} imported, {self.skipped} skipped"]
        for row in self.rows[self.rows[OUTCOME] == "skipped"].itertuples():
            lines.append(
                f"  skipped {getattr(row, F.FOLDER)}:{getattr(row, F.UID)}: {getattr(row, REASON)}"
            )
        return "\n".join(lines)


@dataclass
class _Item:
    index: int  # the row's label in the review frame (a RangeIndex label)
    row: dict  # the row's values by column (a dict: a pandas row costs ~0.3 ms to make)
    body: Body
    raw_size: int


def _check_permission(engine: Engine, *, user: str, accessible_to: str, account: str) -> tuple:
    with Session(engine) as session:
        person = queries.get_user(session, user)
        group = queries.get_group(session, accessible_to)
        own_level = queries.user_level(session, person)
        acct = queries.get_account(session, account)
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
        return person.id, group.id, acct.id


def _triage(rows: pd.DataFrame) -> list[str | None]:
    """Why each ticked row cannot be imported (None when it can)."""
    reasons: list[str | None] = []
    columns = [F.EXCLUDED, F.MATCHED, F.RECORD_ID, F.CANDIDATES]
    for excluded, matched, record, candidates in zip(
        *(rows[c].tolist() for c in columns), strict=True
    ):
        if excluded:
            reasons.append("excluded from email synchronization")
        elif not matched:
            reasons.append("the correspondent is on no record")
        elif record is None or pd.isna(record):
            reasons.append("no record chosen")
        elif int(record) not in [int(c) for c in candidates or []]:
            reasons.append(f"record {record} is not one of the row's candidates")
        else:
            reasons.append(None)
    return reasons


def _fetch(
    box: Mailbox, rows: pd.DataFrame, progress: Progress
) -> tuple[list[_Item], dict[int, str]]:
    """Fetch the ticked messages in full, folder by folder; returns items and skip reasons."""
    items: list[_Item] = []
    missing: dict[int, str] = {}
    for folder, group in rows.groupby(F.FOLDER, sort=False):
        status = box.select(str(folder))
        box.expect_uidvalidity(status.uidvalidity, {int(v) for v in group[F.UIDVALIDITY]})
        by_uid = {int(u): i for i, u in zip(group.index, group[F.UID], strict=True)}
        values = dict(zip(group.index, group.to_dict("records"), strict=True))
        sizes = {int(u): int(n) for u, n in zip(group[F.UID], group[F.SIZE], strict=True)}
        seen = set()
        with reporter(progress, f"{folder} (import)") as report:
            for raw in box.fetch_full(list(by_uid), sizes=sizes, progress=report):
                seen.add(raw.uid)
                index = by_uid[raw.uid]
                items.append(_Item(index, values[index], parse_message(raw.data), raw.size))
        for uid, index in by_uid.items():
            if uid not in seen:
                missing[index] = "no longer in the folder (expunged or moved)"
    return items, missing


def _insert_message(conn: Connection) -> Any:
    """``INSERT ... ON CONFLICT (record_id, dedupe_key) DO NOTHING RETURNING id, record_id,
    dedupe_key``: executed with every message's parameters at once (SQLAlchemy's "insertmanyvalues"
    batches them), the rows returned say which messages were new."""
    stmt = upsert_insert(conn, ImportedMessage).on_conflict_do_nothing(
        index_elements=["record_id", "dedupe_key"]
    )
    return stmt.returning(ImportedMessage.id, ImportedMessage.record_id, ImportedMessage.dedupe_key)


def _message_values(
    item: _Item, *, account_id: int, group_id: int, user_id: int, run_id: int, now: datetime
) -> dict:
    row = item.row
    received = row[F.RECEIVED]
    defects = list(row[F.DEFECTS]) + list(item.body.defects)
    return {
        "record_id": int(row[F.RECORD_ID]),
        "account_id": account_id,
        "folder": row[F.FOLDER],
        "uid": int(row[F.UID]),
        "uidvalidity": int(row[F.UIDVALIDITY]),
        "message_id": None if pd.isna(row[F.MESSAGE_ID]) else row[F.MESSAGE_ID],
        "dedupe_key": row[F.DEDUPE_KEY],
        "in_reply_to": " ".join(row[F.IN_REPLY_TO]) or None,
        "references": " ".join(row[F.REFERENCES]) or None,
        "from_addr": row[F.FROM_ADDR] or "",
        "from_name": row[F.FROM_NAME] or "",
        "to_addrs": ", ".join(row[F.TO_ADDRS]),
        "cc_addrs": ", ".join(row[F.CC_ADDRS]),
        "subject": row[F.SUBJECT] or "",
        "received_at": None if pd.isna(received) else received.to_pydatetime(),
        "body_text": item.body.text,
        "body_html": item.body.html,
        "size": item.raw_size,
        "direction": row[F.DIRECTION],
        "context": row[F.CONTEXT],
        "accessible_to_id": group_id,
        "annexed_to_id": None if pd.isna(row[F.ANNEXED_TO_ID]) else int(row[F.ANNEXED_TO_ID]),
        "imported_by_id": user_id,
        "imported_at": now,
        "run_id": run_id,
        "defects": "\n".join(defects),
    }


def _move_folder_states(
    conn: Connection, review: ReviewResult, account_id: int, now: datetime
) -> None:
    for scan in review.scans:
        state = conn.execute(
            select(FolderState.uidvalidity, FolderState.last_uid).where(
                FolderState.account_id == account_id, FolderState.folder == scan.folder
            )
        ).first()
        highest = max(scan.uids, default=0)
        if state is not None and int(state.uidvalidity) == scan.uidvalidity:
            highest = max(highest, int(state.last_uid))
        values = {
            "uidvalidity": scan.uidvalidity,
            "last_uid": highest,
            "highestmodseq": scan.highestmodseq,
            "last_sync_at": now,
        }
        stmt = upsert_insert(conn, FolderState).values(
            account_id=account_id, folder=scan.folder, **values
        )
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["account_id", "folder"], set_=values)
        )


def _write(
    engine: Engine, items: list[_Item], review: ReviewResult, ids: dict
) -> dict[int, int | None]:
    """One transaction: messages, attachments, folder states. Returns frame index → stored id."""
    now = datetime.now(UTC)
    stored: dict[int, int | None] = {}
    with write_transaction(engine) as conn:
        values = [_message_values(item, now=now, **ids) for item in items]
        created: dict[tuple[int, str], int] = {}
        if values:  # one executemany: SQLAlchemy sends multi-row INSERTs, RETURNING the new ids
            result = conn.execute(_insert_message(conn), values)
            created = {(int(rid), key): int(new_id) for new_id, rid, key in result}
        parts: list[dict] = []
        for item, row in zip(items, values, strict=True):
            # a conflict returns no row; a message met twice (two folders) is stored once
            new_id = created.pop((row["record_id"], row["dedupe_key"]), None)
            stored[item.index] = new_id
            if new_id is not None:
                parts += [
                    {
                        "message_id": new_id,
                        "filename": p.filename,
                        "content_type": p.content_type,
                        "size": p.size,
                        "content": p.content,
                        "inline": p.inline,
                        "content_id": p.content_id,
                    }
                    for p in item.body.parts
                ]
        if parts:
            conn.execute(insert(Attachment), parts)
        _move_folder_states(conn, review, ids["account_id"], now)
    return stored


def import_selected(
    engine: Engine,
    review: ReviewResult,
    rows: pd.DataFrame | None = None,
    *,
    user: str,
    accessible_to: str,
    secret: str | TokenProvider | None = None,
    prompt: Callable[[str], str] | None = None,
    progress: Progress = False,
    mailbox: Mailbox | None = None,
) -> ImportSummary:
    """Import ``rows`` (default: the review's ticked rows) into their records, exactly once.

    ``rows`` is a subset of ``review.frame`` whose ``record_id`` may have been changed to
    another of the row's ``candidates``. The user must own the account and may not file above
    their own level (:class:`PermissionDenied`).
    """
    user_id, group_id, account_id = _check_permission(
        engine, user=user, accessible_to=accessible_to, account=review.account
    )
    if rows is None:
        rows = review.frame[review.frame[F.SELECTED]]
    reasons = _triage(rows)
    outcome = pd.DataFrame(index=rows.index)
    outcome[REASON] = reasons
    folders = list(dict.fromkeys(scan.folder for scan in review.scans))
    run_id = queries.start_run(
        engine,
        kind="import",
        account_id=account_id,
        user_id=user_id,
        folders=folders,
        option=review.option.value,
    )
    ids = {"account_id": account_id, "group_id": group_id, "user_id": user_id, "run_id": run_id}
    waited = 0.0
    try:
        todo = rows[outcome[REASON].isna()]
        items: list[_Item] = []
        if not todo.empty:
            box = mailbox or open_mailbox(engine, review.account, secret=secret, prompt=prompt)
            try:
                items, missing = _fetch(box, todo, progress)
            finally:
                waited = box.waited
                if mailbox is None:
                    box.close()
            for index, why in missing.items():
                outcome.loc[index, REASON] = why
        try:
            stored = _write(engine, items, review, ids)
        except PrimsyncError:
            raise
        except Exception as exc:
            raise CommitError(
                f"the import was rolled back, nothing was stored: {type(exc).__name__}: {exc}",
                account=review.account,
            ) from exc
    except Exception as exc:
        error = str(exc) if isinstance(exc, PrimsyncError) else f"{type(exc).__name__}: {exc}"
        queries.finish_run(engine, run_id, status="failed", error=error, fetched=len(rows))
        raise
    outcome[STORED_ID] = pd.Series(stored, dtype="Int64").reindex(outcome.index)
    duplicate = outcome[REASON].isna() & outcome[STORED_ID].isna()
    outcome.loc[duplicate, REASON] = "already imported into this record"
    outcome[OUTCOME] = outcome[STORED_ID].notna().map({True: "imported", False: "skipped"})
    summary_rows = rows[[F.FOLDER, F.UID, F.RECORD_ID, F.IMPORTED_INTO, F.CONTEXT, F.SUBJECT]].join(
        outcome
    )
    summary = ImportSummary(run_id, summary_rows)
    queries.finish_run(
        engine,
        run_id,
        status="ok",
        fetched=len(rows),
        shown=len(review.frame),
        imported=summary.imported,
        skipped=summary.skipped,
        note=waited_note(waited) if waited else None,
    )
    return summary


def undo_run(engine: Engine, run_id: int, *, user: str) -> int:
    """Remove what import run ``run_id`` stored; returns how many messages were removed.

    Allowed to the user who ran the import, or to a user of a higher level. The import run is
    marked undone (when, by whom) and an "undo" run records the removal.
    """
    with Session(engine) as session:
        person = queries.get_user(session, user)
        level = queries.user_level(session, person)
        run = session.get(SyncRun, run_id)
        if run is None or run.kind != "import":
            raise ConfigurationError(f"no import run {run_id}")
        if run.undone_at is not None:
            raise ConfigurationError(f"import run {run_id} was already undone")
        account_id = run.account_id
        if run.user_id != person.id:
            owner = session.get(AppUser, run.user_id) if run.user_id else None
            owner_level = queries.user_level(session, owner) if owner else 0
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
