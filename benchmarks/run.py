"""primsync's speed and memory against baselines measured in the same run.

    python3 benchmarks/run.py                      # small sizes, a minute or two
    python3 benchmarks/run.py --messages 50000 --match-rows 100000 --import-messages 1000

Prints one line per goal: the figure, the baseline, the ratio and the target. Nothing here
asserts a time: the machines are shared and noisy; read the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import imaplib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.links import PROFILES, ShapedLink, check_shaping  # noqa: E402
from benchmarks.mailbox import build_messages, load_into_dovecot, seed_contacts  # noqa: E402
from primsync import frame as F  # noqa: E402
from primsync.commit import import_selected  # noqa: E402
from primsync.db.engine import open_engine, write_session  # noqa: E402
from primsync.db.models import FolderState  # noqa: E402
from primsync.enrich import enrich  # noqa: E402
from primsync.parse import REVIEW_HEADERS  # noqa: E402
from primsync.review import review_mailbox  # noqa: E402
from primsync.testing import DovecotServer  # noqa: E402

ACCOUNT, USER, PASSWORD, FOLDER = "ana@agency.example", "bench", "bench-pw", "Bench"
HEADER_ITEMS = (
    "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS ("
    + " ".join(h.upper() for h in REVIEW_HEADERS)
    + ")])"
)


def timed(function, repeat: int) -> tuple[float, object]:
    """Median wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def raw_fetch(server: DovecotServer | ShapedLink, uid_set: str, items: str) -> int:
    """imaplib's fetch, unparsed: the baseline a review and an import are compared with."""
    imap = imaplib.IMAP4(server.host, server.port)
    imap.login(USER, PASSWORD)
    imap.select(FOLDER, readonly=True)
    _, data = imap.uid("FETCH", uid_set, items)
    imap.logout()
    return sum(len(part[1]) for part in data if isinstance(part, tuple))


