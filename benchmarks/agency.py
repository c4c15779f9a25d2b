"""An agency's scheduled syncs under load: N mailboxes on one private Dovecot, one private
PostgreSQL, and `primsync sync --all` (the baseline, one process) beside 1, 2 and 4 `primsync
worker` processes.

    python3 benchmarks/agency.py [--mailboxes 500] [--workers 1,2,4] [--initial 10]
                                 [--new-share 0.1] [--new-each 20] [--concurrency 4]

Each configuration runs two rounds, every account made due at once (its last start moved one
period back): one with nothing new, one where a share of the mailboxes (a tenth) each received
``--new-each`` messages (20: 1,000 at 500 mailboxes). Printed per round: wall time (from due to
the last account done), accounts synced per minute, CPU seconds per account sync (the syncing
processes' user + system time, read from /proc), p50/p95 from due to done, the most database
connections held at once, and the messages imported against those planted — nothing lost and
nothing imported twice. Figures, never asserted (this machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select, text, update  # noqa: E402

from benchmarks.mailbox import write_maildir  # noqa: E402
from primsync.db.engine import init_db, open_engine, write_session  # noqa: E402
from primsync.db.models import (  # noqa: E402
    AppUser,
    ImportedMessage,
    MailAccount,
    Record,
    RecordAddress,
    SecurityGroup,
    SyncSchedule,
)
from tests.processes import stop  # noqa: E402
from tests.servers import DovecotServer, PostgresServer  # noqa: E402

PASSWORD = "agency-bench-pw"  # every mailbox's: the workers read it from $PRIMSYNC_PASSWORD
CONTACTS = 50


def user(n: int) -> str:
    return f"rec{n:04d}"


def messages(n: int, start: int, count: int, now: datetime) -> list[tuple[bytes, datetime]]:
    """``count`` messages to mailbox ``n`` from known contacts, each with its own id."""
    out = []
    for i in range(start, start + count):
        when = now - timedelta(minutes=count - i)
        raw = (
            f"From: Contact {i % CONTACTS} <c{i % CONTACTS}@cand.example>\r\n"
            f"To: {user(n)}@agency.example\r\nSubject: Update {i}\r\n"
            f"Date: {format_datetime(when)}\r\nMessage-ID: <m{i}.{n}@cand.example>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nA few lines.\r\n"
        )
        out.append((raw.encode(), when))
    return out


def owner() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    import pwd

    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def plant(dovecot: DovecotServer, n: int, start: int, count: int) -> None:
    folder = dovecot.root / "mail" / user(n)
    write_maildir(folder, messages(n, start, count, datetime.now(UTC)), owner=owner())
    if owner():
        os.chown(folder, *owner())


def seed(engine, dovecot: DovecotServer, mailboxes: int) -> None:
    init_db(engine)
    with write_session(engine) as session:
        group = SecurityGroup(name="Recruiters", level=10)
        session.add(group)
        session.flush()
        session.add(AppUser(login="ops", name="Operations", group_id=group.id))
        session.flush()
        session.execute(insert(Record), [
            {"id": i + 1, "kind": "candidate", "name": f"Contact {i}", "exclude_from_sync": False,
             "created_at": datetime.now(UTC)} for i in range(CONTACTS)
        ])  # fmt: skip
        session.execute(insert(RecordAddress), [
            {"record_id": i + 1, "address": f"c{i}@cand.example"} for i in range(CONTACTS)
        ])  # fmt: skip
        session.execute(insert(MailAccount), [
            {"address": f"{user(n)}@agency.example", "host": dovecot.host, "port": dovecot.port,
             "security": "none", "username": user(n), "owner_id": 1, "provider": "imap",
             "auth": "password"} for n in range(mailboxes)
        ])  # fmt: skip
        session.flush()
        session.execute(insert(SyncSchedule), [
            {"account_id": n + 1, "folders": "INBOX", "option": "since-last", "select": "all",
             "accessible_to_id": group.id, "every_minutes": 15, "enabled": True,
             "updated_at": datetime.now(UTC)} for n in range(mailboxes)
        ])  # fmt: skip


def cpu_seconds(pids: list[int]) -> float:
    """User + system time of these processes and their children so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15]) / ticks  # utime stime cutime cstime
    return total


