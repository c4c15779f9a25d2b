"""imap: TLS, plain-text refusal, reconnects and timeouts against the private Dovecot."""

from __future__ import annotations

import socket
import time

import imapclient
import pytest

from primsync import frame as F
from primsync.deflate import compression_wanted
from primsync.demo import DEMO_ACCOUNT
from primsync.errors import ConfigurationError, MailboxError
from primsync.imap import ConnectionSettings, Folder, connect, is_loopback, is_sent_folder
from primsync.review import review_mailbox
from tests.conftest import PASSWORD, USERS
from tests.mailbox import FOLDERS
from tests.proxy import FaultyProxy


def settings(server, **kw):
    values = {"address": DEMO_ACCOUNT, "host": server.host, "port": server.port,
              "username": "ana", "security": "none"}  # fmt: skip
    return ConnectionSettings(**{**values, **kw})


def test_self_signed_certificate_is_refused_by_default(mailbox):
    with pytest.raises(MailboxError) as err:
        connect(settings(mailbox, port=mailbox.ssl_port, security="ssl"), PASSWORD)
    message = str(err.value)
    assert "certificate" in message and "CA file" in message and DEMO_ACCOUNT in message
    assert PASSWORD not in message


def test_ssl_with_the_ca_file_and_starttls(mailbox):
    ca = str(mailbox.cert_file)
    with connect(
        settings(mailbox, port=mailbox.ssl_port, security="ssl", ca_file=ca), PASSWORD
    ) as box:
        assert box.select("INBOX").exists == 9
    with connect(settings(mailbox, security="starttls", ca_file=ca), PASSWORD) as box:
        assert box.select("INBOX").exists == 9
    with pytest.raises(MailboxError, match="certificate"):
        connect(settings(mailbox, security="starttls"), PASSWORD)


def test_plain_text_only_on_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("localhost")
    assert not is_loopback("192.0.2.10")
    with pytest.raises(ConfigurationError, match="plain IMAP is only allowed on a loopback"):
        connect(
            ConnectionSettings(address="a@x.example", host="192.0.2.10", port=143, username="a",
                               security="none"),
            "never-sent",
        )  # fmt: skip
    with pytest.raises(ConfigurationError, match="cannot read the CA file"):
        connect(ConnectionSettings(address="a@x.example", host="127.0.0.1", port=1,
                                   username="a", ca_file="/nonexistent/ca.pem"), "x")  # fmt: skip


def test_sent_folder_names_of_the_big_providers():
    assert is_sent_folder(Folder("[Gmail]/Sent Mail", "/", ("\\HasNoChildren", "\\Sent")))
    assert is_sent_folder(Folder("[Gmail]/Sent Mail", "/", ("\\HasNoChildren",)))
    assert is_sent_folder(Folder("Sent Items", "/", ()))
    assert is_sent_folder(Folder("INBOX.Sent", ".", ()))
    assert is_sent_folder(Folder("Éléments envoyés", "/", ()))
    assert not is_sent_folder(Folder("INBOX/Sentinel", "/", ()))


def test_header_fetch_resumes_after_dropped_connections(db, mailbox):
    direct = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all", secret=PASSWORD).all_rows
    proxy = FaultyProxy(mailbox.port)
    try:
        with connect(settings(mailbox, port=proxy.port), PASSWORD) as box:
            proxy.cut_after(2500, times=2)
            rows = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all", mailbox=box).all_rows
            assert box.reconnects == 2
            # the cuts fell in a compressed FETCH unless PRIMSYNC_COMPRESS=0 (the CI's 2nd run)
            assert box.compressed is compression_wanted()
    finally:
        proxy.close()
    assert proxy.cuts == 2
    columns = [F.FOLDER, F.UID, F.MESSAGE_ID, F.SUBJECT, F.CONTEXT, F.RECORD_ID]
    assert rows[columns].equals(direct[columns])


def test_a_stalled_server_hits_the_timeout_then_gives_up_clearly(mailbox):
    proxy = FaultyProxy(mailbox.port)
    try:
        box = connect(settings(mailbox, port=proxy.port, timeout=1.0), PASSWORD, max_reconnects=1)
        box.select("INBOX")
        proxy.stall_after(200, times=5)
        started = time.monotonic()
        with pytest.raises(MailboxError) as err:
            list(box.fetch_headers(list(range(1, 10))))
        assert time.monotonic() - started < 30  # a timeout, not a hang
        box.close()
    finally:
        proxy.close()
    message = str(err.value)
    assert proxy.stalls >= 1 and "timed out" in message
    assert "connection lost" in message and "'INBOX'" in message and DEMO_ACCOUNT in message


