"""A ready-made demo: a SQLite database with groups, users, records and CRM messages, and a
mailbox served by pymap on a loopback port, filled over IMAP APPEND.

>>> engine, server = start_demo()          # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

if TYPE_CHECKING:
    from filelock import FileLock

from primsync.db.engine import init_db, open_engine, write_session
from primsync.db.models import (
    AppUser,
    CrmMessage,
    MailAccount,
    Record,
    RecordAddress,
    SecurityGroup,
)
from primsync.imap import ConnectionSettings, Mailbox, connect
from primsync.parse import normalize_address
from primsync.servers import PymapServer

__all__ = [
    "DEMO_ACCOUNT",
    "DEMO_PASSWORD",
    "DemoMail",
    "make_message",
    "seed_database",
    "running_demo",
    "seed_mailbox",
    "start_demo",
]

DEMO_ACCOUNT = "recruiter@agency.example"
DEMO_USER = "recruiter"
# the public password of the throwaway demo mailbox on loopback, not a secret
DEMO_PASSWORD = "demo"  # noqa: S105
DEMO_DB = "sqlite:///data/demo.db"
CRM_DOMAIN = "crm.agency.example"

GROUPS = [("Public", 0), ("Recruiters", 10), ("Managers", 20), ("Direction", 30)]
USERS = [
    ("ana", "Ana Martin", "Recruiters"),
    ("paul", "Paul Public", "Public"),
    ("marc", "Marc Manager", "Managers"),
    ("dora", "Dora Director", "Direction"),
]
# (kind, name, addresses, excluded)
RECORDS = [
    ("candidate", "Léa Dubois", ["lea.dubois@mail.example"], False),
    ("candidate", "Tom Baker", ["tom.baker@mail.example", "tbaker@work.example"], False),
    ("candidate", "Sofia Rossi", ["sofia@rossi.example"], False),
    ("candidate", "Victor Stone", ["victor@stone.example"], True),
    ("client", "Acme Corp", ["hr@acme.example", "jobs@acme.example"], False),
    ("client", "Globex", ["talent@globex.example"], False),
    ("client", "Initech", ["info@initech.example"], False),
    ("contact", "Bill Lumbergh", ["info@initech.example", "bill@initech.example"], False),
    ("employee", "Marc Manager", ["marc@agency.example"], False),
    ("candidate", "Jürgen Müller", ["jurgen@münchen.example"], False),
]
# (key, record name, subject, days ago)
CRM_MESSAGES = [
    ("interview", "Léa Dubois", "Interview on Monday", 6),
    ("shortlist", "Acme Corp", "Shortlist for the Java developer role", 9),
    ("application", "Tom Baker", "Your application", 12),
    ("victor", "Victor Stone", "Checking in", 20),
    ("initech", "Initech", "Our offer for your office team", 15),
]


def crm_id(key: str) -> str:
    return f"<{key}.demo@{CRM_DOMAIN}>"


@dataclass(frozen=True)
class DemoMail:
    """One message of a test or demo mailbox."""

    folder: str
    sender: tuple[str, str]
    to: list[tuple[str, str]]
    subject: str
    days_ago: float
    body: str = "Hello,\n\nSee below.\n"
    cc: list[tuple[str, str]] = field(default_factory=list)
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    seen: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # more, e.g. Thread-Index


def _address(pair: tuple[str, str]) -> Address:
    name, addr = pair
    local, _, domain = addr.partition("@")
    return Address(display_name=name, username=local, domain=domain)


def make_message(mail: DemoMail, *, now: datetime) -> bytes:
    """The RFC 5322 bytes of ``mail`` (encoded words and IDNA where needed)."""
    msg = EmailMessage()
    msg["From"] = _address(mail.sender)
    msg["To"] = [_address(a) for a in mail.to]
    if mail.cc:
        msg["Cc"] = [_address(a) for a in mail.cc]
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(now - timedelta(days=mail.days_ago))
    if mail.message_id:
        msg["Message-ID"] = mail.message_id
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        msg["References"] = " ".join(mail.references)
    for name, value in mail.headers.items():
        msg[name] = value
    msg.set_content(mail.body)
    for filename, ctype, data in mail.attachments:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


ME = ("Ana Martin", DEMO_ACCOUNT)


def demo_mails() -> list[DemoMail]:
    lea, tom = ("Léa Dubois", "lea.dubois@mail.example"), ("Tom Baker", "tom.baker@mail.example")
    return [
        DemoMail(
            "INBOX",
            lea,
            [ME],
            "Re: Interview on Monday",
            1.2,
            "Monday 10:00 suits me.\n",
            message_id="<lea.1@mail.example>",
            in_reply_to=crm_id("interview"),
            references=[crm_id("interview")],
        ),
        DemoMail(
            "INBOX",
            ("Acme HR", "hr@acme.example"),
            [ME],
            "RE: Shortlist",
            2.5,
            "Please send the CVs.\n",
            message_id="<acme.7@acme.example>",
            in_reply_to=crm_id("shortlist"),
        ),
        DemoMail(
            "INBOX",
            ("Sofia Rossi", "sofia@rossi.example"),
            [ME],
            "Candidatura — sviluppatrice",
            0.3,
            "My CV is attached.\n",
            message_id="<sofia.1@rossi.example>",
            attachments=[("CV Sofia Rossi.pdf", "application/pdf", b"%PDF-1.4 demo CV\n")],
        ),
        DemoMail(
            "INBOX",
            ("Deals Weekly", "news@deals.example"),
            [ME],
            "50% off everything",
            0.8,
            message_id="<n1@deals.example>",
        ),
        DemoMail(
            "INBOX",
            ("Victor Stone", "victor@stone.example"),
            [ME],
            "Re: Checking in",
            3,
            message_id="<v.1@stone.example>",
            references=[crm_id("victor")],
        ),
        DemoMail(
            "INBOX",
            ("Initech", "info@initech.example"),
            [ME],
            "Office move",
            4,
            message_id="<i.1@initech.example>",
        ),
        DemoMail(
            "INBOX",
            ("Unknown Person", "someone@else.example"),
            [ME],
            "Re: Your application",
            5,
            message_id="<x.1@else.example>",
            references=[crm_id("application")],
        ),
        DemoMail(
            "INBOX",
            ("Jürgen Müller", "jurgen@münchen.example"),
            [ME],
            "Grüße aus München",
            1.5,
            message_id="<j.1@xn--mnchen-3ya.example>",
            seen=True,
        ),
        DemoMail(
            "INBOX/Candidates",
            tom,
            [ME],
            "Question about the role",
            8,
            message_id="<tom.1@mail.example>",
        ),
        DemoMail(
            "INBOX/Candidates",
            tom,
            [ME],
            "Re: Your application",
            2,
            message_id="<tom.2@mail.example>",
            references=[crm_id("application"), "<ana.9@agency.example>"],
        ),
        # correspondents the CRM is missing, each with something to suggest a record by
        DemoMail(
            "INBOX",
            ("Léa Dubois", "lea.dubois.perso@gmail.com"),
            [ME],
            "Mon nouveau numéro",
            0.6,
            "Here is my new private address and number.\n",
            message_id="<lea.3@gmail.com>",
        ),
        DemoMail(
            "INBOX",
            ("Peter Quill", "recruiting@acme.example"),
            [ME],
            "Two more roles for you",
            0.9,
            message_id="<acme.9@acme.example>",
        ),
        DemoMail(
            "INBOX/Candidates",
            tom,
            [ME],
            "My references",
            0.7,
            "Copying my former manager, who can tell you more.\n",
            cc=[("Maria Lopez", "maria.lopez@oldjob.example")],
            message_id="<tom.3@mail.example>",
        ),
        DemoMail(
            "INBOX/Clients",
            ("Globex Talent", "talent@globex.example"),
            [ME],
            "New opening: data analyst",
            0.5,
            message_id="<g.1@globex.example>",
        ),
        DemoMail(
            "Sent", ME, [lea], "Directions to our office", 1.0, message_id="<ana.10@agency.example>"
        ),
        DemoMail(
            "Sent",
            ME,
            [("Victor Stone", "victor@stone.example")],
            "Hello Victor",
            1.0,
            message_id="<ana.11@agency.example>",
        ),
        DemoMail(
            "Entretiens planifiés",
            lea,
            [ME],
            "Disponibilités",
            3.5,
            message_id="<lea.2@mail.example>",
        ),
    ]


def seed_database(
    engine: Engine, *, host: str, port: int, security: str = "none", username: str = DEMO_USER
) -> None:
    """Groups, users, the demo account, records and CRM messages, in an empty database."""
    init_db(engine)
    now = datetime.now(UTC)
    with write_session(engine) as session:
        groups = {name: SecurityGroup(name=name, level=level) for name, level in GROUPS}
        session.add_all(groups.values())
        session.flush()
        users = {
            login: AppUser(login=login, name=name, group_id=groups[group].id)
            for login, name, group in USERS
        }
        session.add_all(users.values())
        session.flush()
        session.add(
            MailAccount(
                address=DEMO_ACCOUNT,
                provider="imap",
                host=host,
                port=port,
                security=security,
                username=username,
                auth="password",
                owner_id=users["ana"].id,
            )
        )
        records = {}
        for age, (kind, name, addresses, excluded) in enumerate(RECORDS):
            record = Record(
                kind=kind,
                name=name,
                exclude_from_sync=excluded,
                created_at=now - timedelta(days=400 - age),
            )
            session.add(record)
            session.flush()
            records[name] = record
            session.add_all(
                RecordAddress(record_id=record.id, address=normalize_address(a)) for a in addresses
            )
        for key, name, subject, days in CRM_MESSAGES:
            session.add(
                CrmMessage(
                    record_id=records[name].id,
                    message_id=crm_id(key),
                    subject=subject,
                    sent_at=now - timedelta(days=days),
                    sent_by_id=users["ana"].id,
                )
            )


def seed_mailbox(box: Mailbox, mails: list[DemoMail], *, now: datetime | None = None) -> None:
    """Create the folders and APPEND the messages, with their INTERNALDATE and flags."""
    now = now or datetime.now(UTC)
    existing = {f.name for f in box.list_folders()}
    for folder in dict.fromkeys(m.folder for m in mails):
        if folder not in existing:
            box.create_folder(folder)
            existing.add(folder)
    for mail in mails:
        box.append(
            mail.folder,
            make_message(mail, now=now),
            flags=("\\Seen",) if mail.seen else (),
            when=now - timedelta(days=mail.days_ago),
        )


def _sqlite_file(db_url: str) -> Path | None:
    """The file of a SQLite URL; None for an in-memory or a server database."""
    if not db_url.startswith("sqlite:///") or db_url in ("sqlite://", "sqlite:///:memory:"):
        return None
    return Path(db_url.removeprefix("sqlite:///")).absolute()


def _claim_file(database: Path) -> tuple[Path, Path]:
    return database.with_name(database.name + ".lock"), database.with_name(database.name + ".demo")


def running_demo(db_url: str) -> dict | None:
    """The demo that holds ``db_url``'s database now (its process id and mailbox port), or None:
    a demo holds its SQLite file's lock from its start to its stop, and no other demo deletes
    that database meanwhile."""
    import json

    from filelock import FileLock, Timeout

    database = _sqlite_file(db_url)
    if database is None or not database.parent.is_dir():
        return None
    lock_file, info_file = _claim_file(database)
    probe = FileLock(str(lock_file))
    try:
        probe.acquire(timeout=0)
    except Timeout:
        try:
            return dict(json.loads(info_file.read_text()))
        except (OSError, ValueError):
            return {"pid": None, "port": None}
    probe.release()
    return None


class DemoServer(PymapServer):
    """The demo mailbox, holding its database's lock until it stops."""

    claim: FileLock | None = None
    info: Path | None = None

    def stop(self) -> None:
        super().stop()
        if self.claim is not None:
            if self.info is not None:
                self.info.unlink(missing_ok=True)
            self.claim.release()
            self.claim = None


