"""A labelled set of replies built from real mailing-list threads nobody here wrote.

The messages are the ``default`` (notmuch's own list, 2009–2011) and ``lkml`` (Linux kernel
lists, 2010–2013) corpora of notmuch's test suite, read in place from where
``scripts/setup-tests.sh`` unpacks them: the source package ``notmuch`` of the machine's Debian
release, fetched with ``apt-get source``, its ``test/corpora`` kept under ``$PRIMSYNC_THREADS``
(default ``~/.cache/primsync/threads``; GPL-3.0-or-later, its COPYING kept beside it). Nothing
of them is copied into this repository.

How the set is cut (the case the probable-reply rules exist for):

* every thread start (no In-Reply-To, no References) answered by someone else in the corpus is a
  CRM message, with the start's own Message-ID (its case as written) and its record the first
  address it was sent to, and its Sent copy (the start as it was sent) in the account's Sent;
* every later message of that thread from someone other than the start's author is a reply to
  it, received in INBOX with In-Reply-To and References removed (the start's author's own
  follow-ups are the account's own mail and are left out);
* the negatives are the other messages of the same corpora, also with their reference headers
  removed: answers to messages the CRM never sent (their thread's start is not in the corpus)
  and thread starts nobody answered;
* every address that wrote or was written to is a known contact (one record each).

``variant="repliers in copy"`` also names every later replier of a thread in its Sent copy's Cc
(the case where the agency wrote to all of them). :func:`rule_says` applies the rules as
``docs/design.md`` writes them, by hand, to each reply: what the review should find at least.
"""

from __future__ import annotations

import email.header
import email.parser
import email.policy
import email.utils
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

CORPORA = ("default", "lkml")
ENV = "PRIMSYNC_THREADS"
VARIANTS = ("as sent", "repliers in copy")
HOLD_OUT = 3  # every third answered thread start is not a CRM message

_ID = re.compile(r"<([^<>]+)>")
_PARSER = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def folder() -> Path:
    """Where the setup script unpacked notmuch's corpora (``corpora/`` holds default, lkml)."""
    return Path(os.environ.get(ENV) or Path.home() / ".cache" / "primsync" / "threads")


def missing() -> str | None:
    """Why the set cannot be built here, or None."""
    where = folder() / "corpora"
    absent = [c for c in CORPORA if not (where / c).is_dir()]
    if absent:
        return (
            f"notmuch's test corpora are not under {where} (missing {', '.join(absent)}): "
            "scripts/setup-tests.sh fetches them with apt-get source notmuch"
        )
    return None


@dataclass(frozen=True)
class Mail:
    """One message of the corpus, as its headers say."""

    path: str  # under corpora/
    raw: bytes
    message_id: str  # as written, brackets kept
    key: str  # lower-cased, what the review compares
    refs: tuple[str, ...]  # the keys it names (References, In-Reply-To)
    parent: str | None  # the key of the message it answers: In-Reply-To, else the last reference
    author: str
    author_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime
    subject: str


def _text(value: str | None) -> str:
    if not value:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (UnicodeDecodeError, LookupError, email.errors.HeaderParseError):
        return value


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    return [
        (_text(name), addr.strip().lower())
        for name, addr in email.utils.getaddresses(values)
        if "@" in addr
    ]


def _ids(value: str | None) -> list[str]:
    return [f"<{''.join(i.split()).lower()}>" for i in _ID.findall(value or "")]


