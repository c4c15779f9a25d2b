"""No secret anywhere: with a recognisable password and token, search the logs, the error
messages, sync_run.error, the database and an executed notebook."""

from __future__ import annotations

import base64
import io
import logging
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from primsync.commit import import_selected
from primsync.db.engine import write_session
from primsync.db.models import Base, MailAccount
from primsync.demo import seed_mailbox
from primsync.errors import PrimsyncError
from primsync.imap import ConnectionSettings, connect
from primsync.review import review_mailbox
from tests.conftest import CANARY, ROOT, add_account
from tests.forkserver import PRIMSYNC
from tests.mailbox import MAILS

TOKEN = "Canary-Token-0b5e77d2"
ACCOUNT = "canary@agency.example"
SECRETS = [CANARY, TOKEN, "Wrong-" + CANARY]


def forms(secret: str) -> list[str]:
    """The secret as it could leak: as is, and inside a base64 SASL exchange."""
    sasl = f"user=canary\x01auth=Bearer {secret}\x01\x01".encode()
    return [secret, base64.b64encode(sasl).decode(), base64.b64encode(secret.encode()).decode()]


def assert_clean(where: str, haystack: str | bytes) -> None:
    for secret in SECRETS:
        for form in forms(secret):
            needle = form.encode() if isinstance(haystack, bytes) else form
            assert needle not in haystack, f"{secret!r} leaked into {where}"


@pytest.fixture
def canary_db(db, dovecot, now):
    add_account(db, ACCOUNT, dovecot, "canary")
    settings = ConnectionSettings(address=ACCOUNT, host=dovecot.host, port=dovecot.port,
                                  username="canary", security="none")  # fmt: skip
    with connect(settings, CANARY) as box:
        if box.select("INBOX").exists == 0:
            seed_mailbox(box, [m for m in MAILS if m.folder == "INBOX"], now=now)
    return db


def cli(db, *args, env=None, stdin=None):
    return subprocess.run(
        [*PRIMSYNC, *args],
        env={**os.environ, "PRIMSYNC_DB": str(db.url), **(env or {})},
        input=stdin, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_no_secret_in_logs_errors_database_or_notebooks(canary_db, tmp_path):
    db = canary_db
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # imapclient logs every command at DEBUG
    errors: list[str] = []
    try:
        result = review_mailbox(db, ACCOUNT, ["INBOX"], option="all", secret=CANARY)
        import_selected(db, result, user="ana", accessible_to="Public", secret=CANARY)
        for attempt in (
            lambda: review_mailbox(db, ACCOUNT, ["INBOX"], secret="Wrong-" + CANARY),
            lambda: import_selected(db, result, user="ana", accessible_to="Public",
                                    secret="Wrong-" + CANARY),
        ):  # fmt: skip
            with pytest.raises(PrimsyncError) as err:
                attempt()
            errors += [str(err.value), repr(err.value), str(err.value.__cause__)]
        with write_session(db) as session:
            session.execute(update(MailAccount).where(MailAccount.address == ACCOUNT)
                            .values(auth="xoauth2"))  # fmt: skip
        with pytest.raises(PrimsyncError) as err:
            review_mailbox(db, ACCOUNT, ["INBOX"], secret=TOKEN)
        errors += [str(err.value), repr(err.value), str(err.value.__cause__)]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert "LOGIN" in log.getvalue()  # the debug log was really captured
    assert_clean("the logs", log.getvalue())
    assert_clean("exception messages", "\n".join(errors))

    outs = [
        cli(db, "sync", "--account", ACCOUNT, "--folder", "INBOX", "--accessible-to", "Public",
            env={"PRIMSYNC_TOKEN": TOKEN}),
        cli(db, "review", "--account", ACCOUNT, "--folder", "INBOX", "--password-stdin",
            stdin=TOKEN + "\n"),
    ]  # fmt: skip
    with write_session(db) as session:
        session.execute(update(MailAccount).where(MailAccount.address == ACCOUNT)
                        .values(auth="password"))  # fmt: skip
    outs.append(cli(db, "sync", "--account", ACCOUNT, "--folder", "INBOX", "--accessible-to",
                    "Public", env={"PRIMSYNC_PASSWORD": CANARY}))  # fmt: skip
    outs.append(cli(db, "review", "--account", ACCOUNT, "--folder", "INBOX", "--password-stdin",
                    stdin="Wrong-" + CANARY + "\n"))  # fmt: skip
    assert [o.returncode for o in outs] == [3, 3, 0, 3]
    for out in outs:
        assert_clean("the command line's output", out.stdout + out.stderr)

    papermill = pytest.importorskip("papermill")
    notebook = tmp_path / "sync.ipynb"
    os.environ["PRIMSYNC_PASSWORD"] = CANARY
    try:
        papermill.execute_notebook(
            str(ROOT / "notebooks" / "01_sync.ipynb"), str(notebook), cwd=str(tmp_path),
            parameters={"account": ACCOUNT, "db": str(db.url), "folders": ["INBOX"],
                        "option": "all", "accessible_to": "Public"},
            kernel_name="python3", progress_bar=False,
        )  # fmt: skip
    finally:
        del os.environ["PRIMSYNC_PASSWORD"]
    assert_clean("the executed notebook", notebook.read_text())

    rows = []
    with db.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows += [repr(tuple(r)) for r in conn.execute(select(table))]
        errors = [e for (e,) in conn.execute(text("SELECT error FROM sync_run")) if e]
    assert len(errors) >= 4
    assert_clean("sync_run.error", "\n".join(errors))
    assert_clean("the database's rows", "\n".join(rows))
    if db.dialect.name == "sqlite":
        database = Path(db.url.database)
        for path in (database, Path(f"{database}-wal")):
            if path.exists():
                assert_clean(path.name, path.read_bytes())