def test_a_login_left_unanswered_says_it_timed_out(mailbox):
    """The greeting arrives (it names the capabilities: LOGIN is the first command), then
    nothing: the error says how long it waited, and nothing of what was sent."""
    with socket.create_connection((mailbox.host, mailbox.port)) as raw:
        greeting = raw.makefile("rb").readline()
    assert b"[CAPABILITY " in greeting
    proxy = FaultyProxy(mailbox.port)
    try:
        proxy.stall_after(len(greeting))
        with pytest.raises(MailboxError) as err:
            connect(settings(mailbox, port=proxy.port, timeout=1.0), PASSWORD, max_reconnects=0)
    finally:
        proxy.close()
    message = str(err.value)
    assert f"login to 127.0.0.1:{proxy.port} failed: no answer within 1 s (timed out)" in message
    assert PASSWORD not in message and proxy.stalls == 1


def test_a_fetch_left_early_keeps_the_connection_in_step(mailbox):
    ca = str(mailbox.cert_file)
    with connect(settings(mailbox, security="starttls", ca_file=ca), PASSWORD) as box:
        box.select("INBOX")
        uids = box.search(["ALL"])
        stream = box.fetch_headers(uids)
        first = next(stream)
        stream.close()  # the rest of the answer is read and dropped
        assert box.select("INBOX").exists == 9
        again = list(box.fetch_full(uids[:2]))
        assert [m.uid for m in again] == uids[:2] and again[0].uid == first.uid
        assert again[0].data.startswith(first.data.split(b"\r\n")[0][:4])
        assert box.reconnects == 0


def test_internaldate_and_uid_ranges():
    from datetime import UTC, datetime

    from primsync.imap import uid_ranges
    from primsync.wire import internaldate as _internaldate

    assert _internaldate(b"27-Nov-2026 12:00:00 +0100") == datetime(2026, 11, 27, 11, tzinfo=UTC)
    assert _internaldate(b" 7-Jan-2026 01:02:03 -0530") == datetime(
        2026, 1, 7, 6, 32, 3, tzinfo=UTC
    )
    assert _internaldate(b"garbage") is None
    assert uid_ranges([1, 2, 3, 5, 7, 8]) == "1:3,5,7:8"
    assert uid_ranges([]) == ""
    assert uid_ranges([7]) == "7"
    assert uid_ranges(list(range(10, 50010))) == "10:50009"  # one run
    assert uid_ranges([1, 2, 4]) == "1:2,4"


def test_the_fast_readers_contract_with_imapclient_holds(mailbox):
    """Fails when an imapclient or imaplib upgrade changes the private parts the fast FETCH
    reader uses: then pin the version (pyproject, constraints.txt) or adapt primsync.wire."""
    import imapclient

    from primsync.imap import fast_path_available

    with connect(settings(mailbox), PASSWORD) as box:
        assert fast_path_available(box._client), imapclient.__version__


def test_the_fallback_fetch_gives_what_the_fast_reader_gives(mailbox, monkeypatch, caplog):
    import primsync.imap as imap
    import primsync.link as link

    def everything(box):
        box.select("INBOX")
        uids = box.search(["ALL"])
        return list(box.fetch_headers(uids)), list(box.fetch_full(uids))

    with connect(settings(mailbox), PASSWORD) as box:
        fast = everything(box)
    monkeypatch.setattr(link, "_FAST_PATH_WARNED", False)
    with connect(settings(mailbox), PASSWORD) as box:
        real = box._client._imap
        # as if an upgrade renamed imaplib's _new_tag: the probe sees it, the fallback fetches
        monkeypatch.setattr(box._client, "_imap", _Without(real, "_new_tag"))
        assert not imap.fast_path_available(box._client)
        assert not imap.fast_path_available(box._client)  # warned once, not twice
        monkeypatch.setattr(box._client, "_imap", real)
        monkeypatch.setattr(imap, "fast_path_available", lambda client: False)
        slow = everything(box)
    assert slow == fast and len(fast[0]) == 9
    assert b"CV Sofia.pdf" in fast[1][2].data
    warnings = [r for r in caplog.records if "fast FETCH reader" in r.getMessage()]
    assert len(warnings) == 1


class _Without:
    """``inner`` without attribute ``name``."""

    def __init__(self, inner, name):
        self._inner, self._name = inner, name

    def __getattr__(self, attr):
        if attr == self._name:
            raise AttributeError(attr)
        return getattr(self._inner, attr)


