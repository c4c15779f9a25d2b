"""Registered mail accounts: add, list, edit, remove (``primsync account ...`` and the
notebook's Account step), and what the rest of primsync looks up of one (``get_account``, its
``stored_settings``, provider, ids, owner, token expiry). Secrets are never here: only how to
reach the server and who owns the account.

>>> register_account(engine, settings, provider="gmail", owner="ana")   # doctest: +SKIP
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from primsync.accounts import ConnectionSettings
from primsync.db.directory import get_user
from primsync.db.engine import write_session
from primsync.db.models import (
    AppUser,
    Attachment,
    FolderState,
    ImportedMessage,
    MailAccount,
    SyncRun,
    SyncSchedule,
)
from primsync.errors import ConfigurationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ACCOUNT_COLUMNS",
    "account_ids",
    "account_provider",
    "connection_settings",
    "edit_account",
    "get_account",
    "is_registered",
    "list_accounts",
    "owner_login",
    "register_account",
    "remove_account",
    "set_token_expiry",
    "stored_account",
    "stored_settings",
]


def get_account(session: Session, address: str) -> MailAccount:
    """The registered account with this address; only registered accounts can be synced."""
    wanted = address.strip().lower()
    account = session.scalar(select(MailAccount).where(func.lower(MailAccount.address) == wanted))
    if account is None:
        raise ConfigurationError(f"no registered mail account {address!r}", account=address)
    return account


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


def stored_settings(engine: Engine, address: str) -> ConnectionSettings:
    """How to reach a registered account (no secret in there)."""
    with Session(engine) as session:
        return connection_settings(get_account(session, address))


def stored_account(engine: Engine, address: str) -> tuple[ConnectionSettings, str]:
    """How to reach a registered account and its provider (gmail, outlook, imap), in one read."""
    with Session(engine) as session:
        account = get_account(session, address)
        return connection_settings(account), str(account.provider)


def account_provider(engine: Engine, address: str) -> str:
    """What ``mail_account.provider`` records of a registered account (gmail, outlook, imap)."""
    with Session(engine) as session:
        return str(get_account(session, address).provider)


def account_ids(engine: Engine, address: str) -> tuple[int, int]:
    """(account id, owner's user id) of a registered account."""
    with Session(engine) as session:
        account = get_account(session, address)
        return int(account.id), int(account.owner_id)


def owner_login(engine: Engine, address: str) -> str:
    """The login of the user who owns a registered mail account."""
    with Session(engine) as session:
        account = get_account(session, address)
        login = session.scalar(select(AppUser.login).where(AppUser.id == account.owner_id))
    if login is None:
        raise ConfigurationError("the account has no owner", account=address)
    return str(login)


def set_token_expiry(engine: Engine, address: str, expires_at: datetime | None) -> None:
    """Remember when an OAuth2 account's current access token expires."""
    with write_session(engine) as session:
        get_account(session, address).token_expires_at = expires_at


ACCOUNT_COLUMNS = [
    "address",
    "provider",
    "host",
    "port",
    "security",
    "auth",
    "username",
    "owner",
    "imported",
    "last_sync",
]


def is_registered(engine: Engine, address: str) -> bool:
    """Whether ``address`` is a registered account (compared as ``get_account`` does)."""
    try:
        with Session(engine) as session:
            get_account(session, address)
    except ConfigurationError:
        return False
    return True


def register_account(
    engine: Engine, settings: ConnectionSettings, *, provider: str, owner: str
) -> None:
    """Register a mail account owned by the user ``owner``; an address already registered is
    an error (one line), never a second row."""
    with write_session(engine) as session:
        user = get_user(session, owner)
        taken = session.scalar(
            select(MailAccount.id).where(MailAccount.address == settings.address)
        )
        if taken is not None:
            raise ConfigurationError(
                f"{settings.address} is already registered (see `primsync account list`)"
            )
        session.add(
            MailAccount(
                address=settings.address,
                provider=provider,
                host=settings.host,
                port=settings.port,
                security=settings.security,
                username=settings.username,
                auth=settings.auth,
                ca_file=settings.ca_file,
                owner_id=user.id,
            )
        )


def edit_account(engine: Engine, address: str, **changes: object) -> dict[str, tuple[str, str]]:
    """Change a registered account's host, port, security, username, auth, ca_file or owner,
    checked as ``account add`` checks them; returns what changed (name → (before, after)). Its
    imported mail, sync state and runs stay: the account is the same one, reached otherwise."""
    from primsync.accounts import account_settings, provider_for_host

    allowed = {"host", "port", "security", "username", "auth", "ca_file", "owner"}
    unknown = set(changes) - allowed
    if unknown:
        raise ConfigurationError(f"cannot change {', '.join(sorted(unknown))} of an account")
    with write_session(engine) as session:
        account = get_account(session, address)
        owner = session.get(AppUser, account.owner_id)
        before = {
            "host": account.host,
            "port": account.port,
            "security": account.security,
            "username": account.username,
            "auth": account.auth,
            "ca_file": account.ca_file,
            "owner": owner.login if owner else "",
        }
        wanted = {**before, **changes}
        ca_file = str(wanted["ca_file"] or "") or None
        settings, _, _ = account_settings(
            account.address,
            provider="imap",
            host=str(wanted["host"]),
            port=int(str(wanted["port"])),
            security=str(wanted["security"]),
            username=str(wanted["username"]),
            auth=str(wanted["auth"]),
            ca_file=ca_file if ca_file != before["ca_file"] else None,
        )
        after = {
            "host": settings.host,
            "port": settings.port,
            "security": settings.security,
            "username": settings.username,
            "auth": settings.auth,
            "ca_file": ca_file,
            "owner": str(wanted["owner"]),
        }
        changed = {
            k: (str(before[k] or ""), str(after[k] or "")) for k in after if before[k] != after[k]
        }
        if "owner" in changed:
            account.owner_id = get_user(session, str(after["owner"])).id
        for name in ("host", "port", "security", "username", "auth", "ca_file"):
            setattr(account, name, after[name])
        if "host" in changed:
            account.provider = provider_for_host(settings.host) or account.provider
    return changed


def list_accounts(engine: Engine) -> pd.DataFrame:
    """Every registered account with its owner, how many messages were imported from it and
    when it was last synchronized."""
    imported = (
        select(ImportedMessage.account_id, func.count().label("n"))
        .group_by(ImportedMessage.account_id)
        .subquery()
    )
    synced = (
        select(FolderState.account_id, func.max(FolderState.last_sync_at).label("at"))
        .group_by(FolderState.account_id)
        .subquery()
    )
    query = (
        select(
            MailAccount.address,
            MailAccount.provider,
            MailAccount.host,
            MailAccount.port,
            MailAccount.security,
            MailAccount.auth,
            MailAccount.username,
            AppUser.login,
            func.coalesce(imported.c.n, 0),
            synced.c.at,
        )
        .join(AppUser, AppUser.id == MailAccount.owner_id)
        .outerjoin(imported, imported.c.account_id == MailAccount.id)
        .outerjoin(synced, synced.c.account_id == MailAccount.id)
        .order_by(MailAccount.address)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    import pandas as pd  # here: the account commands that write start without pandas (~0.4 s)

    frame = pd.DataFrame(rows, columns=ACCOUNT_COLUMNS)
    frame["last_sync"] = pd.to_datetime(frame["last_sync"], utc=True)
    return frame


def remove_account(
    engine: Engine,
    address: str,
    *,
    delete_messages: bool = False,
    move_messages_to: str | None = None,
) -> int:
    """Unregister ``address``; returns how many imported messages were deleted or moved.

    While imported messages point at the account it refuses, unless told what to do with them:
    ``delete_messages`` removes them (and their attachments) from their records;
    ``move_messages_to`` files them under another registered account. Its folders' sync state
    goes with it, and its schedule; its runs stay in the history, no longer linked to an account.
    """
    if delete_messages and move_messages_to:
        raise ConfigurationError("choose --delete-messages or --move-messages-to, not both")
    with write_session(engine) as session:
        account = get_account(session, address)
        stored = ImportedMessage.account_id == account.id
        count = int(session.scalar(select(func.count()).where(stored)) or 0)
        if count and not (delete_messages or move_messages_to):
            raise ConfigurationError(
                f"{count} imported messages point at {account.address}: add "
                "--delete-messages to remove them from their records, or --move-messages-to "
                "ADDRESS to file them under another registered account",
                account=account.address,
            )
        if move_messages_to:
            target = get_account(session, move_messages_to)
            if target.id == account.id:
                raise ConfigurationError("--move-messages-to names the account being removed")
            session.execute(update(ImportedMessage).where(stored).values(account_id=target.id))
        elif count:
            ids = select(ImportedMessage.id).where(stored)
            session.execute(delete(Attachment).where(Attachment.message_id.in_(ids)))
            session.execute(delete(ImportedMessage).where(stored))
        session.execute(delete(FolderState).where(FolderState.account_id == account.id))
        session.execute(delete(SyncSchedule).where(SyncSchedule.account_id == account.id))
        session.execute(
            update(SyncRun).where(SyncRun.account_id == account.id).values(account_id=None)
        )
        session.delete(account)
    return count
