"""primsync's speed and memory against baselines measured in the same run.

    python3 benchmarks/run.py                      # small sizes, a minute or two
    python3 benchmarks/run.py --messages 50000 --match-rows 100000 --import-messages 1000
    python3 benchmarks/run.py --messages 5000,50000,500000 --repeat 1   # how it scales

The benchmark mailbox has half its mail from senders on no record (``--unknown``), as a
recruiter's has: the review lets it go, and the drop rate is printed.

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
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.links import PROFILES, Profile, ShapedLink, check_shaping  # noqa: E402
from benchmarks.mailbox import build_messages, load_into_dovecot, seed_contacts  # noqa: E402
from benchmarks.steps import line, review_steps  # noqa: E402
from primsync import frame as F  # noqa: E402
from primsync.commit import import_selected  # noqa: E402
from primsync.db.engine import open_engine, write_session  # noqa: E402
from primsync.db.models import FolderState  # noqa: E402
from primsync.enrich import enrich  # noqa: E402
from primsync.parse import REVIEW_HEADERS  # noqa: E402
from primsync.review import ReviewResult, review_mailbox  # noqa: E402
from tests.servers import DovecotServer  # noqa: E402

ACCOUNT, USER, PASSWORD, FOLDER = "ana@agency.example", "bench", "bench-pw", "Bench"
LOOPBACK = Profile("loopback", 0, 100_000)  # no delay: only counts the round trips
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
def env(**values: str):
    """Environment variables set for the block (PRIMSYNC_COMPRESS=0 ...)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def alternating(runs: dict, repeat: int) -> dict[str, float]:
    """The median wall time of each callable, run in turn ``repeat`` times (A B C A B C ...),
    so that the machine's drift touches each alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


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
import json, sys
sys.path.insert(0, {root!r})


def high_water_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])


from primsync.db.engine import open_engine
from primsync.review import review_mailbox
engine = open_engine({url!r}, create=True)
before = high_water_kb()
result = review_mailbox(engine, {account!r}, [{folder!r}], option="all", secret={password!r},
                        keep_unmatched=False)
print(json.dumps({{"rows": len(result.all_rows), "before_kb": before,
                  "peak_kb": high_water_kb()}}))
"""

# the peak memory of a whole command: the largest child this process waited for is the command
CHILD_PEAK = """
import json, resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print(json.dumps({"peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


# the command's work in a fresh process, timed inside: the imports `primsync review` makes,
# a first review (no cache filled by an earlier one), its JSON written as the command does
CHILD_PARTS = """
import json, sys, time
started = time.perf_counter()
from primsync import frame as F
from primsync.cli_common import write_out
from primsync.db.engine import open_engine
from primsync.review import review_mailbox
imported = time.perf_counter()
url, account, folder, out = sys.argv[1:5]
result = review_mailbox(open_engine(url), account, [folder], option="all", keep_unmatched=False)
reviewed = time.perf_counter()
write_out(F.frame_json_pieces(result.frame), out)
written = time.perf_counter()
print(json.dumps({"imports": imported - started, "review": reviewed - imported,
                  "json": written - reviewed, "rows": len(result.frame)}))
"""


def sizes(text: str) -> list[int]:
    """``--messages``: one size or several, comma-separated (``5000,50000,500000``)."""
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size or a list of sizes: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"sizes are whole numbers of messages: {text!r}")
    return values


def share(text: str) -> float:
    """``--unknown``: a share of the mail, from 0 to below 1."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("a share from 0 to below 1 (0.5: half)")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=sizes, default=[3000],
                        help="the mailbox's size, or sizes: 5000,50000,500000")  # fmt: skip
    parser.add_argument("--unknown", type=share, default=0.5,
                        help="the share of mail from senders on no record")  # fmt: skip
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
        # the check is itself a measurement on a shared machine: a moment of CPU taken by
        # another process slows the proxy's pacing; three tries, the link kept if one is right
        for _ in range(3):
            measured, expected = check_shaping(link)
            print(f"link {link.name}: 10 MB in {measured:.3f} s, expected {expected:.3f} s",
                  flush=True)  # fmt: skip
            if abs(measured - expected) <= 0.1 * expected:
                break
        else:
            print(f"the {link.name} link is off by more than 10 %: not measured", file=sys.stderr)
            return 3
    lines: list[tuple[str, str, str, str, str, str]] = []

    def report(goal, figure, baseline, ratio, target, met):  # type: ignore[no-untyped-def]
        lines.append((goal, figure, baseline, ratio, target, "yes" if met else "NO"))
        print(f"{goal:<40} {figure:<26} {baseline:<26} {ratio:<8} target {target:<16} "
              f"{'met' if met else 'MISSED'}", flush=True)  # fmt: skip

    scale: dict[int, Scale] = {}
    for i, n in enumerate(args.messages):
        if i:
            print(flush=True)
        scale[n] = measure(n, args, link, report, match=i == 0)
    if len(scale) > 1:
        scale_lines(scale, report)

    if args.write_results:
        title = "loopback"
        if link:
            title = f"link: {link.name} ({link.rtt_ms:g} ms RTT, {link.mbit_s:g} Mbit/s)"
        title += f"; {args.unknown:.0%} of the mail from senders on no record"
        write_results(Path(args.write_results), lines, argv or sys.argv[1:], title)
    return 0