def _remove_sqlite(database: Path) -> None:
    """A SQLite database and its companions (``-wal``, ``-shm``, ``-journal``): a new database
    beside an old journal is read as broken ("disk I/O error")."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


def start_demo(db_url: str = DEMO_DB, *, fresh: bool = True) -> tuple[Engine, PymapServer]:
    """Start the demo mailbox, seed it and a demo database; the caller stops the server.

    A SQLite demo database belongs to one running demo: while one holds it, another start
    raises :class:`ConfigurationError` saying which process and mailbox, and deletes nothing."""
    import json
    import os

    from filelock import FileLock, Timeout

    from primsync.errors import ConfigurationError

    server = DemoServer(user=DEMO_USER, password=DEMO_PASSWORD)
    database = _sqlite_file(db_url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        lock_file, info_file = _claim_file(database)
        claim = FileLock(str(lock_file))
        try:
            claim.acquire(timeout=0)
        except Timeout:
            running = running_demo(db_url) or {}
            where = f"process {running.get('pid')}" if running.get("pid") else "another process"
            mailbox = f", mailbox imap://127.0.0.1:{running['port']}" if running.get("port") else ""
            raise ConfigurationError(
                f"a demo is already running on {database} ({where}{mailbox}): use it, stop it "
                "(Ctrl-C where it runs), or give --db for a demo database of its own"
            ) from None
        server.claim, server.info = claim, info_file
        if fresh:
            _remove_sqlite(database)
    try:
        server.start()
        if server.info is not None:
            server.info.write_text(json.dumps({"pid": os.getpid(), "port": server.port}))
        engine = open_engine(db_url, create=True)
        seed_database(engine, host=server.host, port=server.port)
        settings = ConnectionSettings(
            address=DEMO_ACCOUNT,
            host=server.host,
            port=server.port,
            username=DEMO_USER,
            security="none",
        )
        with connect(settings, DEMO_PASSWORD) as box:
            seed_mailbox(box, demo_mails())
    except BaseException:
        server.stop()
        raise
    return engine, server
