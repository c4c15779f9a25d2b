"""Reads and writes of the review: accounts, contacts, CRM messages, dedupe keys, sync state.

Reads of *imported messages* live in ``primsync.db.access`` behind the access rule; nothing here
returns message contents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Connection, Engine, String, any_, bindparam, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from primsync.accounts import OAUTH_AUTHS, ConnectionSettings
from primsync.db.engine import write_session
from primsync.db.models import (
    AppUser,
    CrmMessage,
    CrmMessageCopy,
    FolderState,
    ImportedMessage,
    MailAccount,
    Record,
    RecordAddress,
    SecurityGroup,
    SyncRun,
)
from primsync.errors import ConfigurationError


def get_account(session: Session, address: str) -> MailAccount:
    """The registered account with this address; only registered accounts can be synced."""
    wanted = address.strip().lower()
    account = session.scalar(select(MailAccount).where(func.lower(MailAccount.address) == wanted))
    if account is None:
        raise ConfigurationError(f"no registered mail account {address!r}", account=address)
    return account


def get_user(session: Session, login: str) -> AppUser:
    user = session.scalar(select(AppUser).where(AppUser.login == login))
    if user is None:
        raise ConfigurationError(f"no user with login {login!r}")
    return user


def get_group(session: Session, name: str) -> SecurityGroup:
    group = session.scalar(select(SecurityGroup).where(SecurityGroup.name == name))
    if group is None:
        names = ", ".join(session.scalars(select(SecurityGroup.name).order_by(SecurityGroup.level)))
        raise ConfigurationError(f"no security group {name!r}; the groups are: {names}")
    return group


def connection_settings(account: MailAccount) -> ConnectionSettings:
    return ConnectionSettings(
        address=account.address,
        host=account.host,
        port=account.port,
        username=account.username,
        security=account.security,
        auth=account.auth,
        ca_file=account.ca_file,
    )


def account_settings(engine: Engine, address: str) -> ConnectionSettings:
    """How to reach a registered account (no secret in there)."""
    with Session(engine) as session:
        return connection_settings(get_account(session, address))


def account_provider(engine: Engine, address: str) -> str:
    """What ``mail_account.provider`` records of a registered account (gmail, outlook, imap)."""
    with Session(engine) as session:
        return str(get_account(session, address).provider)


def account_ids(engine: Engine, address: str) -> tuple[int, int]:
    """(account id, owner's user id) of a registered account."""
    with Session(engine) as session:
        account = get_account(session, address)
        return int(account.id), int(account.owner_id)


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
        frame = pd.DataFrame(conn.execute(query).all(), columns=list(query.selected_columns.keys()))
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
    ids = list({i.lower() for i in _values(message_ids)})
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
                found = conn.execute(query.where(_among(conn, mid, ids))).all()
                rows += [(r[1], r[0], *r[2:], learned) for r in found]
    frame = pd.DataFrame(rows, columns=CRM_COLUMNS).drop_duplicates("message_id")
    frame["sent_at"] = pd.to_datetime(frame["sent_at"], utc=True)
    return frame.reset_index(drop=True)


def imported_pairs(engine: Engine, dedupe_keys: Iterable[str]) -> set[tuple[int, str]]:
    """The stored (record_id, dedupe_key) pairs among these keys, whatever their record."""
    keys = list(set(_values(dedupe_keys)))
    found: set[tuple[int, str]] = set()
    with engine.connect() as conn:
        if keys:
            stored = conn.execute(
                select(ImportedMessage.record_id, ImportedMessage.dedupe_key).where(
                    _among(conn, ImportedMessage.dedupe_key, keys)
                )
            ).all()
            found.update((int(r), str(k)) for r, k in stored)
    return found


def _values(items: Iterable[str]) -> list[str]:
    """A column's values as a list (iterating a pandas string column costs 1.5 us a value)."""
    return items.tolist() if isinstance(items, pd.Series) else list(items)


def _among(
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
                last_sync_at=_aware(state.last_sync_at),
            )
            for state in states
        }


def _aware(value: datetime | None) -> datetime | None:
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


def user_level(session: Session, user: AppUser) -> int:
    """The level of the user's security group."""
    level = session.scalar(select(SecurityGroup.level).where(SecurityGroup.id == user.group_id))
    if level is None:
        raise ConfigurationError(f"user {user.login!r} has no security group")
    return int(level)


def groups_up_to(engine: Engine, login: str) -> list[tuple[str, int]]:
    """The groups a user may file messages at (level at most the user's), lowest first."""
    with Session(engine) as session:
        level = user_level(session, get_user(session, login))
        rows = session.execute(
            select(SecurityGroup.name, SecurityGroup.level)
            .where(SecurityGroup.level <= level)
            .order_by(SecurityGroup.level, SecurityGroup.name)
        ).all()
    return [(str(n), int(lv)) for n, lv in rows]


def user_group(engine: Engine, login: str) -> str:
    """The name of the user's own security group: the least-privilege default of "Accessible to"
    (the smallest audience that still lets the user's own team see the message)."""
    with Session(engine) as session:
        user = get_user(session, login)
        name = session.scalar(select(SecurityGroup.name).where(SecurityGroup.id == user.group_id))
    if name is None:
        raise ConfigurationError(f"user {login!r} has no security group")
    return str(name)


def viewers_of(engine: Engine, group: str) -> list[str]:
    """Names of the users who will see a message filed at ``group`` (their level ≥ its level)."""
    with Session(engine) as session:
        level = get_group(session, group).level
        names = session.scalars(
            select(AppUser.name)
            .join(SecurityGroup, SecurityGroup.id == AppUser.group_id)
            .where(SecurityGroup.level >= level)
            .order_by(AppUser.name)
        )
        return list(names)


def owner_login(engine: Engine, address: str) -> str:
    """The login of the user who owns a registered mail account."""
    with Session(engine) as session:
        account = get_account(session, address)
        login = session.scalar(select(AppUser.login).where(AppUser.id == account.owner_id))
    if login is None:
        raise ConfigurationError("the account has no owner", account=address)
    return str(login)


def recent_runs(engine: Engine, address: str, *, limit: int = 20) -> pd.DataFrame:
    """The latest reviews and imports of an account, newest first."""
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
        expires = _aware(account.token_expires_at) if account.auth in OAUTH_AUTHS else None
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
                    "last_sync_at": _aware(state.last_sync_at) if state else None,
                    "imported": int(counts.get(folder, 0)),
                    "last_error": error.error if error else None,
                    "last_error_at": _aware(error.started_at) if error else None,
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


def set_token_expiry(engine: Engine, address: str, expires_at: datetime | None) -> None:
    """Remember when an OAuth2 account's current access token expires."""
    with write_session(engine) as session:
        get_account(session, address).token_expires_at = expires_at
