"""A folder's header fetch shared with a forked helper: same frame, and a failing helper costs
only time."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from primsync import frame as F
from primsync import parallel
from primsync.demo import DEMO_ACCOUNT
from primsync.imap import Mailbox
from primsync.review import review_mailbox
from tests.conftest import PASSWORD
from tests.mailbox import FOLDERS

pytestmark = pytest.mark.skipif(not parallel.helper_enabled(), reason="needs fork and 2 cores")


def review(db):
    return review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all", secret=PASSWORD).all_rows


def test_the_helper_gives_the_same_rows(db, monkeypatch):
    monkeypatch.setenv("PRIMSYNC_FETCH_HELPER", "0")
    alone = review(db)
    monkeypatch.setenv("PRIMSYNC_FETCH_HELPER", "1")
    monkeypatch.setattr(parallel, "HELPER_MIN", 2)
    calls = []
    real = parallel._Helper.result

    def result(self, tick):
        calls.append(1)
        return real(self, tick)

    monkeypatch.setattr(parallel._Helper, "result", result)
    shared = review(db)
    assert calls, "the helper was not used"
    assert shared.equals(alone), "rows differ with the helper"
    assert shared[F.UID].tolist() == alone[F.UID].tolist()


def test_a_failing_helper_leaves_the_work_to_this_process(db, monkeypatch, caplog):
    monkeypatch.setenv("PRIMSYNC_FETCH_HELPER", "0")
    alone = review(db)
    monkeypatch.setenv("PRIMSYNC_FETCH_HELPER", "1")
    monkeypatch.setattr(parallel, "HELPER_MIN", 2)

    def broken(self):
        raise ConnectionRefusedError("too many connections")

    monkeypatch.setattr(Mailbox, "twin", broken)
    with caplog.at_level(logging.WARNING, logger="primsync.parallel"):
        shared = review(db)
    assert shared.equals(alone)
    assert "fetch helper failed (ConnectionRefusedError: too many connections)" in caplog.text
    assert PASSWORD not in caplog.text


def test_progress_counts_both_halves(mailbox, monkeypatch):
    from primsync.imap import ConnectionSettings, connect

    monkeypatch.setattr(parallel, "HELPER_MIN", 2)
    settings = ConnectionSettings(address=DEMO_ACCOUNT, host=mailbox.host, port=mailbox.port,
                                  username="ana", security="none")  # fmt: skip
    seen = []
    with connect(settings, PASSWORD) as box:
        status = box.select("INBOX")
        uids = box.search(["ALL"])
        pieces = parallel.header_frames(
            box, "INBOX", status.uidvalidity, False, uids, progress=lambda *a: seen.append(a)
        )
        frame = pd.concat(list(pieces), ignore_index=True)
    assert sorted(frame[F.UID].tolist()) == uids
    assert seen[-1] == (len(uids), len(uids))


def test_an_import_shared_with_the_helper_stores_the_same(db, monkeypatch):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from primsync.commit import import_selected
    from primsync.db.models import Attachment, ImportedMessage

    def stored():
        with Session(db) as session:
            messages = session.scalars(select(ImportedMessage).order_by(ImportedMessage.uid))
            rows = [(m.folder, m.uid, m.record_id, m.subject, m.body_text, m.body_html, m.size,
                     m.defects) for m in messages]  # fmt: skip
            parts = sorted(
                (a.filename, a.size, a.content) for a in session.scalars(select(Attachment))
            )
        return rows, parts

    def run():
        result = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all", secret=PASSWORD)
        summary = import_selected(db, result, result.frame, user="ana", accessible_to="Public",
                                  secret=PASSWORD)  # fmt: skip
        with db.begin() as conn:
            snapshot = stored()
            conn.exec_driver_sql("DELETE FROM attachment")
            conn.exec_driver_sql("DELETE FROM imported_message")
        return summary.imported, snapshot

    monkeypatch.setenv("PRIMSYNC_FETCH_HELPER", "0")
    alone = run()
    monkeypatch.setenv("PRIMSYNC_FETCH_HELPER", "1")
    monkeypatch.setattr(parallel, "IMPORT_HELPER_MIN", 2)
    helpers = []
    real = parallel._Helper.__init__

    def counted(self, box, uids, job):
        helpers.append(len(uids))
        real(self, box, uids, job)

    monkeypatch.setattr(parallel._Helper, "__init__", counted)
    shared = run()
    assert helpers, "the helper was not used"
    assert alone[0] > 2 and shared == alone
