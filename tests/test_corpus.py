"""Every message of the shared corpus, appended to Dovecot and reviewed: a row each, no crash."""

from __future__ import annotations

import imapclient
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from primsync import frame as F
from primsync.db.engine import write_session
from primsync.db.models import AppUser, SecurityGroup
from primsync.parse import parse_headers, parse_message
from primsync.review import review_mailbox
from tests.conftest import USERS, add_account, assert_lean_review_same


def test_corpus_headers_parse_without_raising(corpus_files):
    defective = sum(bool(parse_headers(p.read_bytes()).defects) for p in corpus_files)
    assert 0 < defective < len(corpus_files)


@pytest.fixture
def corpus_account(engine, dovecot, corpus_files):
    client = imapclient.IMAPClient(dovecot.host, dovecot.port, ssl=False)
    client.login("corpus", USERS["corpus"])
    if not client.folder_exists("Corpus"):
        client.create_folder("Corpus")
    client.select_folder("Corpus")
    appended, refused = 0, []
    if client.folder_status("Corpus", ["MESSAGES"])[b"MESSAGES"] == 0:
        for path in corpus_files:
            try:
                client.append("Corpus", path.read_bytes())
                appended += 1
            except imapclient.exceptions.IMAPClientError as exc:
                refused.append((path.name, str(exc)))
    total = client.folder_status("Corpus", ["MESSAGES"])[b"MESSAGES"]
    client.logout()
    with write_session(engine) as session:
        group = SecurityGroup(name="Public", level=0)
        session.add(group)
        session.flush()
        user = AppUser(login="c", name="C", group_id=group.id)
        session.add(user)
        session.flush()
        owner = user.id
    add_account(engine, "corpus@test.example", dovecot, "corpus", owner_id=owner)
    return total, refused


def test_every_corpus_message_becomes_a_row(engine, corpus_account, corpus_files):
    total, refused = corpus_account
    result = review_mailbox(
        engine, "corpus@test.example", ["Corpus"], option="all", secret=USERS["corpus"]
    )
    rows = result.all_rows
    assert len(rows) == total == len(corpus_files) - len(refused)
    with_defects = int(rows[F.DEFECTS].map(bool).sum())
    print(f"\ncorpus: {len(corpus_files)} files, {total} stored by Dovecot, "
          f"{len(refused)} refused {refused}, {with_defects} rows with defects")  # fmt: skip
    assert with_defects > 0
    assert rows[F.DEDUPE_KEY].map(bool).all()
    assert result.frame.empty  # no known contacts in this database


def test_every_corpus_message_is_stored_or_reported(engine, corpus_account, corpus_files):
    from primsync.commit import import_selected
    from primsync.db.engine import write_session
    from primsync.db.models import Attachment, ImportedMessage, Record, RecordAddress

    total, _ = corpus_account
    first = review_mailbox(engine, "corpus@test.example", ["Corpus"], option="all",
                           secret=USERS["corpus"])  # fmt: skip
    senders = sorted({a for a in first.all_rows[F.FROM_ADDR] if a})
    with write_session(engine) as session:
        record = Record(kind="contact", name="Corpus senders")
        session.add(record)
        session.flush()
        session.add_all(RecordAddress(record_id=record.id, address=a) for a in senders)
    result = review_mailbox(engine, "corpus@test.example", ["Corpus"], option="all",
                            secret=USERS["corpus"])  # fmt: skip
    rows = result.all_rows
    summary = import_selected(engine, result, result.frame, user="c", accessible_to="Public",
                              secret=USERS["corpus"])  # fmt: skip
    unmatched = rows[~rows[F.MATCHED]]
    # every message: stored, skipped with a reason, or left out with its defect
    assert summary.imported + summary.skipped + len(unmatched) == total
    assert set(summary.rows.loc[summary.rows["outcome"] == "skipped", "reason"]) <= {
        "already imported into this record"
    }
    assert all(any(d.startswith("From:") for d in ds) for ds in unmatched[F.DEFECTS])
    with Session(engine) as session:
        stored = session.scalars(select(ImportedMessage)).all()
        attachments = session.scalar(select(func.count()).select_from(Attachment))
    expected_parts = sum(
        len(parse_message(p.read_bytes()).parts) for p in corpus_files
        if parse_headers(p.read_bytes()).from_addr
    )  # fmt: skip
    with_defects = sum(bool(m.defects) for m in stored)
    print(f"\ncorpus import: {total} messages, {summary.imported} stored ({with_defects} with "
          f"defects), {summary.skipped} duplicates "
          f"skipped, {len(unmatched)} left out (no usable From), {attachments} attachments "
          f"(parts in the files of matched senders: {expected_parts})")  # fmt: skip
    assert summary.imported + summary.skipped > 150 and attachments > 0
    # the corpus reuses Message-IDs: those are one message, stored once (hence the skips)
    assert (
        summary.skipped
        == len(rows[rows[F.MATCHED]]) - rows.loc[rows[F.MATCHED], F.DEDUPE_KEY].nunique()
    )
    unknown = next(p for p in corpus_files if p.name == "unk-charset-part.raw")
    body = parse_message(unknown.read_bytes())  # (stored above under a twin's Message-ID)
    assert "unknown charset 'fakescii'" in body.defects[0] and body.text == "A text section"


def test_a_lean_review_of_the_corpus_shows_the_same_rows(engine, corpus_account):
    """Every other corpus sender on a record, one of them excluded: the review that keeps only
    the rows shown gives them with the same values as the one that keeps every row."""
    from primsync.db.models import Record, RecordAddress

    first = review_mailbox(engine, "corpus@test.example", ["Corpus"], option="all",
                           secret=USERS["corpus"], record=False)  # fmt: skip
    senders = sorted({a for a in first.all_rows[F.FROM_ADDR] if a})
    with write_session(engine) as session:
        known = Record(kind="contact", name="Half the corpus")
        shut = Record(kind="contact", name="Excluded", exclude_from_sync=True)
        session.add_all([known, shut])
        session.flush()
        session.add_all(RecordAddress(record_id=known.id, address=a) for a in senders[1::2])
        session.add(RecordAddress(record_id=shut.id, address=senders[0]))
    full, lean = assert_lean_review_same(
        engine, "corpus@test.example", ["Corpus"], secret=USERS["corpus"]
    )
    assert len(lean.frame) > 20 and lean.left_out.unknown > 20 and lean.left_out.excluded >= 1
