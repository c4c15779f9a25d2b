"""Unattended runs: `primsync sync`, its lock, `health` and `undo`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from primsync.db.imports import undo_run
from primsync.db.locks import account_lock
from primsync.db.models import ImportedMessage, MailAccount, SyncRun
from primsync.demo import DEMO_ACCOUNT
from primsync.errors import PermissionDenied
from primsync.sync import sync_account
from tests.conftest import PASSWORD
from tests.forkserver import PRIMSYNC


def cli(db, *args, password=PASSWORD):
    env = {**os.environ, "PRIMSYNC_DB": str(db.url), "PRIMSYNC_PASSWORD": password}
    return subprocess.run(
        [*PRIMSYNC, *args], env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip


SYNC = ["sync", "--account", DEMO_ACCOUNT, "--folder", "INBOX", "--folder", "Sent",
        "--select", "green", "--accessible-to", "Public"]  # fmt: skip


def count(db):
    with Session(db) as session:
        return session.scalar(select(func.count()).select_from(ImportedMessage))


def test_sync_logs_a_line_per_folder_and_picks_up_only_new_mail(db):
    first = cli(db, *SYNC, "--option", "since-last")
    assert first.returncode == 0, first.stderr
    lines = [line for line in first.stderr.splitlines() if "account=" in line]
    assert len(lines) == 2
    assert "folder='INBOX' fetched=9 shown=6 imported=2 skipped=0" in lines[0]
    assert "folder='Sent' fetched=2 shown=1 imported=1 skipped=0" in lines[1]
    assert count(db) == 3
    again = cli(db, *SYNC, "--option", "since-last")
    assert again.returncode == 0, again.stderr
    assert "folder='INBOX' fetched=0 shown=0 imported=0" in again.stderr
    assert count(db) == 3


def test_sync_failure_exits_non_zero_with_a_clear_line(db):
    failed = cli(db, *SYNC, password="not-it-123")
    assert failed.returncode == 3
    assert "status=failed" in failed.stderr and "login refused" in failed.stderr
    assert "not-it-123" not in failed.stderr


def test_overlapping_syncs_never_collide(db):
    with account_lock(db, 1, address=DEMO_ACCOUNT):
        blocked = cli(db, *SYNC)
    assert blocked.returncode == 5
    assert "another sync of this account is running" in blocked.stderr
    assert count(db) == 0
    assert cli(db, *SYNC).returncode == 0  # the lock is released


def test_health(db):
    assert cli(db, *SYNC, "--option", "all").returncode == 0
    cli(db, *SYNC, password="wrong-pw-456")
    out = cli(db, "health", "--account", DEMO_ACCOUNT, "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = {r["folder"]: r for r in json.loads(out.stdout)}
    assert set(rows) == {"INBOX", "Sent"}
    assert (rows["INBOX"]["last_uid"], rows["INBOX"]["imported"]) == (9, 2)
    assert (rows["Sent"]["last_uid"], rows["Sent"]["imported"]) == (2, 1)
    assert rows["INBOX"]["uidvalidity"] > 0 and rows["INBOX"]["last_sync_at"]
    assert "login refused" in rows["INBOX"]["last_error"]
    assert "wrong-pw-456" not in out.stdout
    assert rows["INBOX"]["token_expires_at"] is None
    expires = datetime.now(UTC) + timedelta(minutes=42)
    with Session(db) as session, session.begin():
        session.execute(update(MailAccount).values(auth="xoauth2", token_expires_at=expires))
    rows = json.loads(cli(db, "health", "--account", DEMO_ACCOUNT, "--format", "json").stdout)
    assert rows[0]["token_expires_at"].startswith(expires.strftime("%Y-%m-%dT%H:%M"))


def test_undo(db):
    report = sync_account(db, DEMO_ACCOUNT, ["INBOX", "Sent"], accessible_to="Public",
                          option="all", secret=PASSWORD)  # fmt: skip
    run_id = report.summary.run_id
    assert count(db) == 3
    refused = cli(db, "undo", str(run_id), "--user", "paul")  # Public, below Ana
    assert refused.returncode == 4 and "may not undo" in refused.stderr
    with pytest.raises(PermissionDenied):
        undo_run(db, run_id, user="paul")
    done = cli(db, "undo", str(run_id), "--user", "marc")  # Managers, above Ana's Recruiters
    assert done.returncode == 0, done.stderr
    assert f"import run {run_id} undone: 3 messages removed" in done.stdout
    assert count(db) == 0
    with Session(db) as session:
        run = session.get(SyncRun, run_id)
        assert run.undone_at is not None and run.undone_by_id == 3
        audit = session.scalars(select(SyncRun).where(SyncRun.kind == "undo")).one()
        assert audit.note == f"undo of import run {run_id}: 3 messages removed"
    assert cli(db, "undo", str(run_id), "--user", "ana").returncode == 2  # already undone
    again = sync_account(db, DEMO_ACCOUNT, ["INBOX", "Sent"], accessible_to="Public",
                         option="all", secret=PASSWORD)  # fmt: skip
    assert again.summary.imported == 3 and count(db) == 3


def test_sync_over_a_date_range_reads_only_those_days(db, now):
    """`--option range --since --until` reach the review (they used to be dropped)."""
    yesterday = (now - timedelta(days=1)).date().isoformat()
    today = now.date().isoformat()
    out = cli(db, *SYNC, "--option", "range", "--since", yesterday, "--until", today,
              "--today", today)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if "account=" in line]
    # Léa's reply (1.2 days ago) and the Sent reply (1 day): green; Acme's (2.5 days): not read
    assert "folder='INBOX' fetched=3 shown=2 imported=1 skipped=0" in lines[0], lines
    assert "folder='Sent' fetched=2 shown=1 imported=1 skipped=0" in lines[1], lines
    with Session(db) as session:
        subjects = set(session.scalars(select(ImportedMessage.subject)))
    assert subjects == {"Re: Interview on Monday", "Re: Interview on Monday — directions"}
