"""Every message of the shared corpus, appended to Dovecot and reviewed: a row each, no crash."""

from __future__ import annotations

import imapclient
import pytest
from sqlalchemy.orm import Session

from primsync import frame as F
from primsync.db.models import AppUser, MailAccount, SecurityGroup
from primsync.parse import parse_headers
from primsync.review import review_mailbox
from tests.conftest import USERS


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
    with Session(engine) as session, session.begin():
        group = SecurityGroup(name="Public", level=0)
        session.add(group)
        session.flush()
        user = AppUser(login="c", name="C", group_id=group.id)
        session.add(user)
        session.flush()
        session.add(
            MailAccount(address="corpus@test.example", host=dovecot.host, port=dovecot.port,
                        security="none", username="corpus", owner_id=user.id)
        )  # fmt: skip
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