def read_corpus(root: Path | None = None) -> list[Mail]:
    """Every message of the corpora that has a Message-ID, a From and a Date (first of a
    Message-ID kept), oldest first."""
    root = (root or folder()) / "corpora"
    out: dict[str, Mail] = {}
    for name in CORPORA:
        for path in sorted(p for p in (root / name).rglob("*") if p.is_file()):
            raw = path.read_bytes()
            head = _PARSER.parsebytes(raw)
            found = _ID.search(head.get("Message-ID") or "")
            authors = _addresses(head.get_all("From") or [])
            try:
                date = email.utils.parsedate_to_datetime(head.get("Date") or "")
            except (TypeError, ValueError):
                date = None
            if found is None or not authors or date is None:
                continue
            mid = f"<{found.group(1).strip()}>"
            refs = _ids(head.get("References"))
            replied = _ids(head.get("In-Reply-To"))
            out.setdefault(
                mid.lower(),
                Mail(
                    path=str(path.relative_to(root)),
                    raw=raw,
                    message_id=mid,
                    key=mid.lower(),
                    refs=tuple(dict.fromkeys([*refs, *replied])),
                    parent=replied[0] if replied else (refs[-1] if refs else None),
                    author=authors[0][1],
                    author_name=authors[0][0],
                    to=tuple(a for _, a in _addresses(head.get_all("To") or [])),
                    cc=tuple(a for _, a in _addresses(head.get_all("Cc") or [])),
                    date=date if date.tzinfo else date.replace(tzinfo=UTC),
                    subject=_text(head.get("Subject")),
                ),
            )
    return sorted(out.values(), key=lambda m: m.date)


def without_headers(raw: bytes, names: Iterable[str]) -> bytes:
    """``raw`` with the header fields ``names`` (and their folded lines) taken out."""
    wanted = {n.lower().encode() for n in names}
    head, sep, body = (
        raw.partition(b"\n\n") if b"\r\n\r\n" not in raw else raw.partition(b"\r\n\r\n")
    )
    kept: list[bytes] = []
    dropping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.split(b":", 1)[0].strip().lower() in wanted
        if not dropping:
            kept.append(line)
    return b"".join(kept) + sep + body


def with_cc(raw: bytes, cc: Iterable[str]) -> bytes:
    """``raw`` with its Cc header replaced by ``cc`` (the old Cc's addresses and more)."""
    cc = list(cc)
    if not cc:
        return raw
    newline = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    return f"Cc: {', '.join(cc)}".encode() + newline + without_headers(raw, ["Cc"])


@dataclass(frozen=True)
class Start:
    """A thread start kept as a CRM message, and its Sent copy."""

    mail: Mail
    record: str  # the address whose record it was sent to
    copy: bytes  # what the Sent folder holds
    recipients: frozenset[str]  # of the copy


@dataclass(frozen=True)
class Received:
    """A message received in INBOX, reference headers removed; ``answers``: the key of the
    thread start it answers, None for a negative."""

    mail: Mail
    raw: bytes
    answers: str | None
    why: str


@dataclass
class Labelled:
    starts: list[Start] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    people: dict[str, str] = field(default_factory=dict)  # address -> display name

    @property
    def replies(self) -> list[Received]:
        return [r for r in self.received if r.answers is not None]

    def summary(self) -> str:
        replies = self.replies
        threads = {r.answers for r in replies}
        repliers = {r.mail.author for r in replies}
        return (
            f"{len(replies)} replies in {len(threads)} threads from {len(repliers)} people, "
            f"{len(self.received) - len(replies)} negatives; {len(self.people)} contacts"
        )


def _parent(mail: Mail, by_key: dict[str, Mail]) -> Mail | None:
    """The nearest message ``mail`` answers that the corpus holds: In-Reply-To, else the
    References from the last one up."""
    for key in (mail.parent, *reversed(mail.refs)):
        if key is not None and key in by_key and key != mail.key:
            return by_key[key]
    return None