@dataclass(frozen=True)
class Scale:
    """What one size gave: seconds per message of the in-process review and of the command,
    and the peak memory (MB) of each."""

    review_s_per_message: float
    cli_s_per_message: float
    review_peak_mb: float
    cli_peak_mb: float


def scale_lines(scale: dict[int, Scale], report) -> None:  # type: ignore[no-untyped-def]
    """Per size: time per message against the size before it (within 1.2x), peak memory
    (at most 1 GB)."""
    print(flush=True)
    sizes_ = sorted(scale)
    for before, n in zip(sizes_, sizes_[1:], strict=False):
        for what, per in (("review", "review_s_per_message"), ("command", "cli_s_per_message")):
            now_, then = getattr(scale[n], per), getattr(scale[before], per)
            ratio = now_ / then
            report(f"scale: {what} per message, {n:,}", f"{now_ * 1e6:.1f} us/msg",
                   f"{then * 1e6:.1f} us/msg at {before:,}", f"{ratio:.2f}x", "<= 1.2x",
                   ratio <= 1.2)  # fmt: skip
    for n in sizes_:
        for what, peak in (("review", scale[n].review_peak_mb), ("command", scale[n].cli_peak_mb)):
            report(f"scale: peak memory, {what}, {n:,}", f"{peak:.0f} MB RSS", "-", "-",
                   "<= 1 GB", peak <= 1024)  # fmt: skip


def dovecot_log_on_failure(dovecot: DovecotServer):  # type: ignore[no-untyped-def]
    """An exit callback that prints the end of the benchmark's Dovecot log when the run fails
    (the log goes with the server's temporary folder): why a connection was refused."""

    def show(kind, value, traceback) -> bool:  # type: ignore[no-untyped-def]
        log = dovecot.root / "dovecot.log"
        if kind is not None and log.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            print(f"the benchmark's Dovecot log ends:\n{tail}", file=sys.stderr, flush=True)
        return False  # the failure goes on

    return show


