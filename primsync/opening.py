"""A registered account opened once: how to reach it, its provider and what it logs in with —
the one place that knows where an account's secret comes from. The command line, the notebooks
(``open_session``), the Account step and the review, the import and the sync all go through
``open_account``. The mailbox of an account, opened for what is not a review (its folders,
one message for a preview, ``primsync account test``), is here too: none of it loads pandas.

Where the secret comes from, by the account's ``auth``:

- ``app``: the organisation's app-only access (``primsync.apponly``), nothing asked of anyone;
- ``xoauth2``: the sign-in ``primsync login`` kept (``primsync.signin``), refreshed by itself;
- otherwise, and for an ``xoauth2`` account never signed in: the keyring, then
  ``$PRIMSYNC_PASSWORD`` (``$PRIMSYNC_TOKEN``), then ``prompt`` (``primsync.credentials``).

>>> account = open_account(engine, "ana@agency.example")            # doctest: +SKIP
>>> with account.connect() as box:                                  # doctest: +SKIP
...     box.folders()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from primsync.accounts import ConnectionSettings
from primsync.credentials import resolve_secret
from primsync.db import accounts
from primsync.errors import ConfigurationError, FolderError
from primsync.imap import Folder, Mailbox, Secret, connect
from primsync.oauth import AccessToken, TokenProvider, token_source
from primsync.parse import Body, parse_message
from primsync.signin import LOGIN_TIMEOUT, sign_in, stored_provider

__all__ = [
    "AccountCheck",
    "AccountSecret",
    "OpenAccount",
    "account_secret",
    "check_account",
    "list_folders",
    "open_account",
    "open_mailbox",
    "read_message",
    "sign_in_account",
]

AccountSecret = str | TokenProvider  # a password, an access token, or a provider of tokens


def account_secret(
    settings: ConnectionSettings,
    provider: str,
    *,
    prompt: Callable[[str], str] | None = None,
    required: bool = True,
) -> AccountSecret | None:
    """What ``settings``' account logs in with (see the module). With ``required=False`` an
    account with nothing to log in with yet gives None instead of :class:`ConfigurationError`
    (a screen that asks for it itself); app-only access configured wrong is said either way."""
    if settings.auth == "app":
        from primsync.apponly import app_token_provider

        return app_token_provider(settings.address, provider)
    if settings.auth == "xoauth2":
        signed_in = stored_provider(settings.address)
        if signed_in is not None:
            return signed_in
    try:
        return resolve_secret(settings.address, auth=settings.auth, prompt=prompt)
    except (ConfigurationError, NotImplementedError):  # nothing found, nobody to ask
        if required:
            raise
        return None


@dataclass(frozen=True)
class OpenAccount:
    """A registered account resolved once: its database, settings, provider and secret (kept
    out of the repr: it never lands in a notebook's output)."""

    engine: Engine
    settings: ConnectionSettings
    provider: str  # as mail_account.provider records it: gmail, outlook or imap
    secret: AccountSecret | None = field(repr=False)

    @property
    def address(self) -> str:
        return self.settings.address

    def connect(self, *, record: bool = True) -> Mailbox:
        """Log in to the account's server. A token provider's expiries are recorded (for
        ``primsync health``) unless ``record`` is False."""
        if self.secret is None:
            raise ConfigurationError(
                "nothing to log in with: give a password or sign in", account=self.address
            )
        source: Secret
        if isinstance(self.secret, TokenProvider):
            engine, address = self.engine, self.address

            def record_expiry(token: AccessToken) -> None:
                if record:
                    accounts.set_token_expiry(engine, address, token.expires_at)

            source = token_source(self.secret, on_token=record_expiry)
        else:
            source = self.secret
        return connect(self.settings, source)


def open_account(
    engine: Engine,
    address: str,
    *,
    secret: AccountSecret | None = None,
    prompt: Callable[[str], str] | None = None,
    required: bool = True,
) -> OpenAccount:
    """The registered account ``address``, with ``secret`` or the one it logs in with (see
    :func:`account_secret`)."""
    settings, provider = accounts.stored_account(engine, address)
    if secret is None:
        secret = account_secret(settings, provider, prompt=prompt, required=required)
    return OpenAccount(engine, settings, provider, secret)


def sign_in_account(
    engine: Engine,
    address: str,
    *,
    show: Callable[[str], None],
    timeout: float = LOGIN_TIMEOUT,
) -> AccessToken:
    """Sign a registered OAuth2 account in (``primsync login``, the Account step's Sign in):
    ``show`` receives the link (and code) the person must use; what lasts goes to the keyring
    (``primsync.signin``) and the token's expiry to the database. An account that signs in with
    a password or the organisation's app-only access is told so (:class:`ConfigurationError`)."""
    settings, provider = accounts.stored_account(engine, address)
    if settings.auth == "app":
        raise ConfigurationError(
            f"{settings.address} is read with the organisation's app-only access (auth app): "
            "nobody signs in; `primsync account test` checks it",
            account=settings.address,
        )
    if settings.auth != "xoauth2":
        raise ConfigurationError(
            f"{settings.address} signs in with a password (auth password): nothing to do; "
            "its password comes from the keyring, $PRIMSYNC_PASSWORD or --password-stdin",
            account=settings.address,
        )
    token = sign_in(settings.address, provider, show=show, timeout=timeout)
    accounts.set_token_expiry(engine, settings.address, token.expires_at)
    return token


def open_mailbox(
    engine: Engine,
    account: str,
    *,
    secret: AccountSecret | None = None,
    prompt: Callable[[str], str] | None = None,
    record: bool = True,
) -> Mailbox:
    """Connect to a registered account (:func:`open_account`). ``secret`` is a password, an
    access token or a :class:`~primsync.oauth.TokenProvider`; when None it is the account's
    own (app-only access, a kept sign-in, keyring, environment or ``prompt``)."""
    return open_account(engine, account, secret=secret, prompt=prompt).connect(record=record)


def list_folders(
    engine: Engine,
    account: str,
    *,
    secret: AccountSecret | None = None,
    prompt: Callable[[str], str] | None = None,
) -> list[Folder]:
    """The folder tree of a registered account."""
    with open_mailbox(engine, account, secret=secret, prompt=prompt) as box:
        return box.list_folders()


def read_message(
    engine: Engine,
    account: str,
    folder: str,
    uid: int,
    *,
    secret: AccountSecret | None = None,
) -> Body:
    """One message of a folder, fetched in full and parsed (read-only: never flagged \\Seen) —
    what a preview shows before the user decides to import it."""
    with open_mailbox(engine, account, secret=secret) as box:
        box.select(folder)
        for raw in box.fetch_full([int(uid)]):
            return parse_message(raw.data)
    raise FolderError(f"message {uid} is no longer in the folder", account=account, folder=folder)


WATCHED_CAPABILITIES = ("CONDSTORE", "QRESYNC", "COMPRESS=DEFLATE", "SPECIAL-USE", "X-GM-EXT-1")


@dataclass(frozen=True)
class AccountCheck:
    """What ``primsync account test`` found: the login worked, the folders, the sent folder,
    the capabilities that matter to primsync."""

    address: str
    folders: list[Folder]
    sent_folder: str | None
    capabilities: dict[str, bool]

    @property
    def verdict(self) -> str:
        if self.sent_folder is None:
            return (
                f"OK, with a warning: logged in and listed {len(self.folders)} folders, but found "
                "no sent folder (no \\Sent flag, no usual name): mail sent from this mailbox is "
                "reviewed only from the folders you name"
            )
        return (
            f"OK: logged in, listed {len(self.folders)} folders, sent folder {self.sent_folder!r}"
        )


def check_account(
    engine: Engine,
    account: str,
    *,
    secret: AccountSecret | None = None,
    prompt: Callable[[str], str] | None = None,
) -> AccountCheck:
    """Connect to a registered account, log in and list its folders (read-only)."""
    with open_mailbox(engine, account, secret=secret, prompt=prompt) as box:
        folders = box.list_folders()
        capabilities = {name: name in box.capabilities for name in WATCHED_CAPABILITIES}
    sent = next((f.name for f in folders if f.is_sent and f.selectable), None)
    return AccountCheck(account, folders, sent, capabilities)