def labelled_set(mails: list[Mail], variant: str = "as sent") -> Labelled:
    """The CRM messages, Sent copies and received messages cut from ``mails`` (module doc)."""
    from primsync.replies import thread_subject

    if variant not in VARIANTS:
        raise ValueError(f"variant: one of {', '.join(VARIANTS)}")
    by_key = {m.key: m for m in mails}
    core = {m.key: thread_subject(m.subject)[0] for m in mails}

    def topic(mail: Mail) -> Mail:
        """Up the answers of the same subject to the first message of that subject."""
        seen, cur = {mail.key}, mail
        while (up := _parent(cur, by_key)) is not None and up.key not in seen:
            if core[up.key] != core[cur.key]:
                break
            seen.add(up.key)
            cur = up
        return cur

    answers: dict[str, Mail] = {}  # a message's key -> the topic start it answers
    own: set[str] = set()  # the topic start's author following up: the account's own mail
    for mail in mails:
        start = topic(mail)
        if start is mail:  # a new subject: an answer (subject edited) when its parent is another's
            parent = _parent(mail, by_key)
            if parent is None or parent.author == mail.author:
                continue
            start = topic(parent)
        if start.author == mail.author:
            own.add(mail.key)
        else:
            answers[mail.key] = start
    answered: dict[str, list[Mail]] = {}
    for key, start in answers.items():
        if start.key not in answers:  # a topic start that is not itself an answer to another
            answered.setdefault(start.key, []).append(by_key[key])
    out = Labelled()
    for mail in mails:
        for address in (mail.author, *mail.to, *mail.cc):
            out.people.setdefault(address, "")
        if mail.author_name and not out.people.get(mail.author):
            out.people[mail.author] = mail.author_name
    held_out = set()
    for n, key in enumerate(sorted(answered, key=lambda k: by_key[k].date)):
        start = by_key[key]
        if n % HOLD_OUT == HOLD_OUT - 1 or not (start.to or start.cc):
            held_out.add(key)  # the CRM never sent it: its answers are look-alike negatives
            continue
        repliers = list(dict.fromkeys(r.author for r in answered[key]))
        copy = start.raw
        recipients = {*start.to, *start.cc}
        if variant == "repliers in copy":
            added = [a for a in repliers if a not in recipients]
            if added:
                copy = with_cc(copy, [*start.cc, *added])
            recipients |= set(added)
        out.starts.append(Start(start, (start.to or start.cc)[0], copy, frozenset(recipients)))
    started = {s.mail.key for s in out.starts}
    strip = ("In-Reply-To", "References")
    for mail in mails:
        if mail.key in started or mail.key in own:
            continue  # the account's own mail: a CRM message's copy in Sent, or a follow-up
        raw = without_headers(mail.raw, strip)
        start = answers.get(mail.key)
        if start is not None and start.key in started:
            edited = core[mail.key] != core[start.key]
            why = f"a reply{' (subject edited)' if edited else ''}, reference headers removed"
            out.received.append(Received(mail, raw, start.key, why))
        elif start is not None:
            why = "an answer in a thread the CRM never started, reference headers removed"
            out.received.append(Received(mail, raw, None, why))
        elif mail.parent is None:
            out.received.append(Received(mail, raw, None, "a new message"))
        else:
            why = "an answer to a message not in the corpus, reference headers removed"
            out.received.append(Received(mail, raw, None, why))
    return out


def rule_says(item: Received, labelled: Labelled) -> bool:
    """Whether the rules as docs/design.md writes them find ``item`` (a reply) by hand: the
    sender a recipient of the copy or the CRM record's address, a reply or forward prefix, the
    same subject, received within 30 days after the CRM message."""
    from primsync.replies import thread_subject

    start = next(s for s in labelled.starts if s.mail.key == item.answers)
    who = item.mail.author in start.recipients or item.mail.author == start.record
    core, prefixes = thread_subject(item.mail.subject)
    delta = item.mail.date - start.mail.date
    return bool(
        who
        and prefixes
        and core
        and core == thread_subject(start.mail.subject)[0]
        and timedelta(0) < delta <= timedelta(days=30)
    )


def iter_folder(labelled: Labelled) -> Iterator[tuple[str, bytes, datetime]]:
    """(folder, raw message, INTERNALDATE) of everything the account's mailbox holds."""
    for start in labelled.starts:
        yield "Sent", start.copy, start.mail.date
    for item in labelled.received:
        yield "INBOX", item.raw, item.mail.date


ACCOUNT = "threads@agency.example"
USER = "threads"