def peak_of(command: list[str], env: dict[str, str]) -> float:
    """The peak resident memory (MB) of a whole command, run once."""
    child = subprocess.run([sys.executable, "-c", CHILD_PEAK, *command], env=env,
                           capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(child.stdout.strip().splitlines()[-1])["peak_kb"] / 1024


def measure(n: int, args, link, report, *, match: bool) -> Scale:  # type: ignore[no-untyped-def]
    """Every figure for a mailbox of ``n`` messages (the matching, which does not read mail,
    only when ``match``)."""
    repeat = args.repeat
    slow = link is not None and link.rtt_ms >= 20  # office-to-cloud, home
    with (
        tempfile.TemporaryDirectory() as tmp,
        DovecotServer({USER: PASSWORD}) as dovecot,
        contextlib.ExitStack() as stack,
    ):
        stack.push(dovecot_log_on_failure(dovecot))
        started = time.perf_counter()
        messages, people, crm_ids = build_messages(n, unknown=args.unknown)
        load_into_dovecot(dovecot, USER, PASSWORD, FOLDER, messages, warm=HEADER_ITEMS)
        del messages  # the benchmark's own memory is not the review's
        # everything below talks to the server through the link (the baselines too); on
        # loopback, a link without delay counts the re-sync's round trips
        server = stack.enter_context(ShapedLink(dovecot.port, link or LOOPBACK))
        url = f"sqlite:///{tmp}/bench.db"
        engine = open_engine(url, create=True)
        seed_contacts(engine, host=server.host, port=server.port, people=people, crm_ids=crm_ids)
        print(f"{n} messages from {len(people)} correspondents (and {args.unknown:.0%} of the "
              f"mail from senders on no record) loaded in {time.perf_counter() - started:.1f} s; "
              f"{machine()}\n", flush=True)  # fmt: skip

        # 1. the review, compressed and not, in this process and as the command line, against
        # imaplib's unparsed, uncompressed fetch of the same fields; the runs alternate. The
        # review is the command's: only the rows shown are kept.
        kept: list[int] = []

        def review(compress: str) -> Callable[[], object]:
            def run() -> object:
                with env(PRIMSYNC_COMPRESS=compress):
                    result = review_mailbox(engine, ACCOUNT, [FOLDER], option="all",
                                            secret=PASSWORD, keep_unmatched=False)  # fmt: skip
                assert result.left_out is not None
                assert len(result.all_rows) + result.left_out.unknown == n
                kept.append(len(result.all_rows))
                return result
            return run

        out = Path(tmp) / "review.json"
        cli = [sys.executable, "-m", "primsync.cli", "review", "--db", url, "--account",
               ACCOUNT, "--folder", FOLDER, "--option", "all", "--format", "json",
               "-o", str(out)]  # fmt: skip
        cli_env = {**os.environ, "PRIMSYNC_PASSWORD": PASSWORD, "PYTHONPATH": str(ROOT)}

        def whole_process() -> None:
            subprocess.run(cli, env=cli_env, check=True, capture_output=True)

        parts: list[dict[str, float]] = []

        def fresh_process() -> None:
            child = subprocess.run(
                [sys.executable, "-c", CHILD_PARTS, url, ACCOUNT, FOLDER, str(out) + ".parts"],
                env=cli_env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            parts.append(json.loads(child.stdout.strip().splitlines()[-1]))

        times = alternating({
            "raw": lambda: raw_fetch(server, "1:*", HEADER_ITEMS),
            "compressed": review("1"), "plain": review("0"), "cli": whole_process,
            "parts": fresh_process,
        }, repeat)  # fmt: skip
        assert len(json.loads(out.read_text())) == kept[-1]
        review_s, cli_s = times["compressed"], times["cli"]
        dropped = 1 - kept[-1] / n
        raw_s = times["raw"]
        for name, label in (("compressed", "compressed"), ("plain", "not compressed")):
            speed = raw_s / times[name]
            if name == "compressed" and slow:
                target, met = ">= 1.5x", speed >= 1.5
            elif link is None:
                target, met = ">= 0.5x", speed >= 0.5
            else:
                target, met = ">= 0.9x", speed >= 0.9
            report(f"review {n:,} messages, {label}",
                   f"{n / times[name]:,.0f} msg/s ({times[name]:.2f} s)",
                   f"imaplib {raw_s:.2f} s", f"{speed:.2f}x", target, met)  # fmt: skip
        report("  dropped: senders on no record", f"{dropped:.1%} ({n - kept[-1]:,} messages)",
               f"{args.unknown:.0%} written so", "-", "-", True)  # fmt: skip
        ratio = times["cli"] / times["compressed"]
        report("  `primsync review --format json -o F`", f"{times['cli']:.2f} s (whole process)",
               f"in-process {times['compressed']:.2f} s", f"{ratio:.2f}x", "<= 1.3x",
               ratio <= 1.3)  # fmt: skip
        part = {k: statistics.median(p[k] for p in parts) for k in ("imports", "review", "json")}
        assert all(p["rows"] == kept[-1] for p in parts)
        report("    its parts, timed inside a process",
               f"imports {part['imports']:.2f} + review {part['review']:.2f} + JSON "
               f"{part['json']:.2f} s", f"in-process {times['compressed']:.2f} s",
               f"{part['review'] / times['compressed']:.2f}x", "-", True)  # fmt: skip
        # where the review's time goes: more reviews, their steps timed (benchmarks/steps.py);
        # the one whose whole is the median is shown
        timed_runs = sorted((review_steps(review("1")) for _ in range(repeat)), key=lambda r: r[1])
        steps, whole = timed_runs[len(timed_runs) // 2]
        report("    where the review's time goes", line(steps, whole),
               f"in-process {times['compressed']:.2f} s", "-", "-", True)  # fmt: skip
        help_s = alternating({"help": lambda: subprocess.run(
            [sys.executable, "-m", "primsync.cli", "--help"], env=cli_env, check=True,
            capture_output=True)}, max(repeat, 5))["help"]  # fmt: skip
        report("  `primsync --help`", f"{help_s:.2f} s", "-", "-", "<= 0.3 s", help_s <= 0.3)

        # 2. re-sync with nothing new: the client's round trips, on one folder and on two
        result = review("1")()
        assert isinstance(result, ReviewResult)
        scan = result.scans[0]
        inbox = imaplib.IMAP4(dovecot.host, dovecot.port)
        inbox.login(USER, PASSWORD)
        status = inbox.status("INBOX", "(UIDVALIDITY)")[1][0]
        inbox.logout()
        with write_session(engine) as session:
            for folder, validity, last in (
                (FOLDER, scan.uidvalidity, max(scan.uids)),
                ("INBOX", int(status.split(b"UIDVALIDITY ")[1].rstrip(b")")), 0),
            ):
                session.add(FolderState(account_id=1, folder=folder, uidvalidity=validity,
                                        last_uid=last, last_sync_at=datetime.now(UTC)))  # fmt: skip
        trips = {}
        for folders in ([FOLDER], [FOLDER, "INBOX"]):
            server.round_trips = 0
            again = review_mailbox(engine, ACCOUNT, folders, option="since-last", secret=PASSWORD)
            assert again.all_rows.empty and all(s.note == "nothing new" for s in again.scans)
            trips[len(folders)] = server.round_trips
        resync_s = alternating({"resync": lambda: review_mailbox(
            engine, ACCOUNT, [FOLDER], option="since-last", secret=PASSWORD)},
            max(repeat, 5))["resync"]  # fmt: skip
        per_folder = trips[2] - trips[1]
        rtt = f" = {resync_s * 1000 / link.rtt_ms:.1f} RTT" if link else ""
        report("re-sync, nothing new", f"{resync_s * 1000:.0f} ms{rtt}",
               f"{trips[1]} round trips (1 folder)", f"{per_folder}/folder",
               "<= 2 per folder", per_folder <= 2 and trips[1] <= 2 + 2)  # fmt: skip

        # 3. import of M messages vs a raw, uncompressed full fetch of the same messages
        m = min(args.import_messages, len(result.frame))
        rows = result.frame.sort_values(F.UID).head(m)
        uids = rows[F.UID].tolist()
        uid_set = ",".join(map(str, uids))

        def import_rows(compress: str) -> Callable[[], None]:
            def run() -> None:
                with engine.begin() as conn:
                    conn.exec_driver_sql("DELETE FROM attachment")
                    conn.exec_driver_sql("DELETE FROM imported_message")
                with env(PRIMSYNC_COMPRESS=compress):
                    summary = import_selected(engine, result, rows, user="ana",
                                              accessible_to="Public", secret=PASSWORD)  # fmt: skip
                assert summary.imported == m
            return run

        times = alternating({
            "raw": lambda: raw_fetch(server, uid_set, "(BODY.PEEK[])"),
            "compressed": import_rows("1"), "plain": import_rows("0"),
        }, repeat)  # fmt: skip
        for name, label in (("compressed", "compressed"), ("plain", "not compressed")):
            ratio = times[name] / times["raw"]
            target = "<= 1.2x" if slow else "<= 2x (kept)" if link is None else "-"
            limit = 1.2 if slow else 2.0
            report(f"import {m:,} messages in full, {label}", f"{times[name]:.2f} s",
                   f"raw fetch {times['raw']:.2f} s", f"{ratio:.2f}x", target,
                   ratio <= limit or (target == "-"))  # fmt: skip

        review_peak = cli_peak = float("nan")
        if link is None:
            if match:
                # 4. matching rows against contacts (no network)
                parsed, contacts, crm = synthetic_match(args.match_rows)
                match_s, matched = timed(lambda: enrich(parsed, contacts, crm), repeat)
                assert int(matched[F.MATCHED].sum()) == args.match_rows
                report(f"match {args.match_rows:,} rows x contacts", f"{match_s:.2f} s", "-",
                       "-", "<= 1 s (kept)", match_s <= 1.0)  # fmt: skip

            # 5. peak memory of a whole review, in a fresh process, and of the command
            child = subprocess.run(
                [sys.executable, "-c", MEMORY_CHILD.format(root=str(ROOT), url=url,
                                                           account=ACCOUNT, folder=FOLDER,
                                                           password=PASSWORD)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            mem = json.loads(child.stdout.strip().splitlines()[-1])
            review_peak = mem["peak_kb"] / 1024
            report(f"peak memory, {n:,}-message review", f"{review_peak:.0f} MB RSS",
                   f"{mem['before_kb'] / 1024:.0f} MB before", "-", "<= 1 GB",
                   review_peak <= 1024)  # fmt: skip
            cli_peak = peak_of(cli, cli_env)
            report(f"  peak memory, `primsync review` of {n:,}", f"{cli_peak:.0f} MB RSS",
                   f"{kept[-1]:,} rows written", "-", "<= 1 GB", cli_peak <= 1024)  # fmt: skip
        return Scale(review_s / n, cli_s / n, review_peak, cli_peak)


def write_results(path: Path, lines, argv, title: str) -> None:  # type: ignore[no-untyped-def]
    table = ["| goal | figure | baseline (same run) | ratio | target | met |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    table += ["| " + " | ".join(line) + " |" for line in lines]
    text = path.read_text() if path.exists() else ""
    block = (f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `python3 benchmarks/run.py "
             f"{' '.join(argv)}`\n\n{title}; {machine()}\n\n"
             + "\n".join(table) + "\n")  # fmt: skip
    path.write_text((text or "# Benchmark results\n") + block)


if __name__ == "__main__":
    sys.exit(main())