def round_of(engine, db_url: str, start_processes, mailboxes: int) -> dict[str, float]:
    """Make every account due, run the processes ``start_processes(now)`` gives until every
    account finished again; the figures of that round."""
    with write_session(engine) as session:
        session.execute(
            update(SyncSchedule).values(last_started_at=datetime.now(UTC) - timedelta(minutes=16))
        )
    due_at = datetime.now(UTC)
    started = time.perf_counter()
    processes = start_processes()
    pids = [p.pid for p in processes]
    cpu_before = cpu_seconds(pids)  # workers already running: their start-up is not charged
    peak_connections = 0
    database = engine.url.database
    while True:
        with engine.connect() as conn:
            done = conn.execute(
                select(func.count()).where(SyncSchedule.last_finished_at >= due_at)
            ).scalar()
            held = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"), {"d": database}
            ).scalar()
        peak_connections = max(peak_connections, int(held) - 1)  # not this reader's own
        cpu = cpu_seconds(pids)  # before they exit (their /proc goes with them)
        if done >= mailboxes:
            break
        if all(p.poll() is not None for p in processes):
            raise SystemExit(f"the syncing processes ended with {done}/{mailboxes} done")
        time.sleep(0.25)
    wall = time.perf_counter() - started
    with engine.connect() as conn:
        ends = sorted(
            (f.replace(tzinfo=f.tzinfo or UTC) - due_at).total_seconds()
            for (f,) in conn.execute(select(SyncSchedule.last_finished_at))
        )
        failed = conn.execute(
            select(func.count()).where(SyncSchedule.last_status == "failed")
        ).scalar()
    return {
        "wall": wall,
        "per_minute": mailboxes / wall * 60,
        "cpu_per_sync": (cpu - cpu_before) / mailboxes,
        "p50": ends[len(ends) // 2],
        "p95": ends[min(len(ends) - 1, int(len(ends) * 0.95))],
        "connections": peak_connections,
        "failed": failed,
        "processes": processes,
    }


def imported(engine) -> tuple[int, int]:
    """(messages stored, distinct (account, id) pairs among them)."""
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(ImportedMessage)).scalar()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(ImportedMessage.account_id, ImportedMessage.message_id).distinct().subquery()
            )
        ).scalar()
    return int(total), int(distinct)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=500)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--initial", type=int, default=10, help="messages in each mailbox")
    parser.add_argument("--new-share", type=float, default=0.1)
    parser.add_argument("--new-each", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4, help="accounts at a time each")
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",") if w]
    try:
        import procrastinate  # noqa: F401
    except ImportError:
        print("procrastinate is not installed (pip install 'primsync[worker]')", file=sys.stderr)
        return 2
    users = {user(n): PASSWORD for n in range(args.mailboxes)}
    with tempfile.TemporaryDirectory() as tmp, DovecotServer(users) as dovecot, \
            PostgresServer() as postgres:  # fmt: skip
        for n in range(args.mailboxes):
            plant(dovecot, n, 0, args.initial)
        db_url = postgres.create_database("agency")
        engine = open_engine(db_url)
        seed(engine, dovecot, args.mailboxes)
        env = {**os.environ, "PRIMSYNC_DB": db_url, "PRIMSYNC_PASSWORD": PASSWORD,
               "PRIMSYNC_LOG_DIR": tmp}  # fmt: skip
        cli = [sys.executable, "-m", "primsync.cli"]
        log = open(Path(tmp) / "agency.log", "ab")  # noqa: SIM115 - closed below

        def sync_all():
            return [subprocess.Popen([*cli, "sync", "--all", "--jobs", str(args.concurrency)],
                                     env=env, stdout=log, stderr=log)]  # fmt: skip

        def workers(count: int) -> list[subprocess.Popen]:
            """``count`` workers, running and registered in the queue before a round starts."""
            running = [subprocess.Popen([*cli, "worker", "--concurrency", str(args.concurrency),
                                         "--name", f"w{i}"], env=env, stdout=log, stderr=log)
                       for i in range(count)]  # fmt: skip
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with engine.connect() as conn:  # the first worker makes the queue's tables
                    there = 0
                    if conn.execute(text("SELECT to_regclass('procrastinate_workers')")).scalar():
                        there = conn.execute(text("SELECT count(*) FROM procrastinate_workers"))
                        there = there.scalar()
                if there >= count:
                    return running
                time.sleep(0.2)
            raise SystemExit("the workers did not register in 120 s")

        first = round_of(engine, db_url, sync_all, args.mailboxes)  # the mailboxes' first sync
        stop(*first.pop("processes"))
        planted = args.mailboxes * args.initial
        next_id = args.initial
        results = []
        for count in [0, *counts]:  # 0: the baseline, one `sync --all` per round
            label = f"{count} worker{'s' if count > 1 else ''}" if count else "sync --all"
            running = workers(count) if count else []
            starter = (lambda running=running: running) if count else sync_all
            quiet = round_of(engine, db_url, starter, args.mailboxes)
            quiet.pop("processes")
            receivers = range(0, args.mailboxes, max(1, round(1 / args.new_share)))
            for n in receivers:
                plant(dovecot, n, next_id, args.new_each)
            next_id += args.new_each
            planted += len(receivers) * args.new_each
            busy = round_of(engine, db_url, starter, args.mailboxes)
            busy.pop("processes")
            stop(*running, timeout=120)
            total, distinct = imported(engine)
            new = len(receivers) * args.new_each
            results.append((label, quiet, busy, new, total, distinct, planted))
        log.close()
    print(f"{args.mailboxes} mailboxes on one Dovecot, one PostgreSQL, {args.concurrency} "
          f"accounts at a time per process")  # fmt: skip
    print(f"{'':24} {'round':>12} {'wall s':>7} {'acct/min':>9} {'CPU s/sync':>10} "
          f"{'p50 s':>6} {'p95 s':>6} {'conns':>5} {'failed':>6}")  # fmt: skip
    for label, quiet, busy, new, total, distinct, planted in results:
        for name, r in (("nothing new", quiet), (f"{new} new", busy)):
            print(f"{label:24} {name:>12} {r['wall']:7.1f} {r['per_minute']:9.0f} "
                  f"{r['cpu_per_sync']:10.3f} {r['p50']:6.1f} {r['p95']:6.1f} "
                  f"{r['connections']:5d} {r['failed']:6d}")  # fmt: skip
        label = "nothing lost, nothing twice" if total == distinct == planted else "MISMATCH"
        print(f"{'':24} stored {total} messages, {distinct} distinct, {planted} planted: {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
