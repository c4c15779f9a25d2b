"""A realistic mailbox for benchmarks, written straight into a private Dovecot's Maildir, and a
contacts database of matching size.

Correspondents follow a long-tailed (Zipf) volume; about a fifth of the mail replies to CRM
messages (through References chains or In-Reply-To); names and subjects are often RFC 2047
encoded; one folder in ten messages is a sent folder's worth. A share of the mail (``unknown``)
comes from senders on no record — notifications, newsletters, strangers — as in a recruiter's
real mailbox, where the review drops it."""

from __future__ import annotations

import os
import random
import socket
import time
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import Engine, insert

from primsync.db.engine import init_db, write_session
from primsync.db.models import (
    AppUser,
    CrmMessage,
    MailAccount,
    Record,
    RecordAddress,
    SecurityGroup,
)

FIRST = ["Léa", "Tom", "Sofia", "Jürgen", "Ana", "Marc", "Chloé", "Ömer", "Ines", "Paul", "Zoë"]
LAST = ["Dubois", "Baker", "Rossi", "Müller", "Martin", "Nguyen", "García", "Smith", "Ødegaard"]
SUBJECTS = ["Interview", "Your application", "Shortlist", "Contract", "Availability",
            "Références", "Entretien prévu", "Offer letter", "Timesheet", "Relocation"]  # fmt: skip


def correspondents(n: int, rng: random.Random) -> list[tuple[str, str]]:
    people = []
    for i in range(n):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        domain = rng.choice(
            ["mail.example", "corp.example", "agency.example", f"c{i % 40}.example"]
        )
        people.append((name, f"person{i}@{domain}"))
    return people


def _encoded(text: str, rng: random.Random) -> str:
    if text.isascii() and rng.random() < 0.7:
        return text
    return Header(text, "utf-8").encode()


NOTIFIERS = ["LinkedIn", "Indeed Alerts", "Newsletter RH", "Calendly", "Équipe Welcome",
             "Service client", "Jobboard Digest", "No Reply"]  # fmt: skip


def strangers(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """Senders on no record: notifiers (encoded names), colleagues, people never filed."""
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append((rng.choice(NOTIFIERS), f"noreply{i}@notify{i % 25}.example"))
        else:
            out.append(
                (f"{rng.choice(FIRST)} {rng.choice(LAST)}", f"stranger{i}@web{i % 60}.example")
            )
    return out


def build_messages(
    count: int,
    *,
    seed: int = 7,
    people: int = 300,
    now: datetime | None = None,
    unknown: float = 0.0,
):
    """(raw bytes, internal date) of ``count`` messages, the known correspondents, and the CRM
    ids they answer. A share ``unknown`` of the messages (drawn at random) comes from senders on
    no record (:func:`strangers`), never answering CRM mail."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    folks = correspondents(people, rng)
    weights = [1 / (rank + 1) for rank in range(people)]
    others = strangers(people * 4, random.Random(seed + 1))
    other_weights = [1 / (rank + 1) for rank in range(len(others))]
    crm_ids = [f"<crm{i}@crm.agency.example>" for i in range(max(count // 10, 1))]
    out = []
    for i in range(count):
        stranger = unknown > 0 and rng.random() < unknown
        name, addr = (
            rng.choices(others, other_weights)[0] if stranger else rng.choices(folks, weights)[0]
        )
        when = now - timedelta(minutes=(count - i) * 7)
        subject = rng.choice(SUBJECTS)
        headers = [
            f"From: {_encoded(name, rng)} <{addr}>",
            "To: Ana Martin <ana@agency.example>",
            f"Subject: {_encoded(subject, rng)} #{i}",
            f"Date: {format_datetime(when)}",
            f"Message-ID: <m{i}.{seed}@{addr.split('@')[1]}>",
        ]
        if not stranger and rng.random() < 0.2:
            crm = rng.choice(crm_ids)
            if rng.random() < 0.5:
                headers.append(f"References: {crm} <x{i}@mail.example>")
            else:
                headers.append(f"In-Reply-To: {crm}")
        body = "Hello,\n\n" + " ".join(rng.choice(SUBJECTS) for _ in range(rng.randint(40, 400)))
        raw = "\r\n".join(headers) + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
        out.append((raw.replace("\n", "\r\n").replace("\r\r\n", "\r\n").encode(), when))
    return out, folks, crm_ids


def write_maildir(folder: Path, messages, *, owner: tuple[int, int] | None = None) -> None:
    """Write messages as Maildir files (INTERNALDATE = mtime); much faster than APPEND."""
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for i, (raw, when) in enumerate(messages):
        stamp = int(when.timestamp())
        path = folder / "cur" / f"{stamp}.M{i}P{os.getpid()}.{host},S={len(raw)}:2,"
        path.write_bytes(raw)
        os.utime(path, (stamp, stamp))
    if owner is not None:
        for root, dirs, files in os.walk(folder):
            for name in [*dirs, *files]:
                os.chown(os.path.join(root, name), *owner)
        os.chown(folder, *owner)


def load_into_dovecot(
    dovecot, user: str, password: str, folder: str, messages, *, warm: bytes | None = None
) -> None:
    """Write ``messages`` into ``folder`` of ``user``'s Maildir on a private Dovecot (as the
    unprivileged mail user when run as root), then open it read-write so that Dovecot builds
    its index now; ``warm``: FETCH these items once to fill its cache."""
    import imaplib
    import pwd

    owner = None
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        owner = (nobody.pw_uid, nobody.pw_gid)
    mail = dovecot.root / "mail" / user
    write_maildir(mail if folder == "INBOX" else mail / folder, messages, owner=owner)
    if owner:
        os.chown(mail, *owner)
    imap = imaplib.IMAP4(dovecot.host, dovecot.port)
    imap.login(user, password)
    imap.select(folder)
    if warm is not None:
        imap.uid("FETCH", "1:*", warm)
    imap.logout()


def seed_contacts(engine: Engine, *, host: str, port: int, people, crm_ids, extra: int = 0) -> None:
    """Groups, a user, the account, one record per correspondent (plus ``extra`` contacts that
    never write), and the CRM messages the replies answer."""
    init_db(engine)
    now = datetime.now(UTC)
    with write_session(engine) as session:
        group = SecurityGroup(name="Public", level=0)
        session.add(group)
        session.flush()
        user = AppUser(login="ana", name="Ana Martin", group_id=group.id)
        session.add(user)
        session.flush()
        session.add(MailAccount(address="ana@agency.example", host=host, port=port,
                                security="none", username="bench", owner_id=user.id))  # fmt: skip
    total = len(people) + extra
    with write_session(engine) as session:
        session.execute(insert(Record), [
            {"id": i + 1, "kind": "candidate", "name": f"Record {i}", "exclude_from_sync": False,
             "created_at": now} for i in range(total)
        ])  # fmt: skip
        addresses = [addr for _, addr in people] + [f"quiet{i}@x.example" for i in range(extra)]
        session.execute(insert(RecordAddress), [
            {"record_id": i + 1, "address": a} for i, a in enumerate(addresses)
        ])  # fmt: skip
        session.execute(insert(CrmMessage), [
            {"record_id": (i % len(people)) + 1, "message_id": mid, "subject": "CRM",
             "sent_at": now - timedelta(days=30)} for i, mid in enumerate(crm_ids)
        ])  # fmt: skip


def wait_indexed(select_folder) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    select_folder()
    return time.perf_counter() - started
