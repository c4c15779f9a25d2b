"""Reply matching on a labelled mailbox: precision and recall of "green + probable reply".

    python3 benchmarks/replies.py [--threshold 0.8] [--set synthetic|real|both]

Beside this file's synthetic cases it measures real mailing-list threads
(benchmarks/threads.py), twice: the Sent copies as they were sent, and naming every replier.

The mailbox (built here, used by tests/test_replies.py too) holds 63 messages, each labelled
with what it is: a reply to one CRM message, or not. It covers ids rewritten by the server and
learned from the Sent copy, replies without reference headers, reply and forward prefixes of
French, German, Italian, Spanish, Portuguese, Scandinavian, Polish, Turkish, Dutch, Greek,
Russian and Chinese mailers, stacked prefixes, forwards, a list tag, replies found only by
Outlook's Thread-Index, a reply from a second address, and non-replies that must stay yellow (a
new thread with the same subject a month later, "Re:" on a subject the CRM never sent, the same
subject from someone else, a reply dated before the CRM message, a reply naming other ids).

A row counts as *claimed* when it is green, or a probable reply at or above the threshold (what
the grid pre-ticks); it is *right* when the CRM message it is annexed to is the labelled one.
Precision = right / claimed; recall = right / labelled replies.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from primsync import frame as F  # noqa: E402
from primsync.accounts import ConnectionSettings  # noqa: E402
from primsync.db.engine import write_session  # noqa: E402
from primsync.db.models import CrmMessage, MailAccount, Record, RecordAddress  # noqa: E402
from primsync.demo import DemoMail, seed_database, seed_mailbox  # noqa: E402
from primsync.imap import connect  # noqa: E402

ACCOUNT = "replies@agency.example"
USER = "replies"
ME = ("Ana Martin", ACCOUNT)
FOLDERS = ["INBOX", "Sent"]


@dataclass(frozen=True)
class Case:
    """One labelled message: the CRM message of its case, what the Sent folder holds of it,
    and the message received."""

    key: str
    what: str  # the case in words
    crm_subject: str
    crm_days: float  # when the CRM message was sent, days before now
    subject: str  # of the message received
    days: float  # when it was received, days before now
    copy: str | None = None  # "same" id, "rewritten" id, or None: no Sent copy
    names: str | None = None  # the id it names: "crm", "copy", "other", or None
    thread: bool = False  # the Sent copy and the message share an Outlook Thread-Index
    own_thread: bool = False  # the message has a Thread-Index of another thread
    # "record" (the case's person), "other" (another record), "second" (the person's second
    # address), "colleague" (on a record of their own, in Cc of the Sent copy)
    sender: str = "record"
    capitals: bool = False  # the CRM keeps its Message-ID in capitals (its mailer's own case)
    label: str = "yellow"  # what it must be: "green", "probable" or "yellow"
    answers: str | None = "self"  # the CRM message it answers: "self", "latest", None
    extra_crm_days: float | None = None  # a second CRM message of the same subject, same person
    cc: list[str] = field(default_factory=list)


def _cases() -> list[Case]:
    cases: list[Case] = []

    def add(what: str, n: int, **kw: object) -> None:
        for i in range(n):
            key = f"c{len(cases) + 1:02d}"
            subject = str(kw.pop("crm_subject", "")) or f"Interview slot {key.upper()}"
            values = {"crm_subject": subject, "crm_days": 6.0, "days": 2.0 + i * 0.1, **kw}
            if "subject" not in kw:
                values["subject"] = f"Re: {subject}"
            elif kw["subject"] == "=":  # the CRM message's own subject, no prefix
                values["subject"] = subject
            cases.append(Case(key=key, what=what, **values))  # type: ignore[arg-type]

    add("reply naming the CRM id (In-Reply-To)", 5, names="crm", label="green")
    for minutes in (0.5, 1, 2, 3, 4, 6, 8, 9):
        add(f"id rewritten by the server ({minutes} min), learned from the Sent copy", 1,
            copy="rewritten", names="copy", label="green", crm_days=6 + minutes / 1440)  # fmt: skip
    add("no reference headers, sender a recipient of the Sent copy", 3, copy="same",
        label="probable")  # fmt: skip
    add("no reference headers, sender on the CRM message's record", 3, label="probable")
    add("no reference headers, sender a colleague in Cc of the Sent copy, on a record of their "
        "own", 2, copy="same", sender="colleague", label="probable")  # fmt: skip
    add("the CRM's id in capitals, kept by the server, named by the reply", 1, copy="same",
        names="crm", capitals=True, label="green")  # fmt: skip
    add("the CRM's id in capitals named by the reply, no Sent copy", 1, names="crm",
        capitals=True, label="green")  # fmt: skip
    add("no reply prefix, same subject, from a recipient of the Sent copy half a day later", 2,
        copy="same", subject="=", days=5.5, label="probable")  # fmt: skip
    add("no reply prefix, same subject, 8 days later: a new mail on that matter", 1,
        subject="=", crm_days=10, days=2, answers=None)  # fmt: skip
    for prefix in ("AW:", "SV:", "VS:", "R:", "RE:", "Réf :", "Rif:", "RES:", "Odp:", "YNT:",
                   "Antw:", "Re: AW: Re:", "Re[2]:", "回复：", "Απ:", "Отв:"):  # fmt: skip
        key = f"c{len(cases) + 1:02d}"
        subject = f"Entretien {key}"
        cases.append(Case(key, f"reply prefix {prefix!r}", subject, 6.0, f"{prefix} {subject}", 2.0,
                          label="probable"))  # fmt: skip
    for prefix in ("Fwd:", "WG:", "TR:"):
        key = f"c{len(cases) + 1:02d}"
        subject = f"Offer letter {key}"
        cases.append(Case(key, f"forward {prefix!r} by the candidate", subject, 6.0,
                          f"{prefix} {subject}", 1.5, label="probable"))  # fmt: skip
    add("a new thread with the same subject a month later", 3, crm_days=40, days=5,
        subject="", answers=None)  # fmt: skip
    add('"Re:" 40 days after the CRM message (out of the window)', 2, crm_days=41, days=1,
        answers=None)  # fmt: skip
    for tag in ("[jobs-list]", "[EXT]"):
        key = f"c{len(cases) + 1:02d}"
        subject = f"Availability {key}"
        cases.append(Case(key, f"list tag {tag}", subject, 6.0, f"{tag} Re: {subject}", 2.0,
                          label="probable"))  # fmt: skip
    add("Outlook Thread-Index only (subject changed, no reference headers)", 3, copy="same",
        thread=True, subject="", label="probable")  # fmt: skip
    add("unrelated new message from the contact", 6, subject="", answers=None)
    add('"Re:" on a subject the CRM never sent', 3, subject="Re: lunch plans", answers=None)
    add("the same subject from a contact of another record: probable (0.60), not ticked", 2,
        sender="other", label="probable", answers=None)  # fmt: skip
    add("a reply dated before the CRM message", 1, crm_days=3, days=5, answers=None)
    add("a reply naming other ids (another thread of that subject): probable, not ticked", 1,
        names="other", label="probable", answers=None)  # fmt: skip
    add("two CRM messages of the subject: the latest before it", 1, extra_crm_days=10,
        crm_subject="Timesheet", label="probable", answers="latest")  # fmt: skip
    add("a reply from a second address, found by Thread-Index", 1, copy="same", thread=True,
        subject="Re: ok", sender="second", label="probable")  # fmt: skip
    # subjects left "" above: a new mail's own subject
    return [
        c if c.subject else Case(**{**c.__dict__, "subject": _own_subject(c)}) for c in cases
    ]


def _own_subject(case: Case) -> str:
    if "month later" in case.what:
        return case.crm_subject  # the same subject, no "Re:": a new thread
    if "Thread-Index" in case.what:
        return f"Quick question {case.key}"
    return f"Hello from {case.key}"


CASES = _cases()


def person(case: Case) -> tuple[str, str]:
    return (f"Person {case.key.upper()}", f"{case.key}@cand.example")


def colleague(case: Case) -> tuple[str, str]:
    return (f"Colleague {case.key.upper()}", f"{case.key}.colleague@client.example")


def crm_message_id(case: Case, extra: bool = False) -> str:
    found = f"<{case.key}{'.old' if extra else ''}.crm@crm.agency.example>"
    return found.upper().replace("<C", "<c") if case.capitals else found


def _thread_index(case: Case, replies: int = 0) -> str:
    base = (case.key * 11).encode()[:22]
    return base64.b64encode(base + b"\x01\x02\x03\x04\x05" * replies).decode()


def mails(now: datetime) -> list[DemoMail]:
    """The Sent copies and the received messages of every case."""
    out = []
    for case in CASES:
        who = person(case)
        if case.copy:
            copy_id = (
                crm_message_id(case)
                if case.copy == "same"
                else f"<AM{case.key}RW@exchange.example>"
            )
            out.append(DemoMail("Sent", ME, [who], case.crm_subject, case.crm_days,
                                message_id=copy_id, cc=[colleague(case)] if case.sender ==
                                "colleague" else [],
                                headers={"Thread-Index": _thread_index(case)} if case.thread
                                else {}))  # fmt: skip
        sender = {
            "record": who,
            "other": ("Someone Else", f"c0{2 if case.key == 'c01' else 1}@cand.example"),
            "second": (who[0], f"{case.key}.private@home.example"),
            "colleague": colleague(case),
        }[case.sender]
        headers = {}
        if case.thread:
            headers["Thread-Index"] = _thread_index(case, replies=1)
        elif case.own_thread:
            headers["Thread-Index"] = base64.b64encode(b"z" * 27).decode()
        names = {
            "crm": crm_message_id(case),
            "copy": f"<AM{case.key}RW@exchange.example>",
            "other": f"<{case.key}.elsewhere@cand.example>",
            None: None,
        }[case.names]
        out.append(DemoMail("INBOX", sender, [ME], case.subject, case.days,
                            message_id=f"<{case.key}.reply@cand.example>", in_reply_to=names,
                            headers=headers))  # fmt: skip
    return out


def fill_mailbox(server, password: str, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """APPEND the cases' messages to the Dovecot user ``USER``'s INBOX and Sent."""
    settings = ConnectionSettings(address=ACCOUNT, host=server.host, port=server.port,
                                  username=USER, security="none")  # fmt: skip
    with connect(settings, password) as box:
        seed_mailbox(box, mails(now), now=now)


def seed(engine, server, *, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """The demo's groups and users, the account ``ACCOUNT`` (Dovecot user ``USER``), and one
    candidate record a case with its CRM message(s)."""
    seed_database(engine, host=server.host, port=server.port, username="ana")
    with write_session(engine) as session:
        session.add(MailAccount(address=ACCOUNT, username=USER, owner_id=1, host=server.host,
                                port=server.port, security="none"))  # fmt: skip
        for case in CASES:
            name, address = person(case)
            record = Record(kind="candidate", name=name, created_at=now - timedelta(days=300))
            session.add(record)
            session.flush()
            session.add(RecordAddress(record_id=record.id, address=address))
            if case.sender == "colleague":  # the client's other manager, a record of their own
                other = Record(kind="contact", name=colleague(case)[0],
                               created_at=now - timedelta(days=300))  # fmt: skip
                session.add(other)
                session.flush()
                session.add(RecordAddress(record_id=other.id, address=colleague(case)[1]))
            session.add(CrmMessage(record_id=record.id, message_id=crm_message_id(case),
                                   subject=case.crm_subject, sent_by_id=1,
                                   sent_at=now - timedelta(days=case.crm_days)))  # fmt: skip
            if case.extra_crm_days is not None:
                older = now - timedelta(days=case.extra_crm_days)
                session.add(CrmMessage(record_id=record.id, subject=case.crm_subject,
                                       message_id=crm_message_id(case, extra=True),
                                       sent_by_id=1, sent_at=older))  # fmt: skip


def expected(engine) -> dict[str, tuple[str, int | None, int | None]]:  # type: ignore[no-untyped-def]
    """By case key: the context it must get, the CRM message (database id) it must be annexed
    to, and the one it truly answers (None: not a reply; a probable row then stays below the
    threshold)."""
    from sqlalchemy import select

    with write_session(engine) as session:
        ids = dict(session.execute(select(CrmMessage.message_id, CrmMessage.id)).all())
    out = {}
    for case in CASES:
        annexed = ids[crm_message_id(case)] if case.label != "yellow" else None
        out[case.key] = (case.label, annexed, annexed if case.answers else None)
    return out


def outcome(frame) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """By case key: the received row's context, annexed CRM id, confidence and selection."""
    rows = frame[frame[F.FOLDER] == "INBOX"]
    out = {}
    for row in rows.to_dict("records"):
        key = row[F.MESSAGE_ID].split(".", 1)[0].strip("<")
        out[key] = {
            "context": row[F.CONTEXT],
            "crm": None if pd.isna(row[F.ANNEXED_TO_ID]) else int(row[F.ANNEXED_TO_ID]),
            "confidence": row[F.CONFIDENCE],
            "selected": bool(row[F.SELECTED]),
            "matched": bool(row[F.MATCHED]),
            "evidence": row[F.EVIDENCE],
        }
    return out


