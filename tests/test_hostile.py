"""Hostile sizes: a 25 MB attachment, 10,000 recipients, MIME nested 100 deep, a huge base64
line. Each is reviewed and imported; memory stays proportional; limits leave a defect."""

from __future__ import annotations

import base64
import hashlib
import os
import tracemalloc
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from primsync import frame as F
from primsync import parse
from primsync.commit import import_selected
from primsync.db.models import Attachment, ImportedMessage
from primsync.imap import ConnectionSettings, connect
from primsync.parse import parse_headers, parse_message
from primsync.review import review_mailbox
from tests.conftest import USERS, add_account

ACCOUNT = "hostile@agency.example"
BIG = os.urandom(25 * 1024 * 1024)
BLOB = os.urandom(3 * 1024 * 1024)  # module constants: the folder is filled once a session


def _base(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Tom Baker <tom.baker@mail.example>"
    msg["To"] = "recruiter@agency.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@hostile.example>"
    msg["Date"] = "Fri, 27 Nov 2026 10:00:00 +0000"
    return msg


def big_attachment() -> bytes:
    msg = _base("big attachment")
    msg.set_content("see the archive\n")
    msg.add_attachment(BIG, maintype="application", subtype="zip", filename="archive.zip")
    return msg.as_bytes()


def many_recipients() -> bytes:
    msg = _base("ten thousand recipients")
    msg["Cc"] = ", ".join(f"person{i}@list.example" for i in range(10_000))
    msg.set_content("hello all\n")
    return msg.as_bytes()


def deep_nesting(depth: int = 100) -> bytes:
    head = (b"From: tom.baker@mail.example\r\nTo: recruiter@agency.example\r\n"
            b"Subject: nested\r\nMessage-ID: <nested@hostile.example>\r\n"
            b"MIME-Version: 1.0\r\n")  # fmt: skip
    body = b"Content-Type: text/plain\r\n\r\ndeep inside\r\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--" + boundary
                + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n")  # fmt: skip
    return head + body


def huge_base64_line() -> tuple[bytes, bytes]:
    """A 4 MB base64 part on one single line, and the bytes it encodes."""
    payload = BLOB
    head = (b"From: tom.baker@mail.example\r\nTo: recruiter@agency.example\r\n"
            b"Subject: one long line\r\nMessage-ID: <longline@hostile.example>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream; name=blob.bin\r\n"
            b"Content-Disposition: attachment; filename=blob.bin\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")  # fmt: skip
    return head + base64.b64encode(payload) + b"\r\n", payload


def test_parser_limits_leave_defects(monkeypatch):
    h = parse_headers(many_recipients())
    assert 0 < len(h.cc_addrs) < 10_000
    assert any("characters cut" in d for d in h.defects)
    body = parse_message(deep_nesting())
    assert any("nested deeper than 50" in d for d in body.defects)
    monkeypatch.setattr(parse, "MAX_PART_BYTES", 1024 * 1024)
    capped = parse_message(big_attachment())
    assert capped.parts[0].content == b"" and "over the 1048576 byte limit" in " ".join(
        capped.defects
    )


@pytest.fixture
def hostile(db, dovecot):
    add_account(db, ACCOUNT, dovecot, "corpus")
    settings = ConnectionSettings(address=ACCOUNT, host=dovecot.host, port=dovecot.port,
                                  username="corpus", security="none")  # fmt: skip
    line, payload = huge_base64_line()
    with connect(settings, USERS["corpus"]) as box:
        if "Hostile" not in {f.name for f in box.list_folders()}:
            box.create_folder("Hostile")
            for raw in (big_attachment(), many_recipients(), deep_nesting(), line):
                box.append("Hostile", raw)
    return db, payload


def test_hostile_messages_are_reviewed_and_imported_in_bounded_memory(hostile):
    db, payload = hostile
    tracemalloc.start()
    try:
        result = review_mailbox(db, ACCOUNT, ["Hostile"], option="all", secret=USERS["corpus"])
        _, review_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        summary = import_selected(db, result, result.frame, user="ana", accessible_to="Public",
                                  secret=USERS["corpus"])  # fmt: skip
        _, import_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.frame) == 4 and summary.imported == 4
    assert review_peak < 20 * 1024 * 1024  # headers only: the 25 MB body is never fetched
    total = int(result.frame[F.SIZE].sum())
    print(f"\nhostile: {total / 1e6:.1f} MB of mail, review peak {review_peak / 1e6:.1f} MB, "
          f"import peak {import_peak / 1e6:.1f} MB")  # fmt: skip
    largest = int(result.frame[F.SIZE].max())
    # one batch in memory (a message over BODY_BATCH_BYTES is a batch of its own), in its few
    # forms (wire bytes, parsed tree, decoded part, database parameter): bounded by the largest
    assert import_peak < 12 * largest
    with Session(db) as session:
        stored = {m.subject: m for m in session.scalars(select(ImportedMessage))}
        files = {a.filename: a for a in session.scalars(select(Attachment))}
        assert hashlib.sha256(files["archive.zip"].content).digest() == hashlib.sha256(BIG).digest()
        assert files["blob.bin"].content == payload
        assert "characters cut" in stored["ten thousand recipients"].defects
        assert "nested deeper than 50" in stored["nested"].defects
