"""Every mailbox on schedule: `primsync account schedule`, `primsync sync --all` over 20
accounts on a private Dovecot (one with a wrong password, one on a port that refuses, one behind
a busy server), two runs at once, `primsync health --all`; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from primsync import link
from primsync.db.engine import write_session
from primsync.db.models import ImportedMessage, SyncSchedule
from primsync.db.schedules import due_schedules, schedules, set_schedule, switch_schedule
from primsync.demo import DEMO_ACCOUNT
from primsync.errors import ConfigurationError
from primsync.sync import sync_due
from tests.agency import KNOWN, cli, register, stored
from tests.forkserver import PRIMSYNC
from tests.proxy import FaultyProxy


def test_sync_all_syncs_the_others_names_the_failures_and_exits_with_the_code(
    db, agency, keyring_env
):
    proxy = FaultyProxy(agency.port)
    try:
        roles = register(db, agency, busy_proxy=proxy)
        proxy.busy("EXAMINE", "NO [THROTTLED] Request is throttled. Try again later.")
        # the command itself, for one account: what it stores and says
        said = cli(keyring_env, db, "account", "schedule", DEMO_ACCOUNT, "--folder", "INBOX",
                   "--folder", "Sent", "--select", "green", "--accessible-to", "Recruiters",
                   "--every", "2h", "--off")  # fmt: skip
        assert said.returncode == 2 and "has no schedule" in said.stderr  # --off: nothing yet
        said = cli(keyring_env, db, "account", "schedule", DEMO_ACCOUNT, "--folder", "INBOX",
                   "--folder", "Sent", "--select", "green", "--accessible-to", "Recruiters",
                   "--every", "2h")  # fmt: skip
        assert said.returncode == 0, said.stderr
        assert said.stdout.strip() == (
            f"schedule of {DEMO_ACCOUNT}: INBOX, Sent, every 120 min, since-last, green, "
            "accessible to Recruiters; on"
        )
        off = cli(keyring_env, db, "account", "schedule", DEMO_ACCOUNT, "--off")
        assert off.returncode == 0 and off.stdout.strip().endswith("off (sync --all leaves it)")

        run = cli(keyring_env, db, "sync", "--all", "--jobs", "4")
        assert run.returncode == 3, run.stderr  # a login and a connection error: 3
        lines = {line.split()[0]: line for line in run.stdout.splitlines()[1:-1]}
        assert set(lines) == set(roles)  # one row per scheduled account, not the one off
        assert "20 accounts synced, 2 failed" in run.stdout
        for address, role in roles.items():
            row = lines[address]
            if role == "wrong password":
                assert "login refused" in row and "not-it-123" not in run.stdout + run.stderr
            elif role == "refused":
                assert "connection refused" in row.lower() or "cannot reach" in row.lower()
            else:
                assert row.split()[1:4] == ["3", "2", "0"], row  # new, imported, skipped
            if role == "busy":  # waited out the busy answer: THROTTLE_WAITS' first second
                assert row.split()[4:6] == ["1", "s"], row
        assert f"account={DEMO_ACCOUNT}" not in run.stderr
        assert sum(f"account={a} folder='INBOX'" in run.stderr for a in roles) == 18
        assert stored(db) == {a: KNOWN for a, r in roles.items() if r in ("ok", "busy")}

        again = cli(keyring_env, db, "sync", "--all")
        assert again.returncode == 0 and "no scheduled account is due" in again.stdout

        health = cli(keyring_env, db, "health", "--all", "--format", "json")
        assert health.returncode == 0, health.stderr
        rows = {r["account"]: r for r in json.loads(health.stdout)}
        assert len(rows) == 21 and rows[DEMO_ACCOUNT]["enabled"] is False
        assert rows[DEMO_ACCOUNT]["next_due_at"] is None
        assert "login refused" in rows["agent19@agency.example"]["last_error"]
        assert rows["agent01@agency.example"]["last_status"] == "ok"
        due = datetime.fromisoformat(rows["agent01@agency.example"]["next_due_at"])
        assert timedelta(minutes=14) < due - datetime.now(UTC) <= timedelta(minutes=15)
    finally:
        proxy.close()


def test_two_runs_started_together_import_everything_once(db, agency, keyring_env):
    roles = register(db, agency)
    runs = [
        subprocess.Popen(
            [*PRIMSYNC, "sync", "--all", "--jobs", "3"],
            env={**keyring_env, "PRIMSYNC_DB": str(db.url)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    outs = [r.communicate(timeout=300) for r in runs]
    synced = [line.split()[0] for out, _ in outs for line in out.splitlines()[1:-1]]
    assert sorted(synced) == sorted(roles)  # each account by one of the two runs
    assert stored(db) == {a: KNOWN for a, r in roles.items() if r in ("ok", "busy")}
    with Session(db) as session:
        keys = session.execute(select(ImportedMessage.account_id, ImportedMessage.dedupe_key))
        keys = list(keys)
    assert len(keys) == len(set(keys))  # nothing twice


def test_a_server_busy_past_its_waits_fails_that_account_only_and_due_comes_back(
    db, agency, keyring_env, monkeypatch, request
):
    monkeypatch.setattr(link, "THROTTLE_WAITS", (0.05, 0.1))
    proxy = FaultyProxy(agency.port)
    request.addfinalizer(proxy.close)
    roles = register(db, agency, busy_proxy=proxy)
    proxy.busy("EXAMINE", *["NO [THROTTLED] Request is throttled."] * 4)
    lines: list[str] = []
    outcomes = {o.account: o for o in sync_due(db, jobs=5, log=lines.append)}
    assert set(outcomes) == set(roles)
    busy = outcomes["agent18@agency.example"]
    assert "THROTTLED" in busy.error and busy.exit_code == 3
    assert {a for a, o in outcomes.items() if o.error} == {a for a, r in roles.items() if r != "ok"}
    assert all(o.imported == KNOWN for a, o in outcomes.items() if roles[a] == "ok")
    assert any("account=agent18@agency.example status=failed" in line for line in lines)
    assert due_schedules(db) == []  # every account just ran
    with write_session(db) as session:  # a quarter of an hour later
        session.execute(
            update(SyncSchedule).values(last_started_at=datetime.now(UTC) - timedelta(minutes=16))
        )
    switch_schedule(db, "gone@agency.example", on=False)
    due = {s.address for s in due_schedules(db)}
    assert due == set(roles) - {"gone@agency.example"}
    again = {o.account: o for o in sync_due(db, jobs=5)}
    assert all(o.imported == 0 for a, o in again.items() if roles[a] == "ok")  # nothing new
    assert again["agent18@agency.example"].imported == KNOWN  # the busy one caught up
    assert stored(db)["agent18@agency.example"] == KNOWN


def test_a_schedule_is_checked_when_it_is_set(db):
    with pytest.raises(ConfigurationError, match="no security group 'Nobody'"):
        set_schedule(db, DEMO_ACCOUNT, folders=["INBOX"], accessible_to="Nobody")
    from primsync.db.schedules import SCHEDULE_OPTIONS
    from primsync.options import SyncOption

    assert set(SCHEDULE_OPTIONS) == {o.value for o in SyncOption} - {"range"}
    with pytest.raises(ConfigurationError, match="--option 'weekly'"):
        set_schedule(db, DEMO_ACCOUNT, folders=["INBOX"], accessible_to="Public", option="weekly")
    with pytest.raises(ConfigurationError, match="option range"):
        set_schedule(db, DEMO_ACCOUNT, folders=["INBOX"], accessible_to="Public", option="range")
    with pytest.raises(ConfigurationError, match="no registered mail account"):
        set_schedule(db, "who@else.example", folders=["INBOX"], accessible_to="Public")
    with pytest.raises(ConfigurationError, match="at least one --folder"):
        set_schedule(db, DEMO_ACCOUNT, folders=[], accessible_to="Public")
    first = set_schedule(db, DEMO_ACCOUNT, folders=["INBOX"], accessible_to="Public")
    assert first.is_due(datetime.now(UTC)) and first.every_minutes == 15
    again = set_schedule(db, DEMO_ACCOUNT, folders=["Sent"], accessible_to="Recruiters",
                         every_minutes=60, threshold=0.9)  # fmt: skip
    assert [s.folders for s in schedules(db)] == [["Sent"]]  # replaced, not added
    assert (again.accessible_to, again.threshold, again.every_minutes) == ("Recruiters", 0.9, 60)
    from primsync.db.accounts import remove_account

    remove_account(db, DEMO_ACCOUNT, delete_messages=True)
    assert schedules(db) == []  # the account's schedule goes with it


def test_sync_says_what_it_needs(db):
    env = {k: v for k, v in os.environ.items() if k != "PRIMSYNC_PASSWORD"}
    bare = cli(env, db, "sync", "--account", DEMO_ACCOUNT)
    assert bare.returncode == 2
    assert "sync needs --folder, --accessible-to (or --all" in bare.stderr
    mixed = cli(env, db, "sync", "--all", "--account", DEMO_ACCOUNT)
    assert mixed.returncode == 2 and "not --account" in mixed.stderr
    jobs = cli(env, db, "sync", "--all", "--jobs", "0")
    assert jobs.returncode == 2 and "--jobs 0: at least 1" in jobs.stderr
    every = cli(env, db, "account", "schedule", DEMO_ACCOUNT, "--folder", "INBOX",
                "--accessible-to", "Public", "--every", "soon")  # fmt: skip
    assert every.returncode == 2 and "--every 'soon'" in every.stderr


def test_the_notebook_lists_every_account_on_schedule(db, monkeypatch):
    from primsync.widgets import SchedulesView
    from tests.conftest import PASSWORD

    monkeypatch.setenv("PRIMSYNC_PASSWORD", PASSWORD)
    view = SchedulesView(db)
    assert "No account is scheduled" in view.value
    set_schedule(db, DEMO_ACCOUNT, folders=["INBOX", "Sent"], accessible_to="Recruiters")
    view.refresh()
    assert DEMO_ACCOUNT in view.value and "never run" in view.value
    assert "INBOX, Sent" in view.value and "every 15m" in view.value
    [outcome] = sync_due(db)
    assert outcome.error is None and outcome.imported == 3  # the green replies
    view.refresh()
    assert "done" in view.value and "never run" not in view.value
    switch_schedule(db, DEMO_ACCOUNT, on=False)
    view.refresh()
    assert "switched off" in view.value
