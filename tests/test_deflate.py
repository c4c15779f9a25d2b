"""COMPRESS=DEFLATE (RFC 4978): the inflating reader alone, then real sessions with Dovecot's
imap_zlib plugin, compressed and not (``PRIMSYNC_COMPRESS=0``)."""

from __future__ import annotations

import io
import zlib

import pytest

from primsync import deflate
from primsync.deflate import FakeSocket, Inflating
from primsync.demo import DEMO_ACCOUNT
from primsync.imap import connect
from primsync.review import review_mailbox
from primsync.wire import Reader
from tests.conftest import PASSWORD
from tests.mailbox import FOLDERS
from tests.proxy import FaultyProxy
from tests.test_imap import settings


def deflated(*texts: bytes) -> list[bytes]:
    """Each text compressed and flushed as a server sends it."""
    z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return [z.compress(t) + z.flush(zlib.Z_SYNC_FLUSH) for t in texts]


def test_inflated_stream_reads_in_any_chunking():
    answer = b"* 1 FETCH (UID 4 BODY[] {11}\r\nHello world)\r\nA1 OK done\r\n" * 50
    wire = b"".join(deflated(answer[:700], answer[700:]))
    for size in (1, 7, 64, len(wire)):
        chunks = [wire[i : i + size] for i in range(0, len(wire), size)]
        reader = io.BufferedReader(Inflating(FakeSocket(chunks)), buffer_size=32)
        assert reader.read() == answer


def test_the_fetch_reader_reads_through_the_inflated_stream():
    answer = b"".join(
        b'* %d FETCH (UID %d FLAGS () INTERNALDATE "01-Feb-2026 10:00:00 +0100" '
        b"RFC822.SIZE 5 BODY[] {5}\r\nHi %02d)\r\n" % (i, i, i)
        for i in range(1, 40)
    )
    file = io.BufferedReader(Inflating(FakeSocket(deflated(answer + b"A9 OK done\r\n"))))
    got = list(Reader(lambda: file.read1(1 << 20)).answer(b"A9"))
    assert [m.uid for m in got] == list(range(1, 40)) and got[-1].data == b"Hi 39"


def test_a_corrupt_stream_is_a_lost_connection_and_an_end_is_an_end():
    with pytest.raises(ConnectionError, match="corrupt"):
        Inflating(FakeSocket([b"\xff\xff\xff\xff not deflate"])).read(10)
    assert io.BufferedReader(Inflating(FakeSocket([]))).read() == b""


@pytest.mark.parametrize(
    ("value", "wanted"), [(None, True), ("1", True), ("0", False), ("off", False), ("no", False)]
)
def test_primsync_compress_switch(monkeypatch, value, wanted):
    if value is None:
        monkeypatch.delenv("PRIMSYNC_COMPRESS", raising=False)
    else:
        monkeypatch.setenv("PRIMSYNC_COMPRESS", value)
    assert deflate.compression_wanted() is wanted


@pytest.mark.parametrize("compress", ["1", "0"])
def test_a_session_compresses_where_the_server_offers_it(db, mailbox, monkeypatch, compress):
    monkeypatch.setenv("PRIMSYNC_COMPRESS", compress)
    proxy = FaultyProxy(mailbox.port)
    try:
        with connect(settings(mailbox, port=proxy.port), PASSWORD) as box:
            assert "COMPRESS=DEFLATE" in box.capabilities
            assert not box.compressed  # not before the first FETCH: a re-sync needs none
            result = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all",
                                    mailbox=box, record=False)  # fmt: skip
            assert box.compressed is (compress == "1")
            box.select(FOLDERS[0])
            uids = box.search(["ALL"])
            full = {m.uid: m.data for m in box.fetch_full(uids)}
    finally:
        proxy.close()
    assert len(result.all_rows) > 0 and len(full) == len(uids) > 0
    assert all(data.startswith((b"From", b"Message", b"Date", b"Return", b"Received", b"To",
                                b"Subject", b"MIME", b"Content", b"Reply", b"Cc", b"In-Reply"))
               for data in full.values())  # fmt: skip


def test_the_same_rows_compressed_or_not(db, mailbox, monkeypatch):
    rows = {}
    for compress in ("1", "0"):
        monkeypatch.setenv("PRIMSYNC_COMPRESS", compress)
        frame = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all",
                               secret=PASSWORD, record=False).all_rows  # fmt: skip
        rows[compress] = frame.drop(columns=["defects"]).astype(str).to_dict("records")
    assert rows["1"] == rows["0"] and rows["1"]
