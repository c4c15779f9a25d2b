"""Reads and writes for replies whose ids were lost: the learned ids of CRM mail
(``crm_message_copy``) and the CRM messages a probable reply may answer.

The rules are in :mod:`primsync.replies`; here only what the database holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, or_, select

from primsync.db.crm import CRM_FIELDS, among, rows_frame, values_of
from primsync.db.engine import upsert_insert, write_transaction
from primsync.db.models import CrmMessage, CrmMessageCopy, Record, RecordAddress

__all__ = [
    "addresses_of",
    "crm_sent_between",
    "known_copies",
    "reply_candidates",
    "store_copies",
]


def known_copies(engine: Engine, message_ids: Iterable[str]) -> set[str]:
    """The ids among ``message_ids`` already learned from a Sent copy."""
    ids = list(set(values_of(message_ids)))
    if not ids:
        return set()
    with engine.connect() as conn:
        found = conn.execute(
            select(CrmMessageCopy.message_id).where(among(conn, CrmMessageCopy.message_id, ids))
        )
        return set(found.scalars())


def crm_sent_between(engine: Engine, start: datetime, end: datetime) -> pd.DataFrame:
    """crm_id, message_id, record_id, subject, sent_at of the CRM messages sent in [start, end]."""
    query = select(
        CrmMessage.id.label("crm_id"),
        CrmMessage.message_id,
        CrmMessage.record_id,
        CrmMessage.subject,
        CrmMessage.sent_at,
    ).where(CrmMessage.sent_at >= start, CrmMessage.sent_at <= end)
    with engine.connect() as conn:
        frame = rows_frame(conn.execute(query), list(query.selected_columns.keys()))
    frame["sent_at"] = pd.to_datetime(frame["sent_at"], utc=True)
    return frame


def store_copies(engine: Engine, links: pd.DataFrame, account_id: int | None) -> int:
    """Keep the links of :func:`primsync.replies.learn_copies` (an id learned once stays);
    returns how many were new."""
    if links.empty:
        return 0
    values = [
        {
            "crm_message_id": int(row["crm_id"]),
            "account_id": account_id,
            "message_id": row["message_id"],
            "how": row["how"],
            "recipients": " ".join(row["recipients"]),
            "thread": row["thread"],
            "folder": row["folder"],
            "uid": int(row["uid"]),
            "uidvalidity": int(row["uidvalidity"]),
            "evidence": row["evidence"],
            "learned_at": datetime.now().astimezone(),
        }
        for row in links.to_dict("records")
    ]
    with write_transaction(engine) as conn:
        insert = upsert_insert(conn, CrmMessageCopy.__table__)
        done = conn.execute(
            insert.on_conflict_do_nothing(index_elements=["message_id"]).returning(
                CrmMessageCopy.id
            ),
            values,
        )
        return len(done.all())


def reply_candidates(
    engine: Engine,
    senders: Iterable[str],
    threads: Iterable[str],
    start: datetime,
    end: datetime,
    also: Iterable[int] = (),
) -> pd.DataFrame:
    """The CRM messages sent in [start, end] that a probable reply may answer: those to a
    record of one of ``senders``, those whose Sent copy went to one of ``senders``, those whose
    Sent copy is in one of ``threads``, and those of ids ``also`` (copies learned but not
    stored); with their record (name, kind, excluded) and what their copies say
    (``recipients``, ``threads``: lists)."""
    addresses, keys = list(set(values_of(senders))), list(set(values_of(threads)))
    more = {int(i) for i in also}
    columns = ["crm_id", "record_id", "subject", "sent_at", "name", "kind", "excluded"]
    if not addresses and not keys and not more:
        return pd.DataFrame(columns=[*columns, "recipients", "threads"])
    with engine.connect() as conn:
        if addresses:  # the copies' recipients are a list in a text column: read, then compare
            wanted_senders = set(addresses)
            sent_to = conn.execute(
                select(CrmMessageCopy.crm_message_id, CrmMessageCopy.recipients)
                .join(CrmMessage, CrmMessage.id == CrmMessageCopy.crm_message_id)
                .where(CrmMessage.sent_at >= start, CrmMessage.sent_at <= end)
            ).all()
            more.update(i for i, who in sent_to if not wanted_senders.isdisjoint(who.split()))
        wanted = []
        if addresses:
            on_record = select(RecordAddress.record_id).where(
                among(conn, RecordAddress.address, addresses)
            )
            wanted.append(CrmMessage.record_id.in_(on_record))
        if keys:
            in_thread = select(CrmMessageCopy.crm_message_id).where(CrmMessageCopy.thread.in_(keys))
            wanted.append(CrmMessage.id.in_(in_thread))
        if more:
            wanted.append(CrmMessage.id.in_(sorted(more)))
        query = (
            select(*CRM_FIELDS)
            .join(Record, Record.id == CrmMessage.record_id)
            .where(CrmMessage.sent_at >= start, CrmMessage.sent_at <= end, or_(*wanted))
        )
        found = rows_frame(conn.execute(query), columns)
        copies = conn.execute(
            select(
                CrmMessageCopy.crm_message_id, CrmMessageCopy.recipients, CrmMessageCopy.thread
            ).where(CrmMessageCopy.crm_message_id.in_(found["crm_id"].astype(int).tolist()))
        ).all()
    recipients: dict[int, set[str]] = {}
    threads_of: dict[int, set[str]] = {}
    for crm_id, who, thread in copies:
        recipients.setdefault(crm_id, set()).update(who.split())
        if thread:
            threads_of.setdefault(crm_id, set()).add(thread)
    found["sent_at"] = pd.to_datetime(found["sent_at"], utc=True)
    found["excluded"] = found["excluded"].astype(bool)
    found["recipients"] = [sorted(recipients.get(int(i), ())) for i in found["crm_id"]]
    found["threads"] = [sorted(threads_of.get(int(i), ())) for i in found["crm_id"]]
    return found


def addresses_of(engine: Engine, addresses: Iterable[str]) -> pd.DataFrame:
    """address, record_id of the record addresses among ``addresses``."""
    wanted = list(set(values_of(addresses)))
    rows: list = []
    if wanted:
        with engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(RecordAddress.address, RecordAddress.record_id).where(
                        among(conn, RecordAddress.address, wanted)
                    )
                ).all()
            )
    return rows_frame(rows, ["address", "record_id"])