def test_an_answer_the_fast_reader_cannot_read_is_read_by_imapclient(mailbox, monkeypatch, caplog):
    import re

    import primsync.wire as wire

    with connect(settings(mailbox), PASSWORD) as box:
        box.select("INBOX")
        expected = list(box.fetch_headers(box.search(["ALL"])))
        never = re.compile(rb"(?!)")
        monkeypatch.setattr(wire, "_COMMON", never)  # every answer through the item reader
        monkeypatch.setattr(wire, "_COMMON_AT", never)
        real = wire.fetch_items

        def refuse_uid_3(texts, literals, start):
            items = real(texts, literals, start)
            if items.get(b"UID") == b"3":
                raise ValueError("as if the server had sent something unreadable")
            return items

        monkeypatch.setattr(wire, "fetch_items", refuse_uid_3)
        got = list(box.fetch_headers(box.search(["ALL"])))
    assert sorted(got, key=lambda m: m.uid) == expected
    assert "reading UIDs 3..3 with imapclient's parser" in caplog.text


def test_every_uid_of_the_search_is_a_row_or_named_in_the_run(db, mailbox):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from primsync.db.models import SyncRun

    with connect(settings(mailbox), PASSWORD) as box:
        real = box.search
        box.search = lambda criteria: real(criteria) + [901, 902]  # expunged meanwhile
        result = review_mailbox(db, DEMO_ACCOUNT, ["INBOX"], option="all", mailbox=box)
    (scan,) = result.scans
    assert scan.gone == [901, 902] and len(result.all_rows) == 9
    with Session(db) as session:
        note = session.scalars(select(SyncRun.note).where(SyncRun.id == result.run_id)).one()
    assert note == (
        "INBOX: 2 messages found by the search but not read (gone from the folder since, "
        "or unreadable): UIDs 901, 902"
    )


def test_uid_sets_cover_every_uid_within_the_line_limit():
    import random

    from primsync.imap import _uid_sets, uid_ranges

    rng = random.Random(7)
    for limit in (20, 100, 8000):
        for uids in (sorted(rng.sample(range(1, 10**7), 30000)), list(range(1, 60001)),
                     sorted({rng.randint(1, 4000) for _ in range(3000)})):  # fmt: skip
            runs = list(_uid_sets(uids, limit=limit))
            assert [uid for run in runs for uid in run] == uids
            assert max(len(uid_ranges(run)) for run in runs) <= limit
    assert len(list(_uid_sets(list(range(1, 50001))))) == 1  # a folder: one FETCH


BIG = 170_000  # a plain SEARCH ALL answer then names 1.08 MB of UIDs on one line


@pytest.fixture(scope="module")
def big_folder(dovecot):
    """A folder of BIG small messages (Gmail's All Mail has 200,000 and more), written once (an
    mbox file: 170,000 files of a Maildir took 20 s to write and 40 s to delete under load)."""
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 1, 1, tzinfo=UTC)
    client = imapclient.IMAPClient(dovecot.host, dovecot.port, ssl=False)
    client.login("big", USERS["big"])
    present = client.folder_exists("Big")
    client.logout()
    if not present:
        dovecot.write_mbox("big", "Big", (
            (b"From: a@x.example\r\nMessage-ID: <%d@x>\r\n\r\nx" % i, start + timedelta(minutes=i))
            for i in range(BIG)
        ))  # fmt: skip
    return start


def test_a_search_answer_longer_than_a_megabyte(dovecot, big_folder):
    """imaplib refuses a line over 1 MB, and a plain SEARCH answer names every UID on one line:
    with ESEARCH the answer is ranges; without (Outlook), the long line is read."""
    from datetime import timedelta

    big = settings(dovecot, username="big")
    assert len(" ".join(map(str, range(1, BIG + 1)))) > 1_000_000
    since = ["SINCE", (big_folder + timedelta(minutes=BIG // 2)).date()]
    with connect(big, USERS["big"]) as box:
        assert "ESEARCH" in box.capabilities
        box.select("Big")
        every, later = box.search(["ALL"]), box.search(since)
    assert every == list(range(1, BIG + 1)) and 0 < len(later) < BIG
    proxy = FaultyProxy(dovecot.port)
    proxy.reshape("no-esearch")
    try:
        with connect(settings(dovecot, username="big", port=proxy.port), USERS["big"]) as box:
            assert "ESEARCH" not in box.capabilities
            box.select("Big")
            assert box.search(["ALL"]) == every and box.search(since) == later
    finally:
        proxy.close()
