"""Addresses added to records from the coverage view: each change recorded (who, when, why)
and undoable. The only writes of ``record_address`` primsync makes.

>>> why = "the display name 'Léa Dubois' is this record's name"
>>> change = add_address(engine, 12, "lea@home.example", user="ana", reason=why)  # doctest: +SKIP
>>> undo_address_change(engine, change, user="ana")                                # doctest: +SKIP
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, select

from primsync.db.directory import get_user
from primsync.db.engine import write_session
from primsync.db.models import AppUser, Record, RecordAddress, RecordAddressChange
from primsync.errors import ConfigurationError
from primsync.parse import normalize_address

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["add_address", "address_changes", "undo_address_change"]


def add_address(
    engine: Engine, record_id: int, address: str, *, user: str, reason: str = ""
) -> int:
    """Put ``address`` on record ``record_id`` for ``user``; returns the change's id (for
    :func:`undo_address_change`). Refused when the record does not exist or already has it."""
    normalized = normalize_address(address)
    if "@" not in normalized:
        raise ConfigurationError(f"not an email address: {address!r}")
    with write_session(engine) as session:
        who = get_user(session, user)
        record = session.get(Record, record_id)
        if record is None:
            raise ConfigurationError(f"no record {record_id}")
        there = session.scalar(
            select(RecordAddress.id).where(
                RecordAddress.record_id == record_id, RecordAddress.address == normalized
            )
        )
        if there is not None:
            raise ConfigurationError(
                f"{normalized} is already on record {record_id} ({record.name})"
            )
        session.add(RecordAddress(record_id=record_id, address=normalized))
        change = RecordAddressChange(
            record_id=record_id,
            address=normalized,
            action="add",
            reason=reason,
            changed_by_id=who.id,
            changed_at=datetime.now(UTC),
        )
        session.add(change)
        session.flush()
        return int(change.id)


def undo_address_change(engine: Engine, change_id: int, *, user: str) -> None:
    """Take back an address added by :func:`add_address` (recorded as undone, by whom)."""
    with write_session(engine) as session:
        who = get_user(session, user)
        change = session.get(RecordAddressChange, change_id)
        if change is None:
            raise ConfigurationError(f"no address change {change_id}")
        if change.undone_at is not None:
            raise ConfigurationError(f"address change {change_id} was undone already")
        session.execute(
            delete(RecordAddress).where(
                RecordAddress.record_id == change.record_id,
                RecordAddress.address == change.address,
            )
        )
        change.undone_at = datetime.now(UTC)
        change.undone_by_id = who.id


def address_changes(engine: Engine) -> pd.DataFrame:
    """Every address change: id, record, address, reason, who, when, undone when and by whom."""
    import pandas as pd

    changer = select(AppUser.id, AppUser.login).subquery()
    query = (
        select(
            RecordAddressChange.id,
            RecordAddressChange.record_id,
            Record.name.label("record_name"),
            RecordAddressChange.address,
            RecordAddressChange.action,
            RecordAddressChange.reason,
            changer.c.login.label("changed_by"),
            RecordAddressChange.changed_at,
            RecordAddressChange.undone_at,
        )
        .join(Record, Record.id == RecordAddressChange.record_id)
        .join(changer, changer.c.id == RecordAddressChange.changed_by_id)
        .order_by(RecordAddressChange.id)
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=list(query.selected_columns.keys()))