def scores(frame, labels, threshold: float):  # type: ignore[no-untyped-def]
    """Precision, recall, and the cases it got wrong (in words)."""
    got = outcome(frame)
    claimed = right = replies = 0
    wrong = []
    for case in CASES:
        _, _, crm = labels[case.key]
        row = got[case.key]
        is_reply = crm is not None
        replies += is_reply
        claims = row["context"] == "green" or (
            row["context"] == "probable" and row["confidence"] >= threshold
        )
        if claims:
            claimed += 1
            if row["crm"] == crm:
                right += 1
        if claims != is_reply or (claims and row["crm"] != crm):
            wrong.append(f"{case.key} {case.what}: {row['context']} ({row['evidence']})")
    return (right / claimed if claimed else 1.0), (right / replies if replies else 1.0), wrong


def _synthetic(threshold: float) -> None:
    from primsync.db.engine import open_engine
    from primsync.review import review_mailbox
    from tests.servers import DovecotServer

    now = datetime.now(UTC).replace(microsecond=0)
    password = "replies-pw"
    with tempfile.TemporaryDirectory() as tmp, DovecotServer({USER: password}) as server:
        engine = open_engine(f"sqlite:///{tmp}/replies.db", create=True)
        fill_mailbox(server, password, now)
        seed(engine, server, now=now)
        result = review_mailbox(engine, ACCOUNT, FOLDERS, option="all", secret=password,
                                threshold=threshold)  # fmt: skip
        precision, recall, wrong = scores(result.all_rows, expected(engine), threshold)
        engine.dispose()
    replies = sum(1 for c in CASES if c.answers)
    print(f"synthetic: {len(CASES)} labelled messages ({replies} replies to a CRM message, "
          f"{len(CASES) - replies} not), threshold {threshold:g}")  # fmt: skip
    print(f"  precision {precision:.3f}  recall {recall:.3f}  (aim: recall >= 0.95 with "
          f"precision >= 0.98)")  # fmt: skip
    for line in wrong:
        print("  wrong:", line)


