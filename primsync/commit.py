"""Import the ticked rows: full fetch → one transaction → a summary.

For example (with a review ``result`` of a mailbox the user owns)::

    summary = import_selected(engine, result, user="ana", accessible_to="Recruiters")
    summary.imported, summary.skipped      # (3, 1)

A message already stored on its record is a duplicate, reported as skipped. Everything of one
import, messages, attachments and the folders' sync state, is written in one transaction
(``primsync.db.imports``), so a failure leaves nothing half-stored; the ``sync_run`` row says
what happened. ``undo_run`` (of ``primsync.db.imports``) takes an import back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from primsync import frame as F
from primsync.db import runs
from primsync.db.imports import FolderMark, ImportIds, import_permission, store_import
from primsync.errors import CommitError, PrimsyncError
from primsync.imap import Mailbox, waited_note
from primsync.oauth import TokenProvider
from primsync.opening import open_mailbox
from primsync.parse import Body, parse_message
from primsync.progress import Progress, reporter
from primsync.review import ReviewResult

__all__ = ["ImportSummary", "import_selected"]

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
class _Stored:
    """One fetched message as it will be written: made as the FETCH goes on, while the server
    is still sending (not after it, in the time the import waits for)."""

    index: int  # the row's label in the review frame (a RangeIndex label)
    values: dict  # imported_message's values
    attachments: list[dict]


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
    box: Mailbox, rows: pd.DataFrame, progress: Progress, ids: ImportIds, run_id: int
) -> tuple[list[_Stored], dict[int, str]]:
    """Fetch the ticked messages in full, folder by folder; returns what to store of each and
    the skip reasons."""
    items: list[_Stored] = []
    missing: dict[int, str] = {}
    for folder, group in rows.groupby(F.FOLDER, sort=False):
        status = box.select(str(folder))
        box.expect_uidvalidity(status.uidvalidity, {int(v) for v in group[F.UIDVALIDITY]})
        by_uid = {int(u): i for i, u in zip(group.index, group[F.UID], strict=True)}
        values = dict(zip(group.index, _stored_values(group), strict=True))
        sizes = {int(u): int(n) for u, n in zip(group[F.UID], group[F.SIZE], strict=True)}
        seen = set()
        with reporter(progress, f"{folder} (import)") as report:
            for raw in box.fetch_full(list(by_uid), sizes=sizes, progress=report):
                seen.add(raw.uid)
                index = by_uid[raw.uid]
                body = parse_message(raw.data)
                stored = _message_values(values[index], body, raw.size, ids, run_id)
                items.append(_Stored(index, stored, _attachments(body)))
        for uid, index in by_uid.items():
            if uid not in seen:
                missing[index] = "no longer in the folder (expunged or moved)"
    return items, missing


# the review columns an imported message keeps (what _message_values reads)
_STORED = (
    F.RECEIVED, F.DEFECTS, F.RECORD_ID, F.FOLDER, F.UID, F.UIDVALIDITY, F.MESSAGE_ID,
    F.DEDUPE_KEY, F.IN_REPLY_TO, F.REFERENCES, F.FROM_ADDR, F.FROM_NAME, F.TO_ADDRS,
    F.CC_ADDRS, F.SUBJECT, F.DIRECTION, F.CONTEXT, F.ANNEXED_TO_ID,
)  # fmt: skip


def _stored_values(rows: pd.DataFrame) -> list[dict]:
    """Each row's stored columns as a dict, made column by column: ``to_dict("records")``
    of the whole rows took 35 ms for 1,000 rows, while the FETCH waited to be sent."""
    columns = [_as_records_give(rows[c]) for c in _STORED]
    return [dict(zip(_STORED, values, strict=True)) for values in zip(*columns, strict=True)]


def _as_records_give(column: pd.Series) -> list:
    """A column's values as ``to_dict("records")`` gives them: ``pd.NA`` (an ``Int64``
    column's missing value) as None."""
    values = column.tolist()
    if column.hasnans:
        return [None if v is pd.NA else v for v in values]
    return values


def _message_values(row: dict, body: Body, raw_size: int, ids: ImportIds, run_id: int) -> dict:
    """``imported_message``'s values of a ticked row (its stored columns, a dict: a pandas row
    costs ~0.3 ms to make) and its fetched body."""
    received = row[F.RECEIVED]
    defects = list(row[F.DEFECTS]) + list(body.defects)
    return {
        "record_id": int(row[F.RECORD_ID]),
        "account_id": ids.account_id,
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
        "body_text": body.text,
        "body_html": body.html,
        "size": raw_size,
        "direction": row[F.DIRECTION],
        "context": row[F.CONTEXT],
        "accessible_to_id": ids.group_id,
        "annexed_to_id": None if pd.isna(row[F.ANNEXED_TO_ID]) else int(row[F.ANNEXED_TO_ID]),
        "imported_by_id": ids.user_id,
        "run_id": run_id,
        "defects": "\n".join(defects),
    }


def _attachments(body: Body) -> list[dict]:
    return [
        {
            "filename": p.filename,
            "content_type": p.content_type,
            "size": p.size,
            "content": p.content,
            "inline": p.inline,
            "content_id": p.content_id,
        }
        for p in body.parts
    ]


def _write(
    engine: Engine, items: list[_Stored], review: ReviewResult, ids: ImportIds
) -> dict[int, int | None]:
    """One transaction (``db.imports.store_import``). Returns frame index → stored id."""
    marks = [
        FolderMark(scan.folder, scan.uidvalidity, max(scan.uids, default=0), scan.highestmodseq)
        for scan in review.scans
    ]
    stored = store_import(
        engine,
        [item.values for item in items],
        [item.attachments for item in items],
        marks,
        account_id=ids.account_id,
    )
    return {item.index: new_id for item, new_id in zip(items, stored, strict=True)}


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
    ids = import_permission(engine, user=user, accessible_to=accessible_to, account=review.account)
    if rows is None:
        rows = review.frame[review.frame[F.SELECTED]]
    reasons = _triage(rows)
    outcome = pd.DataFrame(index=rows.index)
    outcome[REASON] = reasons
    folders = list(dict.fromkeys(scan.folder for scan in review.scans))
    run_id = runs.start_run(
        engine,
        kind="import",
        account_id=ids.account_id,
        user_id=ids.user_id,
        folders=folders,
        option=review.option.value,
    )
    waited = 0.0
    try:
        todo = rows[outcome[REASON].isna()]
        items: list[_Stored] = []
        if not todo.empty:
            box = mailbox or open_mailbox(engine, review.account, secret=secret, prompt=prompt)
            try:
                items, missing = _fetch(box, todo, progress, ids, run_id)
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
        runs.finish_run(engine, run_id, status="failed", error=error, fetched=len(rows))
        raise
    outcome[STORED_ID] = pd.Series(stored, dtype="Int64").reindex(outcome.index)
    duplicate = outcome[REASON].isna() & outcome[STORED_ID].isna()
    outcome.loc[duplicate, REASON] = "already imported into this record"
    outcome[OUTCOME] = outcome[STORED_ID].notna().map({True: "imported", False: "skipped"})
    summary_rows = rows[[F.FOLDER, F.UID, F.RECORD_ID, F.IMPORTED_INTO, F.CONTEXT, F.SUBJECT]].join(
        outcome
    )
    summary = ImportSummary(run_id, summary_rows)
    runs.finish_run(
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
