"""`primsync worker`: scheduled syncs on procrastinate's queue in PostgreSQL — two workers sync
every due account once per period; a worker killed (SIGKILL) in the middle of an import leaves
nothing half-stored and another worker syncs the account; a database restarted under the
workers: they carry on. PostgreSQL only (the queue lives there)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from primsync.db.engine import init_db, open_engine, write_session
from primsync.db.models import ImportedMessage, SyncRun, SyncSchedule
from primsync.demo import seed_database
from tests.agency import AGENTS, KNOWN, cli, register_healthy, stored
from tests.processes import stop
from tests.proxy import FaultyProxy
from tests.servers import PostgresServer

pytest.importorskip("procrastinate")


def until(condition, timeout: float = 120.0, what: str = "") -> None:
    """Wait for another process's work, read from the database."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.2)


def worker(env, db_url: str, name: str, tmp_path, *more: str) -> subprocess.Popen:
    with open(tmp_path / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "primsync.cli", "worker", "--concurrency", "2", "--name",
             name, "--stalled-after", "2", *more],
            env={**env, "PRIMSYNC_DB": db_url}, stdout=log, stderr=log,
        )  # fmt: skip


def finished(db, addresses) -> int:
    with Session(db) as session:
        return session.scalar(
            select(func.count()).where(
                SyncSchedule.last_status.is_not(None),
                SyncSchedule.last_finished_at > SyncSchedule.last_started_at,
            )
        )


def jobs(db) -> list[tuple[str, str]]:
    """The queue's account jobs: (account, status), in the order they were deferred."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT args->>'address', status::text FROM procrastinate_jobs "
                "WHERE task_name = 'primsync.sync_account' ORDER BY id"
            )
        )
        return [(r[0], r[1]) for r in rows]


def unfinished(listed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The jobs the queue has not marked done (succeeded, failed...) yet."""
    return [(a, s) for a, s in listed if s in ("todo", "doing")]


def make_due_again(db) -> None:
    """A period later: every schedule started 16 minutes ago."""
    with write_session(db) as session:
        session.execute(
            update(SyncSchedule).values(last_started_at=datetime.now(UTC) - timedelta(minutes=16))
        )


def test_two_workers_sync_every_due_account_once_per_period(db, agency, keyring_env, tmp_path):
    addresses = register_healthy(db, agency, AGENTS[:8])
    url = db.url.render_as_string(hide_password=False)
    workers = [worker(keyring_env, url, f"w{n}", tmp_path) for n in (1, 2)]
    try:
        # a job is marked done by the queue a moment after its sync has written the schedule's
        # outcome: wait for both (a CI rehearsal under load saw one still 'doing')
        until(lambda: finished(db, addresses) == 8 and not unfinished(jobs(db)),
              what="the first round")  # fmt: skip
        assert stored(db) == dict.fromkeys(addresses, KNOWN)
        first = jobs(db)
        assert sorted(a for a, _ in first) == sorted(addresses)  # one job per account
        assert {status for _, status in first} == {"succeeded"}
        make_due_again(db)
        until(lambda: finished(db, addresses) == 8 and len(jobs(db)) == 16, what="round two")
        assert sorted(a for a, _ in jobs(db)) == sorted(addresses * 2)  # once a period
        assert stored(db) == dict.fromkeys(addresses, KNOWN)  # since-last: nothing twice
    finally:
        stop(*workers)
    assert all(w.returncode == 0 for w in workers), [w.returncode for w in workers]
    log = (tmp_path / "w1.log").read_text() + (tmp_path / "w2.log").read_text()
    assert "pw-agent" not in log  # no secret in a log


def test_a_worker_killed_during_an_import_leaves_nothing_and_another_syncs_it(
    db, agency, keyring_env, tmp_path
):
    proxy = FaultyProxy(agency.port)
    try:
        [address] = register_healthy(db, agency, ["agent05"], ports={"agent05": proxy.port})
        proxy.hold_from(2)  # the review's connection passes; the import's is never answered
        url = db.url.render_as_string(hide_password=False)
        first = worker(keyring_env, url, "doomed", tmp_path)
        try:
            assert proxy.holding.wait(120), "the import never connected"
            with Session(db) as session:  # the import has begun: its run is recorded
                run = session.scalars(select(SyncRun).where(SyncRun.kind == "import")).one()
                assert run.status == "running"
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            stop(first)
        assert stored(db) == {}  # nothing half-stored
        assert jobs(db) == [(address, "doing")]  # its worker is gone
        proxy.hold_from(None)
        second = worker(keyring_env, url, "rescuer", tmp_path)
        try:
            until(lambda: stored(db) == {address: KNOWN}, what="the rescue")
            until(lambda: [s for _, s in jobs(db)] == ["succeeded"], what="the job's end")
        finally:
            stop(second)
    finally:
        proxy.close()
    with Session(db) as session:
        keys = list(session.execute(select(ImportedMessage.dedupe_key)))
    assert len(keys) == len(set(keys)) == KNOWN
    assert "lost its worker: queued again" in (tmp_path / "rescuer.log").read_text()


def test_workers_carry_on_after_the_database_restarts(agency, keyring_env, tmp_path):
    if PostgresServer.bindir() is None:
        pytest.skip("PostgreSQL is not installed")
    with PostgresServer() as server:
        url = server.create_database("agency")
        db = open_engine(url, create=True)
        init_db(db)
        seed_database(db, host=agency.host, port=agency.port, username="agent01")
        addresses = register_healthy(db, agency, AGENTS[8:12])
        workers = [worker(keyring_env, url, f"w{n}", tmp_path) for n in (1, 2)]
        try:
            until(lambda: finished(db, addresses) == 4, what="the first round")
            server.restart()
            db.dispose()  # the test's own pool, like the workers', was cut
            make_due_again(db)
            until(lambda: len(jobs(db)) == 8 and finished(db, addresses) == 4, what="round two")
            assert all(w.poll() is None for w in workers)  # still running
            assert stored(db) == dict.fromkeys(addresses, KNOWN)
        finally:
            stop(*workers)
            db.dispose()
    logs = "".join((tmp_path / f"w{n}.log").read_text() for n in (1, 2))
    assert "the worker stopped without being asked: starting again in 5 s" in logs


def test_a_worker_needs_postgresql_and_says_so(db, keyring_env, tmp_path):
    lite = open_engine(f"sqlite:///{tmp_path / 'one.db'}", create=True)
    try:
        init_db(lite)
    finally:
        lite.dispose()  # its connection closed: Python 3.13 warns of one left open
    out = cli(keyring_env, lite, "worker")
    assert out.returncode == 2 and "needs the team's PostgreSQL" in out.stderr
    assert "sync --all" in out.stderr  # what to run instead
    bad = cli(keyring_env, db, "worker", "--stalled-after", "0")
    assert bad.returncode == 2 and "--stalled-after 0" in bad.stderr