def _real(threshold: float) -> None:
    from benchmarks import threads
    from primsync.db.engine import open_engine
    from tests.servers import DovecotServer

    why = threads.missing()
    if why:
        print(f"real threads: not measured: {why}")
        return
    mails = threads.read_corpus()
    source = threads.folder() / "SOURCE"
    name = source.read_text().strip() if source.exists() else "notmuch"
    for variant in threads.VARIANTS:
        labelled = threads.labelled_set(mails, variant)
        password = "threads-pw"
        users = {threads.USER: password}
        with tempfile.TemporaryDirectory() as tmp, DovecotServer(users) as server:
            engine = open_engine(f"sqlite:///{tmp}/threads.db", create=True)
            threads.fill_mailbox(server, password, labelled)
            result, crm_ids = threads.review(engine, server, password, labelled)
            curve = [threads.score(result.all_rows, labelled, crm_ids, t)
                     for t in sorted({*threads.THRESHOLDS, threshold})]  # fmt: skip
            engine.dispose()
        print(f"real threads ({name}'s test corpora), Sent copies {variant}: {labelled.summary()}")
        print(f"  the rules by hand: recall {threads.by_hand(labelled):.3f}")
        print("  threshold  precision  recall  claimed")
        for s in curve:
            mark = "  <- default" if s.threshold == threshold else ""
            print(f"  {s.threshold:9.2f}  {s.precision:9.3f}  {s.recall:6.3f}  "
                  f"{s.claimed:7d}{mark}")  # fmt: skip
        for line in next(s for s in curve if s.threshold == threshold).wrong:
            print("  wrong:", line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--set", choices=["synthetic", "real", "both"], default="both",
                        help="the labelled set(s) to measure: this file's cases, real "
                        "threads (benchmarks/threads.py), or both")  # fmt: skip
    args = parser.parse_args()
    from primsync.replies import DEFAULT_THRESHOLD

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if args.set in ("synthetic", "both"):
        _synthetic(threshold)
    if args.set in ("real", "both"):
        _real(threshold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
