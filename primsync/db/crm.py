"""What the review reads of the CRM: every record address (contacts), the CRM messages among
a set of ids (sent from the CRM or learned from Sent copies), and which dedupe keys are already
stored; ``among`` binds a long list of values as one parameter, ``rows_frame`` makes a query's
rows a frame.

Reads of *imported messages* live in ``primsync.db.access`` behind the access rule; nothing here
returns message contents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Connection, Engine, String, any_, bindparam, func, select
from sqlalchemy.orm import InstrumentedAttribute

from primsync.db.models import CrmMessage, CrmMessageCopy, ImportedMessage, Record, RecordAddress

__all__ = [
    "CRM_COLUMNS",
    "CRM_FIELDS",
    "among",
    "contacts_frame",
    "crm_messages_frame",
    "imported_pairs",
    "rows_frame",
    "values_of",
]


def contacts_frame(engine: Engine) -> pd.DataFrame:
    """Every record address: address, record_id, name, kind, excluded, created_at, last_crm_at."""
    last_crm = (
        select(CrmMessage.record_id, func.max(CrmMessage.sent_at).label("last_crm_at"))
        .group_by(CrmMessage.record_id)
        .subquery()
    )
    query = (
        select(
            RecordAddress.address,
            Record.id.label("record_id"),
            Record.name,
            Record.kind,
            Record.exclude_from_sync.label("excluded"),
            Record.created_at,
            last_crm.c.last_crm_at,
        )
        .join(Record, Record.id == RecordAddress.record_id)
        .outerjoin(last_crm, last_crm.c.record_id == Record.id)
    )
    with engine.connect() as conn:
        frame = rows_frame(conn.execute(query), list(query.selected_columns.keys()))
    frame["excluded"] = frame["excluded"].astype(bool)
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["last_crm_at"] = pd.to_datetime(frame["last_crm_at"], utc=True)
    return frame


CRM_COLUMNS = [
    "crm_id",
    "message_id",
    "record_id",
    "subject",
    "sent_at",
    "name",
    "kind",
    "excluded",
    "learned",
]


# a CRM message and its record, as the review reads them (crm_id ... excluded)
CRM_FIELDS = (
    CrmMessage.id,
    CrmMessage.record_id,
    CrmMessage.subject,
    CrmMessage.sent_at,
    Record.name,
    Record.kind,
    Record.exclude_from_sync,
)


def crm_messages_frame(engine: Engine, message_ids: Iterable[str]) -> pd.DataFrame:
    """The CRM messages among ``message_ids``, with their record's name, kind and exclusion;
    an id learned from a Sent copy (``crm_message_copy``) names its CRM message too (one row
    with that id as ``message_id`` and ``learned`` true)."""
    ids = list({i.lower() for i in values_of(message_ids)})
    rows: list[Any] = []
    with engine.connect() as conn:
        if ids:
            fields = CRM_FIELDS
            # the CRM's ids compared lower-cased (an index on lower(message_id), 0006); learned
            # ids are stored lower-cased
            for mid, learned, joined in (
                (func.lower(CrmMessage.message_id), False, None),
                (CrmMessageCopy.message_id, True, CrmMessageCopy),
            ):
                query = select(mid, *fields).join(Record, Record.id == CrmMessage.record_id)
                if joined is not None:
                    query = query.join(joined, joined.crm_message_id == CrmMessage.id)
                found = conn.execute(query.where(among(conn, mid, ids))).all()
                rows += [(r[1], r[0], *r[2:], learned) for r in found]
    frame = pd.DataFrame(rows, columns=CRM_COLUMNS).drop_duplicates("message_id")
    frame["sent_at"] = pd.to_datetime(frame["sent_at"], utc=True)
    return frame.reset_index(drop=True)


def imported_pairs(engine: Engine, dedupe_keys: Iterable[str]) -> set[tuple[int, str]]:
    """The stored (record_id, dedupe_key) pairs among these keys, whatever their record."""
    keys = list(set(values_of(dedupe_keys)))
    found: set[tuple[int, str]] = set()
    with engine.connect() as conn:
        if keys:
            stored = conn.execute(
                select(ImportedMessage.record_id, ImportedMessage.dedupe_key).where(
                    among(conn, ImportedMessage.dedupe_key, keys)
                )
            ).all()
            found.update((int(r), str(k)) for r, k in stored)
    return found


def rows_frame(rows: Iterable[Sequence[Any]], columns: list[str]) -> pd.DataFrame:
    """A query's rows as a frame of ``columns``, each row read as a tuple first: given
    SQLAlchemy's rows, pandas probes each for a namedtuple's fields, and the lookup it makes
    raises and catches inside SQLAlchemy: 8 us a row (5,000 rows: 40 ms against 6 ms)."""
    return pd.DataFrame([tuple(row) for row in rows], columns=columns)


def values_of(items: Iterable[str]) -> list[str]:
    """A column's values as a list (iterating a pandas string column costs 1.5 us a value)."""
    return items.tolist() if isinstance(items, pd.Series) else list(items)


def among(
    conn: Connection, column: ColumnElement[str] | InstrumentedAttribute[str], values: list[str]
) -> ColumnElement[bool]:
    """``column IN (values)`` with the values bound as one parameter (an array on PostgreSQL,
    a JSON array read by ``json_each`` on SQLite): one short statement, compiled once, instead
    of a statement and a bound parameter per value."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam("among", values, type_=ARRAY(String)))
    each = func.json_each(bindparam("among", json.dumps(values))).table_valued("value")
    return column.in_(select(each.c.value))
