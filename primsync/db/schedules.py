"""Sync policies (``primsync account schedule``): what ``primsync sync --all`` runs for each
account, when it is due, and how its last run went.

A due account is *claimed* before it is synced: its start time moves from the value read to now
in one conditional UPDATE, so two ``sync --all`` started together (or two workers) split the due
accounts between them instead of both trying each one.

>>> set_schedule(engine, "ana@agency.example", folders=["INBOX", "Sent"],   # doctest: +SKIP
...              accessible_to="Recruiters", every_minutes=15)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from primsync.db.accounts import get_account
from primsync.db.directory import get_group
from primsync.db.engine import write_session
from primsync.db.models import MailAccount, SecurityGroup, SyncSchedule
from primsync.errors import ConfigurationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Schedule",
    "claim",
    "due_schedules",
    "parse_every",
    "record_outcome",
    "schedule_frame",
    "schedule_of",
    "schedules",
    "set_schedule",
    "switch_schedule",
]

# the sync options a schedule may use (primsync.options.SyncOption's, but "range": its days
# would never move); spelled here because the database layer imports nothing of the IMAP side
SCHEDULE_OPTIONS = ("unread", "since-last", "today", "7d", "30d", "all")

_EVERY = re.compile(r"^\s*(\d+)\s*(m|min|h|d)?\s*$", re.IGNORECASE)
_UNIT_MINUTES = {"m": 1, "min": 1, "h": 60, "d": 1440}


def parse_every(text: str) -> int:
    """Minutes from "15m", "2h", "1d" or "30" (minutes).

    >>> parse_every("15m"), parse_every("2h"), parse_every("1d"), parse_every("30")
    (15, 120, 1440, 30)
    """
    match = _EVERY.match(text)
    minutes = int(match.group(1)) * _UNIT_MINUTES[(match.group(2) or "m").lower()] if match else 0
    if minutes < 1:
        raise ConfigurationError(
            f"--every {text!r}: give minutes, hours or days, at least one minute (15m, 2h, 1d)"
        )
    return minutes


@dataclass(frozen=True)
class Schedule:
    """One account's policy and its last run; ``next_due_at`` None when switched off."""

    address: str
    folders: list[str]
    option: str
    select: str
    accessible_to: str
    threshold: float | None
    every_minutes: int
    enabled: bool
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str | None
    last_error: str | None

    @property
    def next_due_at(self) -> datetime | None:
        if not self.enabled:
            return None
        if self.last_started_at is None:
            return datetime.min.replace(tzinfo=UTC)  # never run: due now
        return self.last_started_at + timedelta(minutes=self.every_minutes)

    def is_due(self, now: datetime) -> bool:
        due = self.next_due_at
        return due is not None and due <= now


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def set_schedule(
    engine: Engine,
    address: str,
    *,
    folders: list[str],
    accessible_to: str,
    option: str = "since-last",
    select: str = "green",
    threshold: float | None = None,
    every_minutes: int = 15,
) -> Schedule:
    """Create or replace ``address``'s policy (switched on); its last run is kept."""
    if not folders:
        raise ConfigurationError("a schedule needs at least one --folder", account=address)
    if select not in ("green", "all"):
        raise ConfigurationError(f"--select {select!r}: green or all", account=address)
    if option == "range":
        raise ConfigurationError(
            "a schedule cannot use --option range (its days would never move): use since-last",
            account=address,
        )
    if option not in SCHEDULE_OPTIONS:  # refused here, not at the first run
        raise ConfigurationError(
            f"--option {option!r}: one of {', '.join(SCHEDULE_OPTIONS)}", account=address
        )
    with write_session(engine) as session:
        account = get_account(session, address)
        group = get_group(session, accessible_to)
        row = session.scalar(select_schedule(account.id))
        if row is None:
            row = SyncSchedule(account_id=account.id)
            session.add(row)
        row.folders = "\n".join(folders)
        row.option, row.select, row.threshold = option, select, threshold
        row.accessible_to_id, row.every_minutes, row.enabled = group.id, every_minutes, True
        row.updated_at = datetime.now(UTC)
    return _one(engine, address)


def select_schedule(account_id: int):  # noqa: ANN201 - a SQLAlchemy Select
    return select(SyncSchedule).where(SyncSchedule.account_id == account_id)


