"""Reads of imported mail, with the access rule built in: a user sees a message only if the
level of the user's group is at least the level of the message's "Accessible to" group.

Every public function here takes the user's login first; none returns messages without one.

>>> visible_messages(engine, "paul")                  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from primsync.db import directory
from primsync.db.crm import rows_frame
from primsync.db.models import (
    Attachment,
    CrmMessage,
    ImportedMessage,
    Record,
    SecurityGroup,
)

__all__ = [
    "AttachmentData",
    "MESSAGE_COLUMNS",
    "get_attachment",
    "get_message",
    "message_attachments",
    "visible_messages",
]

MESSAGE_COLUMNS = [
    "id",
    "record_id",
    "record",
    "record_kind",
    "direction",
    "context",
    "received_at",
    "from_addr",
    "from_name",
    "to_addrs",
    "cc_addrs",
    "subject",
    "message_id",
    "folder",
    "uid",
    "size",
    "accessible_to",
    "accessible_level",
    "annexed_to_id",
    "annexed_to_subject",
    "imported_by_id",
    "imported_at",
    "run_id",
    "attachments",
    "defects",
]


@dataclass(frozen=True, slots=True)
class AttachmentData:
    """One stored attachment of a message the user may see."""

    id: int
    message_id: int
    filename: str
    content_type: str
    size: int
    content: bytes
    inline: bool


def _attachment(a: Attachment) -> AttachmentData:
    return AttachmentData(
        a.id, a.message_id, a.filename, a.content_type, a.size, a.content, a.inline
    )


def _level(engine: Engine, login: str) -> int:
    with Session(engine) as session:
        return directory.user_level(session, directory.get_user(session, login))


def _visible(stmt: Select, level: int) -> Select:
    """The access rule: only messages whose group level is at most the user's."""
    return stmt.join(SecurityGroup, SecurityGroup.id == ImportedMessage.accessible_to_id).where(
        SecurityGroup.level <= level
    )


def _message_query(level: int) -> Select:
    crm = aliased(CrmMessage)
    n_attachments = (
        select(func.count(Attachment.id))
        .where(Attachment.message_id == ImportedMessage.id)
        .correlate(ImportedMessage)
        .scalar_subquery()
    )
    stmt = select(
        ImportedMessage.id,
        ImportedMessage.record_id,
        Record.name,
        Record.kind,
        ImportedMessage.direction,
        ImportedMessage.context,
        ImportedMessage.received_at,
        ImportedMessage.from_addr,
        ImportedMessage.from_name,
        ImportedMessage.to_addrs,
        ImportedMessage.cc_addrs,
        ImportedMessage.subject,
        ImportedMessage.message_id,
        ImportedMessage.folder,
        ImportedMessage.uid,
        ImportedMessage.size,
        SecurityGroup.name,
        SecurityGroup.level,
        ImportedMessage.annexed_to_id,
        crm.subject,
        ImportedMessage.imported_by_id,
        ImportedMessage.imported_at,
        ImportedMessage.run_id,
        n_attachments,
        ImportedMessage.defects,
    )
    stmt = _visible(stmt, level)
    return stmt.join(Record, Record.id == ImportedMessage.record_id).outerjoin(
        crm, crm.id == ImportedMessage.annexed_to_id
    )


def visible_messages(
    engine: Engine,
    user: str,
    *,
    record_id: int | None = None,
    since: datetime | None = None,
    search: str | None = None,
) -> pd.DataFrame:
    """The imported messages ``user`` may see (of one record, or all), newest first.

    ``search`` looks for the text in subject, sender and bodies, as plain text (bound, with
    ``%`` and ``_`` escaped), never as SQL.
    """
    stmt = _message_query(_level(engine, user))
    if record_id is not None:
        stmt = stmt.where(ImportedMessage.record_id == int(record_id))
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (
                        ImportedMessage.subject,
                        ImportedMessage.from_addr,
                        ImportedMessage.from_name,
                        ImportedMessage.body_text,
                    )
                )
            )
        )
    if since is not None:
        stmt = stmt.where(ImportedMessage.received_at >= since)
    stmt = stmt.order_by(ImportedMessage.received_at.desc(), ImportedMessage.id.desc())
    with engine.connect() as conn:
        frame = rows_frame(conn.execute(stmt), MESSAGE_COLUMNS)
    for col in ("received_at", "imported_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def get_message(engine: Engine, user: str, message_id: int) -> dict | None:
    """One message with its bodies, or None when it does not exist or ``user`` may not see it."""
    stmt = _visible(select(ImportedMessage), _level(engine, user)).where(
        ImportedMessage.id == int(message_id)
    )
    with Session(engine) as session:
        message = session.scalar(stmt)
        if message is None:
            return None
        return {c.name: getattr(message, c.key) for c in ImportedMessage.__table__.columns}


def message_attachments(engine: Engine, user: str, message_id: int) -> list[AttachmentData]:
    """The attachments of a message ``user`` may see (an empty list otherwise)."""
    stmt = (
        _visible(select(Attachment).join(ImportedMessage), _level(engine, user))
        .where(Attachment.message_id == int(message_id))
        .order_by(Attachment.id)
    )
    with Session(engine) as session:
        return [_attachment(a) for a in session.scalars(stmt)]


def get_attachment(engine: Engine, user: str, attachment_id: int) -> AttachmentData | None:
    """One attachment, or None when it does not exist or ``user`` may not see its message."""
    stmt = _visible(select(Attachment).join(ImportedMessage), _level(engine, user)).where(
        Attachment.id == int(attachment_id)
    )
    with Session(engine) as session:
        a = session.scalar(stmt)
        if a is None:
            return None
        return _attachment(a)