def fill_mailbox(server, password: str, labelled: Labelled, user: str = USER) -> None:  # type: ignore[no-untyped-def]
    """APPEND the Sent copies and the received messages to the Dovecot ``user``."""
    from primsync.accounts import ConnectionSettings
    from primsync.imap import connect

    settings = ConnectionSettings(address=ACCOUNT, host=server.host, port=server.port,
                                  username=user, security="none")  # fmt: skip
    with connect(settings, password) as box:
        existing = {f.name for f in box.list_folders()}
        for name in ("INBOX", "Sent"):
            if name not in existing:
                box.create_folder(name)
        for where, raw, when in iter_folder(labelled):
            box.append(where, raw, flags=("\\Seen",), when=when)


def seed(engine, server, labelled: Labelled, user: str = USER) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The demo's groups and users, the account ``ACCOUNT``, a record for every address and a
    CRM message for every thread start (its Message-ID as written); returns the CRM messages'
    database ids by the start's key."""
    from primsync.db.engine import write_session
    from primsync.db.models import CrmMessage, MailAccount, Record, RecordAddress
    from primsync.demo import seed_database

    seed_database(engine, host=server.host, port=server.port, username="ana")
    crm_ids: dict[str, int] = {}
    with write_session(engine) as session:
        session.add(MailAccount(address=ACCOUNT, username=user, owner_id=1, host=server.host,
                                port=server.port, security="none"))  # fmt: skip
        record_of: dict[str, int] = {}
        for address, name in sorted(labelled.people.items()):
            record = Record(kind="contact", name=name or address, created_at=datetime(2000, 1, 1,
                            tzinfo=UTC))  # fmt: skip
            session.add(record)
            session.flush()
            session.add(RecordAddress(record_id=record.id, address=address))
            record_of[address] = record.id
        for start in labelled.starts:
            crm = CrmMessage(record_id=record_of[start.record], message_id=start.mail.message_id,
                             subject=start.mail.subject, sent_by_id=1,
                             sent_at=start.mail.date)  # fmt: skip
            session.add(crm)
            session.flush()
            crm_ids[start.mail.key] = crm.id
    return crm_ids


@dataclass(frozen=True)
class Scores:
    threshold: float
    precision: float
    recall: float
    claimed: int
    right: int
    wrong: tuple[str, ...]


def score(frame, labelled: Labelled, crm_ids: dict[str, int], threshold: float) -> Scores:  # type: ignore[no-untyped-def]
    """What the grid pre-ticks (green, or probable from ``threshold`` on) against the labels:
    a claim is right when it is annexed to the CRM message the row answers."""
    import pandas as pd

    from primsync import frame as F

    rows = {r[F.MESSAGE_ID]: r for r in frame[frame[F.FOLDER] == "INBOX"].to_dict("records")}
    claimed = right = 0
    wrong = []
    for item in labelled.received:
        row = rows[item.mail.key]
        crm = None if pd.isna(row[F.ANNEXED_TO_ID]) else int(row[F.ANNEXED_TO_ID])
        claims = row[F.CONTEXT] == "green" or (
            row[F.CONTEXT] == "probable" and row[F.CONFIDENCE] >= threshold
        )
        truth = crm_ids[item.answers] if item.answers else None
        if claims:
            claimed += 1
            right += crm == truth
            if crm != truth:
                wrong.append(f"{item.mail.path}: {item.why}; claimed: {row[F.EVIDENCE]}")
    replies = len(labelled.replies)
    return Scores(threshold, right / claimed if claimed else 1.0,
                  right / replies if replies else 1.0, claimed, right, tuple(wrong))  # fmt: skip


def review(engine, server, password: str, labelled: Labelled, user: str = USER):  # type: ignore[no-untyped-def]
    """Seed the (empty) ``engine`` for ``labelled`` and review the account's INBOX and Sent
    (the mailbox filled already); returns the review and the CRM ids by start key."""
    from primsync.review import review_mailbox

    crm_ids = seed(engine, server, labelled, user)
    result = review_mailbox(engine, ACCOUNT, ["INBOX", "Sent"], option="all", secret=password)
    return result, crm_ids


def by_hand(labelled: Labelled) -> float:
    """The recall of the rules applied by hand (:func:`rule_says`)."""
    return sum(rule_says(r, labelled) for r in labelled.replies) / len(labelled.replies)


THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