def switch_schedule(engine: Engine, address: str, *, on: bool) -> Schedule:
    """Switch ``address``'s schedule off (``sync --all`` leaves it) or on again, unchanged."""
    with write_session(engine) as session:
        account = get_account(session, address)
        row = session.scalar(select_schedule(account.id))
        if row is None:
            raise ConfigurationError(
                f"{account.address} has no schedule: give --folder and --accessible-to",
                account=account.address,
            )
        row.enabled, row.updated_at = on, datetime.now(UTC)
    return _one(engine, address)


def schedules(engine: Engine, *, address: str | None = None) -> list[Schedule]:
    """Every account's schedule, by address; or only ``address``'s (none, or one)."""
    query = (
        select(SyncSchedule, MailAccount.address, SecurityGroup.name)
        .join(MailAccount, MailAccount.id == SyncSchedule.account_id)
        .join(SecurityGroup, SecurityGroup.id == SyncSchedule.accessible_to_id)
        .order_by(MailAccount.address)
    )
    if address is not None:
        query = query.where(func.lower(MailAccount.address) == address.strip().lower())
    with Session(engine) as session:
        return [
            Schedule(
                address=account,
                folders=[f for f in row.folders.split("\n") if f],
                option=row.option,
                select=row.select,
                accessible_to=group,
                threshold=row.threshold,
                every_minutes=row.every_minutes,
                enabled=row.enabled,
                last_started_at=_aware(row.last_started_at),
                last_finished_at=_aware(row.last_finished_at),
                last_status=row.last_status,
                last_error=row.last_error,
            )
            for row, account, group in session.execute(query).all()
        ]


def schedule_of(engine: Engine, address: str) -> Schedule | None:
    """``address``'s schedule, None when it has none (one query, not every schedule read)."""
    found = schedules(engine, address=address)
    return found[0] if found else None


def _one(engine: Engine, address: str) -> Schedule:
    found = schedule_of(engine, address)
    assert found is not None  # just written in the same call
    return found


def due_schedules(engine: Engine, now: datetime | None = None) -> list[Schedule]:
    """The schedules switched on whose time has come, the longest waiting first."""
    now = now or datetime.now(UTC)
    due = [s for s in schedules(engine) if s.is_due(now)]
    return sorted(due, key=lambda s: (s.next_due_at, s.address))


def claim(engine: Engine, schedule: Schedule, now: datetime | None = None) -> bool:
    """Mark ``schedule``'s run as started, unless another run started it since it was read:
    True when this run has it."""
    now = now or datetime.now(UTC)
    with write_session(engine) as session:
        account_id = get_account(session, schedule.address).id
        seen = SyncSchedule.last_started_at
        unchanged = (
            seen.is_(None) if schedule.last_started_at is None else seen == schedule.last_started_at
        )
        done = session.execute(
            update(SyncSchedule)
            .where(SyncSchedule.account_id == account_id, SyncSchedule.enabled, unchanged)
            .values(last_started_at=now)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]


def record_outcome(
    engine: Engine, address: str, *, error: str | None, now: datetime | None = None
) -> None:
    """How ``address``'s run ended: ok, or failed with ``error`` (never a secret)."""
    with write_session(engine) as session:
        account = get_account(session, address)
        session.execute(
            update(SyncSchedule)
            .where(SyncSchedule.account_id == account.id)
            .values(
                last_finished_at=now or datetime.now(UTC),
                last_status="failed" if error else "ok",
                last_error=error,
            )
        )


SCHEDULE_COLUMNS = [
    "account",
    "folders",
    "option",
    "select",
    "accessible_to",
    "every",
    "enabled",
    "last_started_at",
    "last_status",
    "last_error",
    "next_due_at",
]


def schedule_frame(engine: Engine, now: datetime | None = None) -> pd.DataFrame:
    """One row per scheduled account: its policy, last sync, next due time and last error
    (``primsync health --all``, the notebook's health view)."""
    import pandas as pd

    now = now or datetime.now(UTC)
    rows = [
        {
            "account": s.address,
            "folders": ", ".join(s.folders),
            "option": s.option,
            "select": s.select,
            "accessible_to": s.accessible_to,
            "every": _every_words(s.every_minutes),
            "enabled": s.enabled,
            "last_started_at": s.last_started_at,
            "last_status": s.last_status,
            "last_error": s.last_error,
            "next_due_at": (max(s.next_due_at, now) if s.next_due_at else None),
        }
        for s in schedules(engine)
    ]
    return pd.DataFrame(rows, columns=SCHEDULE_COLUMNS)


def _every_words(minutes: int) -> str:
    """
    >>> _every_words(15), _every_words(120), _every_words(1440), _every_words(90)
    ('15m', '2h', '1d', '90m')
    """
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"
