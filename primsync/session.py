"""What a notebook opens first: the database, the account, the user and the secret — or, with
nothing configured, the embedded demo.

>>> s = open_session()  # the demo                                 # doctest: +SKIP
>>> s.account, s.user                                               # doctest: +SKIP
('recruiter@agency.example', 'ana')
"""

from __future__ import annotations

import atexit
import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from primsync.credentials import resolve_secret
from primsync.db import accounts
from primsync.db.engine import check_schema, open_engine
from primsync.oauth import TokenProvider
from primsync.servers import PymapServer
from primsync.signin import stored_provider

__all__ = ["NotebookSession", "open_session", "project_root"]


@dataclass
class NotebookSession:
    engine: Engine
    account: str
    user: str
    secret: str | TokenProvider | None = field(repr=False)  # a password, a token, a sign-in
    demo_server: PymapServer | None = field(default=None, repr=False)

    def close(self) -> None:
        if self.demo_server is not None:
            self.demo_server.stop()
        self.engine.dispose()


def project_root() -> Path:
    """The folder holding ``data/``: ``$PRIMSYNC_HOME`` (set by ``primsync demo`` for the
    notebooks it copies under ``data/``), else the parent of ``notebooks/`` when run from
    there, else the current folder."""
    home = os.environ.get("PRIMSYNC_HOME")
    if home:
        return Path(home)
    cwd = Path.cwd()
    return cwd.parent if cwd.name == "notebooks" else cwd


def _secret_or_none(account: str, auth: str, prompt: Callable[[str], str] | None) -> str | None:
    """The secret from the keyring, the environment or ``prompt``. Where nothing can be asked
    (an app without a text input: Voila's kernels raise NotImplementedError), None: the
    Account step then asks for it on screen."""
    try:
        return resolve_secret(account, auth=auth, prompt=prompt)
    except NotImplementedError:
        return None


def open_session(
    *,
    account: str | None = None,
    db: str | None = None,
    user: str | None = None,
    prompt: Callable[[str], str] | None = getpass.getpass,
) -> NotebookSession:
    """The configured account (``account`` or ``$PRIMSYNC_ACCOUNT``), else the demo.

    The secret comes from the keyring, the environment or ``prompt``; it is kept out of the
    session's repr so that it never lands in a notebook's output.
    """
    account = account or os.environ.get("PRIMSYNC_ACCOUNT") or None
    user = user or os.environ.get("PRIMSYNC_USER") or None
    if account is None:
        from primsync.demo import DEMO_ACCOUNT, DEMO_PASSWORD, running_demo, start_demo

        url = db or f"sqlite:///{project_root() / 'data' / 'demo.db'}"
        if running_demo(url) is not None:  # `primsync demo` (or another notebook) runs it: share
            engine = open_engine(url)
            return NotebookSession(engine, DEMO_ACCOUNT, user or "ana", DEMO_PASSWORD)
        engine, server = start_demo(url)
        atexit.register(server.stop)
        return NotebookSession(engine, DEMO_ACCOUNT, user or "ana", DEMO_PASSWORD, server)
    engine = open_engine(db)
    try:
        check_schema(engine)
        auth = accounts.stored_settings(engine, account).auth
        secret: str | TokenProvider | None
        if auth == "app":  # the organisation's app-only access: nothing to ask anyone
            from primsync.apponly import app_token_provider

            secret = app_token_provider(account, accounts.account_provider(engine, account))
        else:
            signed_in = stored_provider(account) if auth == "xoauth2" else None
            secret = signed_in or _secret_or_none(account, auth, prompt)
        login = user or accounts.owner_login(engine, account)
    except BaseException:
        engine.dispose()  # no connection left behind by a session that did not open
        raise
    return NotebookSession(engine, account, login, secret)
