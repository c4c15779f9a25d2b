"""The record of work: ``sync_run`` rows opened and closed around each review, import and
undo, what the last import remembered of each folder (``folder_state``), and the account's
health and recent runs as frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from primsync.accounts import OAUTH_AUTHS
from primsync.db.accounts import account_ids, get_account
from primsync.db.engine import write_session
from primsync.db.models import FolderState, ImportedMessage, SyncRun

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SyncState",
    "aware",
    "finish_run",
    "folder_states",
    "health_frame",
    "recent_runs",
    "start_run",
]


@dataclass(frozen=True, slots=True)
class SyncState:
    """What the last import remembered of a folder: a ``folder_state`` row's values."""

    uidvalidity: int
    last_uid: int
    highestmodseq: int | None = None
    last_sync_at: datetime | None = None


def folder_states(engine: Engine, account_id: int) -> dict[str, SyncState]:
    """What the last imports remembered of each folder of an account."""
    with Session(engine) as session:
        states = session.scalars(select(FolderState).where(FolderState.account_id == account_id))
        return {
            state.folder: SyncState(
                uidvalidity=int(state.uidvalidity),
                last_uid=int(state.last_uid),
                highestmodseq=state.highestmodseq,
                last_sync_at=aware(state.last_sync_at),
            )
            for state in states
        }


def aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def start_run(
    engine: Engine,
    *,
    kind: str,
    account_id: int | None,
    user_id: int | None,
    folders: list[str],
    option: str,
) -> int:
    """Open a ``sync_run`` row (status "running") and return its id."""
    with write_session(engine) as session:
        run = SyncRun(
            kind=kind,
            account_id=account_id,
            user_id=user_id,
            folders="\n".join(folders),
            option=option,
            status="running",
        )
        session.add(run)
        session.flush()
        return int(run.id)


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    status: str,
    error: str | None = None,
    note: str | None = None,
    **counts: int,
) -> None:
    """Close a ``sync_run`` row with its counts, its status, (for failures) the reason and a
    ``note`` (what the user should know: messages gone from a folder, a server that waited)."""
    with write_session(engine) as session:
        run = session.get(SyncRun, run_id)
        if run is None:
            return
        run.status = status
        run.error = error
        if note:
            run.note = note[:4000]
        run.finished_at = datetime.now(UTC)
        for name, value in counts.items():
            setattr(run, name, int(value))


def recent_runs(engine: Engine, address: str, *, limit: int = 20) -> pd.DataFrame:
    """The latest reviews and imports of an account, newest first."""
    import pandas as pd

    account_id, _ = account_ids(engine, address)
    query = (
        select(
            SyncRun.id,
            SyncRun.kind,
            SyncRun.started_at,
            SyncRun.finished_at,
            SyncRun.option,
            SyncRun.folders,
            SyncRun.fetched,
            SyncRun.shown,
            SyncRun.imported,
            SyncRun.skipped,
            SyncRun.status,
            SyncRun.error,
        )
        .where(SyncRun.account_id == account_id)
        .order_by(SyncRun.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=list(query.selected_columns.keys()))
    frame["folders"] = frame["folders"].str.replace("\n", ", ")
    return frame


def health_frame(engine: Engine, address: str) -> pd.DataFrame:
    """Per folder: UIDVALIDITY, last UID, last sync, messages imported, last error; and, for an
    OAuth2 account, when its token expires."""
    import pandas as pd

    with Session(engine) as session:
        account = get_account(session, address)
        states = {
            s.folder: s
            for s in session.scalars(
                select(FolderState).where(FolderState.account_id == account.id)
            )
        }
        counts = dict(
            session.execute(
                select(ImportedMessage.folder, func.count())
                .where(ImportedMessage.account_id == account.id)
                .group_by(ImportedMessage.folder)
            ).all()
        )
        failures = session.scalars(
            select(SyncRun)
            .where(SyncRun.account_id == account.id, SyncRun.status == "failed")
            .order_by(SyncRun.id.desc())
            .limit(200)
        ).all()
        expires = aware(account.token_expires_at) if account.auth in OAUTH_AUTHS else None
        rows = []
        for folder in sorted(set(states) | set(counts)):
            state = states.get(folder)
            error = next((r for r in failures if folder in (r.folders or "").split("\n")), None)
            rows.append(
                {
                    "folder": folder,
                    "uidvalidity": state.uidvalidity if state else None,
                    "last_uid": state.last_uid if state else None,
                    "highestmodseq": state.highestmodseq if state else None,
                    "last_sync_at": aware(state.last_sync_at) if state else None,
                    "imported": int(counts.get(folder, 0)),
                    "last_error": error.error if error else None,
                    "last_error_at": aware(error.started_at) if error else None,
                    "token_expires_at": expires,
                }
            )
    columns = [
        "folder",
        "uidvalidity",
        "last_uid",
        "highestmodseq",
        "last_sync_at",
        "imported",
        "last_error",
        "last_error_at",
        "token_expires_at",
    ]
    return pd.DataFrame(rows, columns=columns)