@contextmanager
def helper_off():
    """Without the fetch helper process: one process does everything."""
    saved = os.environ.get("PRIMSYNC_FETCH_HELPER")
    os.environ["PRIMSYNC_FETCH_HELPER"] = "0"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["PRIMSYNC_FETCH_HELPER"]
        else:
            os.environ["PRIMSYNC_FETCH_HELPER"] = saved


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())  # fmt: skip
    mem = next(
        int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")
    )
    dovecot = subprocess.run([DovecotServer.binary() or "dovecot", "--version"],
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    return (f"{os.cpu_count()} cores ({cpu}), {mem / 1024 / 1024:.0f} GiB, "
            f"Python {platform.python_version()}, Dovecot {dovecot}, SQLite")  # fmt: skip


def synthetic_match(rows: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A parsed frame of ``rows`` messages from ``rows`` distinct contacts, a tenth of them
    replies to CRM messages."""
    ts = pd.Timestamp("2026-01-01", tz="UTC")
    addresses = [f"c{i}@x{i % 500}.example" for i in range(rows)]
    contacts = pd.DataFrame({
        "address": addresses, "record_id": range(1, rows + 1),
        "name": [f"R{i}" for i in range(rows)],
        "kind": "candidate", "excluded": False, "created_at": ts, "last_crm_at": pd.NaT,
    })  # fmt: skip
    crm = pd.DataFrame({
        "crm_id": range(1, rows // 10 + 1),
        "message_id": [f"<crm{i}@crm>" for i in range(rows // 10)],
        "record_id": range(1, rows // 10 + 1), "subject": "CRM", "sent_at": ts, "name": "R",
        "kind": "candidate", "excluded": False,
    })  # fmt: skip
    parsed = pd.DataFrame({
        F.FOLDER: "INBOX", F.UID: range(1, rows + 1), F.UIDVALIDITY: 1, F.DIRECTION: "in",
        F.MESSAGE_ID: [f"<m{i}@x>" for i in range(rows)],
        F.DEDUPE_KEY: [f"<m{i}@x>" for i in range(rows)], F.RECEIVED: ts,
        F.FROM: "", F.FROM_ADDR: [addresses[(i * 7919) % rows] for i in range(rows)],
        F.FROM_NAME: "", F.TO_ADDRS: [[] for _ in range(rows)],
        F.CC_ADDRS: [[] for _ in range(rows)], F.SUBJECT: "s",
        F.IN_REPLY_TO: [[f"<crm{i // 10}@crm>"] if i % 10 == 0 else [] for i in range(rows)],
        F.REFERENCES: [[] for _ in range(rows)], F.SIZE: 100, F.SEEN: False,
        F.DEFECTS: [[] for _ in range(rows)],
    })  # fmt: skip
    return parsed, contacts, crm


MEMORY_CHILD = """
import json, os, sys, threading, time
sys.path.insert(0, {root!r})


def high_water_kb():
    # VmHWM belongs to this process image (ru_maxrss would carry the parent's, across fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])


def pss_kb(pid):
    # proportional set size: pages shared since the fork count half in each process
    try:
        for line in open(f"/proc/{{pid}}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


together = [0]
stop = threading.Event()


def sample():
    # this process and its fetch helper, every 20 ms: their memory at the same moment
    me = os.getpid()
    while not stop.is_set():
        children = open(f"/proc/{{me}}/task/{{me}}/children").read().split()
        together[0] = max(together[0], pss_kb(me) + sum(pss_kb(int(c)) for c in children))
        time.sleep(0.02)


from primsync.db.engine import open_engine
from primsync.review import review_mailbox
engine = open_engine({url!r}, create=True)
before = high_water_kb()
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
result = review_mailbox(engine, {account!r}, [{folder!r}], option="all", secret={password!r})
stop.set()
sampler.join()
print(json.dumps({{"rows": len(result.all_rows), "before_kb": before,
                  "peak_kb": max(high_water_kb(), together[0])}}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--match-rows", type=int, default=20000)
    parser.add_argument("--import-messages", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-results", metavar="FILE", help="write the table as Markdown")
    parser.add_argument(
        "--link", choices=sorted(PROFILES),
        help="measure across a shaped link (lan: 1 ms RTT 1 Gbit/s; office: 20 ms 100 Mbit/s; "
        "home: 60 ms 20 Mbit/s), every baseline through the same link",
    )  # fmt: skip
    args = parser.parse_args(argv)
    link = PROFILES[args.link] if args.link else None
    if link is not None:
        measured, expected = check_shaping(link)
        print(f"link {link.name}: 10 MB in {measured:.3f} s, expected {expected:.3f} s", flush=True)
        if abs(measured - expected) > 0.1 * expected:
            print(f"the {link.name} link is off by more than 10 %: not measured", file=sys.stderr)
            return 3
    n, repeat = args.messages, args.repeat
    lines: list[tuple[str, str, str, str, str, str]] = []

    def report(goal, figure, baseline, ratio, target, met):  # type: ignore[no-untyped-def]
        lines.append((goal, figure, baseline, ratio, target, "yes" if met else "NO"))
        print(f"{goal:<34} {figure:<26} {baseline:<26} {ratio:<10} target {target:<14} "
              f"{'met' if met else 'MISSED'}", flush=True)  # fmt: skip

    with (
        tempfile.TemporaryDirectory() as tmp,
        DovecotServer({USER: PASSWORD}) as dovecot,
        contextlib.ExitStack() as stack,
    ):
        started = time.perf_counter()
        messages, people, crm_ids = build_messages(n)
        load_into_dovecot(dovecot, USER, PASSWORD, FOLDER, messages, warm=HEADER_ITEMS)
        # everything below talks to the server through the link (the baselines too)
        server = stack.enter_context(ShapedLink(dovecot.port, link)) if link else dovecot
        url = f"sqlite:///{tmp}/bench.db"
        engine = open_engine(url, create=True)
        seed_contacts(engine, host=server.host, port=server.port, people=people, crm_ids=crm_ids)
        print(f"{n} messages from {len(people)} correspondents loaded in "
              f"{time.perf_counter() - started:.1f} s; {machine()}\n", flush=True)  # fmt: skip

        # 1. full review vs imaplib's unparsed fetch of the same fields
        raw_s, _ = timed(lambda: raw_fetch(server, "1:*", HEADER_ITEMS), repeat)
        review_s, result = timed(
            lambda: review_mailbox(engine, ACCOUNT, [FOLDER], option="all", secret=PASSWORD), repeat
        )
        assert len(result.all_rows) == n, len(result.all_rows)
        ratio = raw_s / review_s
        report("full review throughput", f"{n / review_s:,.0f} msg/s ({review_s:.2f} s)",
               f"imaplib {n / raw_s:,.0f} msg/s", f"{ratio:.2f}x", ">= 0.5x",
               ratio >= 0.5)  # fmt: skip
        with helper_off():
            alone_s, _ = timed(
                lambda: review_mailbox(engine, ACCOUNT, [FOLDER], option="all", secret=PASSWORD),
                repeat,
            )
        ratio = raw_s / alone_s
        report("  the same, one process (no helper)",
               f"{n / alone_s:,.0f} msg/s ({alone_s:.2f} s)", f"imaplib {n / raw_s:,.0f} msg/s",
               f"{ratio:.2f}x", ">= 0.5x", ratio >= 0.5)  # fmt: skip

        # 2. re-sync with nothing new
        last = int(result.all_rows[F.UID].max())
        with write_session(engine) as session:
            scan = result.scans[0]
            session.add(FolderState(account_id=1, folder=FOLDER, uidvalidity=scan.uidvalidity,
                                    last_uid=last, highestmodseq=scan.highestmodseq,
                                    last_sync_at=datetime.now(UTC)))  # fmt: skip
        resync_s, again = timed(
            lambda: review_mailbox(engine, ACCOUNT, [FOLDER], option="since-last", secret=PASSWORD),
            max(repeat, 5),
        )
        assert again.all_rows.empty
        report("re-sync, nothing new (1 folder)", f"{resync_s * 1000:.1f} ms", "-", "-",
               "<= 50 ms", resync_s <= 0.05)  # fmt: skip

        # 3. matching rows against contacts
        parsed, contacts, crm = synthetic_match(args.match_rows)
        match_s, matched = timed(lambda: enrich(parsed, contacts, crm), repeat)
        assert int(matched[F.MATCHED].sum()) == args.match_rows
        report(f"match {args.match_rows:,} rows x contacts", f"{match_s:.2f} s", "-", "-",
               "<= 1 s", match_s <= 1.0)  # fmt: skip

        # 4. import of M selected messages vs a raw full fetch of the same messages
        m = min(args.import_messages, n)
        rows = result.frame.sort_values(F.UID).head(m)
        assert len(rows) == m, "every benchmark correspondent is a contact"
        uids = rows[F.UID].tolist()
        full_raw_s, nbytes = timed(
            lambda: raw_fetch(server, f"{uids[0]}:{uids[-1]}", "(BODY.PEEK[])"), repeat
        )
        import_times = []
        for _ in range(repeat):
            with engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM attachment")
                conn.exec_driver_sql("DELETE FROM imported_message")
            started = time.perf_counter()
            summary = import_selected(engine, result, rows, user="ana", accessible_to="Public",
                                      secret=PASSWORD)  # fmt: skip
            import_times.append(time.perf_counter() - started)
            assert summary.imported == m
        import_s = statistics.median(import_times)
        ratio = import_s / full_raw_s
        report(f"import {m:,} messages in full", f"{import_s:.2f} s",
               f"raw fetch {full_raw_s:.2f} s", f"{ratio:.2f}x", "<= 2x", ratio <= 2)  # fmt: skip

        # 5. peak memory of a whole review, in a fresh process: its high-water mark, or, with
        # the helper, the largest sum of both processes' proportional set sizes seen together
        for helper in ("1", "0"):
            child = subprocess.run(
                [sys.executable, "-c", MEMORY_CHILD.format(root=str(ROOT), url=url,
                                                           account=ACCOUNT, folder=FOLDER,
                                                           password=PASSWORD)],
                capture_output=True, text=True, check=True,
                env={**os.environ, "PRIMSYNC_FETCH_HELPER": helper},
            )  # fmt: skip
            mem = json.loads(child.stdout.strip().splitlines()[-1])
            peak_mb = mem["peak_kb"] / 1024
            what = "with the helper" if helper == "1" else "one process"
            report(f"peak memory, {n:,}-row review, {what}", f"{peak_mb:.0f} MB RSS",
                   f"{mem['before_kb'] / 1024:.0f} MB before", "-", "<= 300 MB",
                   peak_mb <= 300)  # fmt: skip

    if args.write_results:
        write_results(Path(args.write_results), lines, argv or sys.argv[1:])
    return 0


def write_results(path: Path, lines, argv) -> None:  # type: ignore[no-untyped-def]
    table = ["| goal | figure | baseline (same run) | ratio | target | met |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    table += ["| " + " | ".join(line) + " |" for line in lines]
    text = path.read_text() if path.exists() else ""
    block = (f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `python3 benchmarks/run.py "
             f"{' '.join(argv)}`\n\n{machine()}\n\n" + "\n".join(table) + "\n")  # fmt: skip
    path.write_text((text or "# Benchmark results\n") + block)


if __name__ == "__main__":
    sys.exit(main())
