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

from primsync.db import accounts
from primsync.db.engine import check_schema, open_engine
from primsync.oauth import TokenProvider
from primsync.opening import OpenAccount, open_account
from primsync.servers import PymapServer

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
        opened = _opened(engine, account, prompt)
        login = user or accounts.owner_login(engine, account)
    except BaseException:
        engine.dispose()  # no connection left behind by a session that did not open
        raise
    return NotebookSession(engine, account, login, opened.secret)


def _opened(engine: Engine, account: str, prompt: Callable[[str], str] | None) -> OpenAccount:
    """The account opened with what it logs in with; where nothing can be asked (an app
    without a text input: Voila's kernels raise NotImplementedError), no secret: the Account
    step then asks for it on screen."""
    try:
        return open_account(engine, account, prompt=prompt)
    except NotImplementedError:
        return open_account(engine, account, prompt=None, required=False)
