"""Provider behaviour: a Dovecot laid out as Gmail (labels as folders, special uses), and busy
servers that ask to try later."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import primsync.link as link
from primsync import frame as F
from primsync.commit import import_selected
from primsync.db.models import ImportedMessage, SyncRun
from primsync.demo import DEMO_ACCOUNT
from primsync.imap import ConnectionSettings, connect, default_folders
from primsync.opening import list_folders
from primsync.review import review_mailbox
from primsync.selection import choose_rows
from tests.conftest import PASSWORD, USERS, add_account
from tests.proxy import FaultyProxy

GMAIL = "ana.gmail@agency.example"
REPLY = (
    b"From: Lea Dubois <lea.dubois@mail.example>\r\nTo: ana.gmail@agency.example\r\n"
    b"Subject: Re: Interview on Monday\r\nMessage-ID: <gmail.1@mail.example>\r\n"
    b"Date: Mon, 02 Nov 2026 09:00:00 +0000\r\n\r\nSee you Monday.\r\n"
)
SENT = (
    b"From: Ana <ana.gmail@agency.example>\r\nTo: Tom Baker <tom.baker@mail.example>\r\n"
    b"Subject: Your application\r\nMessage-ID: <gmail.2@agency.example>\r\n"
    b"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\nThanks.\r\n"
)


@pytest.fixture(scope="module")
def gmail_mailbox(dovecot):
    """The same reply under INBOX, a label (Clients) and [Gmail]/All Mail, as Gmail shows it;
    a sent message in [Gmail]/Sent Mail and All Mail."""
    settings = ConnectionSettings(
        address=GMAIL, host=dovecot.host, port=dovecot.port, username="gmail", security="none"
    )
    with connect(settings, USERS["gmail"]) as box:
        for folder in ("Clients", "[Gmail]/All Mail", "[Gmail]/Sent Mail", "[Gmail]/Starred",
                       "[Gmail]/Spam"):  # fmt: skip
            box.create_folder(folder)
        for folder in ("INBOX", "Clients", "[Gmail]/All Mail", "[Gmail]/Starred"):
            box.append(folder, REPLY)
        for folder in ("[Gmail]/Sent Mail", "[Gmail]/All Mail"):
            box.append(folder, SENT)
    return dovecot


@pytest.fixture
def gmail_db(db, gmail_mailbox):
    add_account(db, GMAIL, gmail_mailbox, "gmail", provider="gmail")
    return db


def test_gmail_folders_are_labelled_and_the_copies_not_ticked(gmail_db):
    folders = {f.name: f for f in list_folders(gmail_db, GMAIL, secret=USERS["gmail"])}
    assert not folders["[Gmail]"].selectable  # the parent only holds folders
    assert (
        folders["[Gmail]/All Mail"].label == "All Mail (every message, copies of the other folders)"
    )
    assert folders["[Gmail]/Starred"].label == "Starred"  # the name says it
    assert folders["[Gmail]/Sent Mail"].label == "Sent Mail"
    assert folders["[Gmail]/Spam"].label == "Spam"
    assert folders["[Gmail]/All Mail"].noisy and not folders["Clients"].noisy
    assert default_folders(list(folders.values())) == ["INBOX", "[Gmail]/Sent Mail"]


def test_one_gmail_message_under_several_labels_is_reviewed_and_stored_once(gmail_db):
    every = ["INBOX", "Clients", "[Gmail]/All Mail", "[Gmail]/Starred", "[Gmail]/Sent Mail"]
    review = review_mailbox(gmail_db, GMAIL, every, option="all", secret=USERS["gmail"])
    rows = review.frame
    assert sorted(zip(rows[F.FOLDER], rows[F.SUBJECT], strict=True)) == [
        ("INBOX", "Re: Interview on Monday"),
        ("[Gmail]/Sent Mail", "Your application"),
    ]
    evidence = rows.set_index(F.FOLDER).loc["INBOX", F.EVIDENCE]
    assert "also in Clients, [Gmail]/All Mail, [Gmail]/Starred (Gmail labels: one message)" in (
        evidence
    )
    summary = import_selected(
        gmail_db,
        review,
        choose_rows(review.frame, select="all"),
        user="ana",
        accessible_to="Recruiters",
        secret=USERS["gmail"],
    )
    assert summary.imported == 2
    again = review_mailbox(gmail_db, GMAIL, every[::-1], option="all", secret=USERS["gmail"])
    assert len(again.frame) == 2 and again.frame[F.ALREADY_IMPORTED].all()
    with Session(gmail_db) as session:
        assert session.scalar(select(func.count()).select_from(ImportedMessage)) == 2


def test_other_servers_keep_a_row_per_folder(db):
    """Only Gmail's folders are labels: elsewhere a copy in two folders is two rows (stored
    once), as before."""
    review = review_mailbox(
        db, DEMO_ACCOUNT, ["INBOX", "INBOX/Candidates"], option="all", secret=PASSWORD
    )
    lea = review.frame[review.frame[F.MESSAGE_ID] == "<lea.1@mail.example>"]
    assert sorted(lea[F.FOLDER]) == ["INBOX", "INBOX/Candidates"]


@pytest.fixture
def busy(db, mailbox, monkeypatch):
    proxy = FaultyProxy(mailbox.port)
    add_account(db, "busy@agency.example", mailbox, "ana")
    from sqlalchemy import update

    from primsync.db.engine import write_session
    from primsync.db.models import MailAccount

    with write_session(db) as session:
        session.execute(
            update(MailAccount)
            .where(MailAccount.address == "busy@agency.example")
            .values(port=proxy.port)
        )
    monkeypatch.setattr(link, "THROTTLE_WAITS", (0.05, 0.1, 0.1, 0.1, 0.1))
    yield proxy
    proxy.close()


def test_a_busy_server_is_waited_out_and_the_run_says_so(db, busy, caplog):
    caplog.set_level(logging.WARNING, logger="primsync.imap")
    busy.busy("LOGIN", "NO [UNAVAILABLE] Temporary authentication failure")
    busy.busy("EXAMINE", "NO [THROTTLED] Request is throttled. Try again later.")
    busy.busy(
        "UID FETCH", "NO [THROTTLED] Request is throttled.", "NO Too many simultaneous connections"
    )
    review = review_mailbox(db, "busy@agency.example", ["INBOX"], option="all", secret=PASSWORD)
    assert len(review.all_rows) == 9 and busy.busy_answers == 4
    assert review.waited == pytest.approx(0.05 + 0.05 + 0.05 + 0.1)
    assert caplog.text.count("the server is busy") == 4
    with Session(db) as session:
        note = session.scalar(select(SyncRun.note).where(SyncRun.id == review.run_id))
    assert note == "waited 0.25 s for the server (busy: it asked to try later)"

    busy.busy("UID FETCH", *["NO [THROTTLED] Request is throttled."] * 6)
    with pytest.raises(Exception, match=r"THROTTLED"):
        import_selected(
            db,
            review,
            choose_rows(review.frame, select="all"),
            user="ana",
            accessible_to="Recruiters",
            secret=PASSWORD,
        )
    with Session(db) as session:
        assert session.scalar(select(func.count()).select_from(ImportedMessage)) == 0


def test_a_sign_in_service_out_of_reach_is_said_at_once_not_waited_out(mailbox, monkeypatch):
    """"try again later" in the sign-in service's refusal is not a busy mail server: the run
    ends at the first refusal (it had waited 30 s out, asking the service six times)."""
    from primsync.signin import SignInUnreachable

    monkeypatch.setattr(link, "THROTTLE_WAITS", (0.01,) * 5)
    asked: list[bool] = []

    def token(refresh: bool) -> str:
        asked.append(refresh)
        raise SignInUnreachable(
            "Microsoft's sign-in service cannot be reached (127.0.0.1:9: ConnectionError); "
            "try again later",
            account="ana@contoso.example",
        )

    settings = ConnectionSettings(
        address="ana@contoso.example", host=mailbox.host, port=mailbox.port, username="ana",
        security="none", auth="xoauth2",
    )  # fmt: skip
    waits: list[float] = []
    with pytest.raises(SignInUnreachable, match="cannot be reached"):
        link.open_client(settings, token, waits)
    assert asked == [False] and waits == []


def test_a_busy_answer_to_the_refreshed_token_is_waited_out(monkeypatch):
    """The server refuses the first token, then says "busy" to the refreshed one: that is waited
    out and tried again, not reported as a token refused twice."""
    from primsync.errors import AuthenticationError

    monkeypatch.setattr(link, "THROTTLE_WAITS", (0.01,) * 5)
    answers = [
        AuthenticationError("login refused by 127.0.0.1:1: expired token"),
        link._LoginBusy("login refused by 127.0.0.1:1: [UNAVAILABLE] Try again later"),
        AuthenticationError("login refused by 127.0.0.1:1: expired token"),
        None,
    ]
    logins: list[str] = []

    def login(client, settings, token):
        logins.append(token)
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    monkeypatch.setattr(link, "_transport", lambda settings: object())
    monkeypatch.setattr(link, "_login", login)
    settings = ConnectionSettings(address="ana@contoso.example", host="127.0.0.1", port=1,
                                  username="ana", security="none", auth="xoauth2")  # fmt: skip
    waits: list[float] = []
    link.open_client(settings, lambda refresh: "fresh" if refresh else "cached", waits)
    assert logins == ["cached", "fresh", "cached", "fresh"] and waits == [0.01]
