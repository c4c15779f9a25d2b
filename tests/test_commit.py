"""The import on Dovecot + SQLite: exactly once, in full, behind "Accessible to"."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

import pandas as pd
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from primsync import frame as F
from primsync.commit import import_selected
from primsync.db.access import get_attachment, get_message, message_attachments, visible_messages
from primsync.db.models import (
    AppUser,
    Attachment,
    FolderState,
    ImportedMessage,
    SecurityGroup,
    SyncRun,
)
from primsync.deflate import compression_wanted
from primsync.demo import DEMO_ACCOUNT
from primsync.errors import CommitError, MailboxError, PermissionDenied
from primsync.imap import ConnectionSettings, connect
from primsync.review import review_mailbox
from tests.conftest import PASSWORD, group_id, server_flags
from tests.forkserver import PRIMSYNC
from tests.mailbox import (
    ACME_ID,
    BILL_ID,
    CRM_APPLICATION,
    CRM_INTERVIEW,
    CRM_SHORTLIST,
    FOLDERS,
    LEA_ID,
    PDF,
    SOFIA_ID,
    TOM_ID,
)
from tests.proxy import FaultyProxy


def review(db, folders=FOLDERS, option="all"):
    return review_mailbox(db, DEMO_ACCOUNT, list(folders), option=option, secret=PASSWORD)


def rows_of(result, *keys):
    frame = result.frame
    return frame[[(f, u) in keys for f, u in zip(frame[F.FOLDER], frame[F.UID], strict=True)]]


def stored(db):
    with Session(db) as session:
        return {
            (m.folder, m.uid): m
            for m in session.scalars(select(ImportedMessage).order_by(ImportedMessage.id))
        }


def count(db, model):
    with Session(db) as session:
        return session.scalar(select(func.count()).select_from(model))


def set_group(db, login, group):
    with Session(db) as session, session.begin():
        gid = session.scalar(select(SecurityGroup.id).where(SecurityGroup.name == group))
        session.execute(update(AppUser).where(AppUser.login == login).values(group_id=gid))


def test_import_green_then_two_yellow_rows(db, mailbox):
    flags = server_flags(mailbox)
    result = review(db)
    summary = import_selected(db, result, user="ana", accessible_to="Recruiters", secret=PASSWORD)
    assert (summary.imported, summary.skipped) == (4, 1)
    skipped = summary.rows[summary.rows["outcome"] == "skipped"]
    assert list(zip(skipped[F.FOLDER], skipped[F.UID], skipped["reason"], strict=True)) == [
        ("INBOX/Candidates", 3, "already imported into this record")
    ]
    messages = stored(db)
    assert set(messages) == {("INBOX", 1), ("INBOX", 2), ("INBOX/Candidates", 2), ("Sent", 1)}
    lea = messages[("INBOX", 1)]
    assert (lea.record_id, lea.context, lea.direction, lea.annexed_to_id) == (
        LEA_ID,
        "green",
        "in",
        CRM_INTERVIEW,
    )
    assert (lea.message_id, lea.dedupe_key) == ("<lea.1@mail.example>", "<lea.1@mail.example>")
    assert lea.from_addr == "lea.dubois@mail.example" and lea.from_name == "Léa Dubois"
    assert lea.to_addrs == DEMO_ACCOUNT and lea.cc_addrs == ""
    assert lea.subject == "Re: Interview on Monday"
    assert lea.references == "<interview.demo@crm.agency.example>" and lea.in_reply_to is None
    assert lea.body_text == "Hello,\n\nSee below.\n" and lea.body_html == ""
    assert lea.account_id == 1 and lea.run_id == summary.run_id and lea.size > 100
    assert lea.received_at is not None and lea.uidvalidity == result.scans[0].uidvalidity
    acme = messages[("INBOX", 2)]
    assert (acme.record_id, acme.annexed_to_id, acme.in_reply_to) == (
        ACME_ID,
        CRM_SHORTLIST,
        "<shortlist.demo@crm.agency.example>",
    )
    tom = messages[("INBOX/Candidates", 2)]
    assert (tom.record_id, tom.annexed_to_id) == (TOM_ID, CRM_APPLICATION)
    sent = messages[("Sent", 1)]
    assert (sent.direction, sent.record_id, sent.context) == ("out", LEA_ID, "green")
    with Session(db) as session:
        groups = {m.accessible_to_id for m in session.scalars(select(ImportedMessage))}
        png = session.scalars(select(Attachment).where(Attachment.message_id == sent.id)).one()
    assert groups == {group_id(db, "Recruiters")}
    assert (png.filename, png.content_type, png.content) == (
        "plan.png",
        "image/png",
        b"\x89PNG\r\n\x1a\n fake map",
    )

    # two yellow rows, one of them filed into the other candidate record
    again = review(db)
    assert not again.frame[F.SELECTED].any()
    yellow = rows_of(again, ("INBOX", 3), ("INBOX", 6)).copy()
    yellow.loc[yellow[F.UID] == 6, F.RECORD_ID] = BILL_ID
    summary = import_selected(
        db, again, yellow, user="ana", accessible_to="Public", secret=PASSWORD
    )
    assert (summary.imported, summary.skipped) == (2, 0)
    messages = stored(db)
    sofia, initech = messages[("INBOX", 3)], messages[("INBOX", 6)]
    assert (sofia.record_id, sofia.context, sofia.annexed_to_id) == (SOFIA_ID, "yellow", None)
    assert initech.record_id == BILL_ID
    with Session(db) as session:
        cv = session.scalars(select(Attachment).where(Attachment.message_id == sofia.id)).one()
    assert cv.filename == PDF[0] and cv.content_type == PDF[1] and cv.size == len(PDF[2])
    assert hashlib.sha256(cv.content).hexdigest() == hashlib.sha256(PDF[2]).hexdigest()

    # the same import again adds nothing and says why
    before = count(db, ImportedMessage)
    summary = import_selected(
        db, again, yellow, user="ana", accessible_to="Public", secret=PASSWORD
    )
    assert (summary.imported, summary.skipped) == (0, 2)
    assert set(summary.rows["reason"]) == {"already imported into this record"}
    assert count(db, ImportedMessage) == before == 6
    final = review(db).frame.set_index([F.FOLDER, F.UID])
    imported_keys = {k for k, v in final[F.ALREADY_IMPORTED].items() if v}
    assert final.loc[("INBOX", 6), F.RECORD_ID] == BILL_ID  # stays where the user filed it
    assert imported_keys == {
        ("INBOX", 1), ("INBOX", 2), ("INBOX", 3), ("INBOX", 6),
        ("INBOX/Candidates", 2), ("INBOX/Candidates", 3), ("Sent", 1),
    }  # fmt: skip
    assert server_flags(mailbox) == flags


def test_the_values_stored_of_a_row_are_those_pandas_gives_of_it(db, mailbox):
    """The import reads each ticked row's stored columns column by column (commit's
    ``_stored_values``): the same values, of the same types, as ``to_dict("records")`` gives,
    missing values included."""
    from primsync.commit import _STORED, _stored_values

    frame = review(db).frame
    odd = frame.head(2).copy()
    odd[F.RECEIVED] = pd.NaT
    odd[F.MESSAGE_ID] = None
    odd[F.ANNEXED_TO_ID] = pd.NA
    odd[F.RECORD_ID] = pd.NA
    def seen(records):  # pd.NA is not equal to itself: compare types and reprs
        return [[(k, type(v), repr(v)) for k, v in r.items()] for r in records]

    for rows in (frame, odd, frame.iloc[0:0]):
        expected = rows[list(_STORED)].to_dict("records")
        assert seen(_stored_values(rows)) == seen(expected)
    assert len(frame) > 5 and frame[F.ANNEXED_TO_ID].isna().any()


def test_folder_state_moves_and_since_last_shows_only_newer_mail(db):
    result = review(db, option="since-last")
    import_selected(db, result, user="ana", accessible_to="Public", secret=PASSWORD)
    with Session(db) as session:
        states = {s.folder: s for s in session.scalars(select(FolderState))}
    assert {f: s.last_uid for f, s in states.items()} == {
        "INBOX": 9,
        "INBOX/Candidates": 3,
        "Sent": 2,
        "Entretiens planifiés": 1,
    }
    assert states["INBOX"].uidvalidity == result.scans[0].uidvalidity
    assert states["INBOX"].highestmodseq is not None and states["INBOX"].last_sync_at is not None
    assert review(db, option="since-last").all_rows.empty
    assert len(review(db, option="all").frame) == 11  # unticked rows stay reachable


def test_permissions(db):
    result = review(db)
    with pytest.raises(PermissionDenied, match="level 10.*'Direction'"):
        import_selected(db, result, user="ana", accessible_to="Direction", secret=PASSWORD)
    with pytest.raises(PermissionDenied, match="only the owner"):
        import_selected(db, result, user="dora", accessible_to="Public", secret=PASSWORD)
    set_group(db, "ana", "Public")
    env = {**os.environ, "PRIMSYNC_DB": str(db.url), "PRIMSYNC_PASSWORD": PASSWORD}
    out = subprocess.run(
        [*PRIMSYNC, "import", "--account", DEMO_ACCOUNT,
         "--folder", "INBOX", "--option", "all", "--user", "ana", "--accessible-to", "Direction"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 4, out.stderr
    assert "cannot file messages at 'Direction'" in out.stderr and PASSWORD not in out.stderr
    assert count(db, ImportedMessage) == 0


LEVEL_OF = {"INBOX:1": "Public", "INBOX:2": "Recruiters", "INBOX/Candidates:2": "Managers",
            "Sent:1": "Direction"}  # fmt: skip
SEES = {"paul": {"INBOX:1"}, "ana": {"INBOX:1", "INBOX:2"},
        "marc": {"INBOX:1", "INBOX:2", "INBOX/Candidates:2"}, "dora": set(LEVEL_OF)}  # fmt: skip


def test_four_levels_see_exactly_their_messages(db):
    set_group(db, "ana", "Direction")
    env = {**os.environ, "PRIMSYNC_DB": str(db.url), "PRIMSYNC_PASSWORD": PASSWORD}
    for key, group in LEVEL_OF.items():
        out = subprocess.run(
            [*PRIMSYNC, "import", "--account", DEMO_ACCOUNT,
             *[a for f in FOLDERS for a in ("--folder", f)], "--option", "all",
             "--user", "ana", "--accessible-to", group, "--uid", key],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "1 imported, 0 skipped" in out.stdout
    set_group(db, "ana", "Recruiters")
    ids = {f"{m.folder}:{m.uid}": m.id for m in stored(db).values()}
    for user, expected in SEES.items():
        frame = visible_messages(db, user)
        assert {f"{f}:{u}" for f, u in zip(frame["folder"], frame["uid"], strict=True)} == expected
        assert set(frame["accessible_to"]) == {LEVEL_OF[k] for k in expected}
        lea = visible_messages(db, user, record_id=LEA_ID)
        assert set(lea["id"]) == {ids[k] for k in expected if k in ("INBOX:1", "Sent:1")}
        for key, mid in ids.items():
            message = get_message(db, user, mid)
            assert (message is not None) == (key in expected), (user, key)
            attachments = message_attachments(db, user, mid)
            if key == "Sent:1":
                assert len(attachments) == (1 if key in expected else 0)
        png = message_attachments(db, "dora", ids["Sent:1"])[0]
        assert (get_attachment(db, user, png.id) is not None) == (user == "dora")
        cli = subprocess.run(
            [*PRIMSYNC, "messages", "--user", user, "--format", "json"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert {f"{m['folder']}:{m['uid']}" for m in json.loads(cli.stdout)} == expected


def _through_proxy(dovecot, proxy):
    settings = ConnectionSettings(
        address=DEMO_ACCOUNT, host=dovecot.host, port=proxy.port, username="ana", security="none"
    )
    return connect(settings, PASSWORD)


def _runs(db):
    with Session(db) as session:
        runs = session.scalars(select(SyncRun).order_by(SyncRun.id))
        return [(r.kind, r.status, r.error) for r in runs]


def test_a_dropped_connection_is_resumed_and_imports_once(db, mailbox):
    result = review(db)
    proxy = FaultyProxy(mailbox.port)
    try:
        with _through_proxy(mailbox, proxy) as box:
            proxy.cut_after(1500, times=2)  # twice, in the middle of the full fetch
            summary = import_selected(db, result, user="ana", accessible_to="Public", mailbox=box)
            assert box.reconnects == 2
            assert box.compressed is compression_wanted()
    finally:
        proxy.close()
    assert proxy.cuts == 2
    assert (summary.imported, summary.skipped) == (4, 1)
    assert count(db, ImportedMessage) == 4


def test_a_connection_that_keeps_dropping_stores_nothing_and_a_rerun_imports_once(db, mailbox):
    result = review(db)
    proxy = FaultyProxy(mailbox.port)
    try:
        box = _through_proxy(mailbox, proxy)
        proxy.cut_after(1500, times=100)
        with pytest.raises(MailboxError) as err:
            import_selected(db, result, user="ana", accessible_to="Public", mailbox=box)
        box.close()
    finally:
        proxy.close()
    assert box.reconnects == 3
    message = str(err.value)
    assert "gave up after 3 reconnects" in message and "connection lost" in message
    assert DEMO_ACCOUNT in message and err.value.folder in FOLDERS and PASSWORD not in message
    assert count(db, ImportedMessage) == 0 and count(db, Attachment) == 0
    assert count(db, FolderState) == 0
    kind, status, error = _runs(db)[-1]
    assert (kind, status) == ("import", "failed") and "gave up after 3 reconnects" in error
    summary = import_selected(db, result, user="ana", accessible_to="Public", secret=PASSWORD)
    assert (summary.imported, summary.skipped) == (4, 1)
    assert count(db, ImportedMessage) == 4


def test_an_error_inside_the_database_write_rolls_everything_back(db, monkeypatch):
    import primsync.db.imports as imports

    def broken(*args, **kwargs):
        raise RuntimeError("disk full (simulated)")

    result = review(db)
    monkeypatch.setattr(imports, "_mark_folders", broken)  # runs after the messages
    with pytest.raises(CommitError, match="rolled back.*disk full"):
        import_selected(db, result, user="ana", accessible_to="Public", secret=PASSWORD)
    assert count(db, ImportedMessage) == 0 and count(db, Attachment) == 0
    assert _runs(db)[-1][:2] == ("import", "failed") and "disk full" in _runs(db)[-1][2]
    monkeypatch.undo()
    summary = import_selected(db, result, user="ana", accessible_to="Public", secret=PASSWORD)
    assert summary.imported == 4 and count(db, ImportedMessage) == 4


def test_summary_counts_per_record_and_context(db):
    summary = import_selected(db, review(db), user="ana", accessible_to="Public", secret=PASSWORD)
    counts = summary.counts()
    as_dict = {(r.imported_into, r.context, r.outcome): r.messages for r in counts.itertuples()}
    assert as_dict == {
        ("Acme Corp", "green", "imported"): 1,
        ("Léa Dubois", "green", "imported"): 2,
        ("Léa Dubois", "green", "skipped"): 1,
        ("Tom Baker", "green", "imported"): 1,
    }
    assert isinstance(counts, pd.DataFrame)


def test_uidvalidity_reset_falls_back_to_dates_and_dedupe_keys(db, dovecot, now):
    from primsync.demo import DemoMail, seed_mailbox
    from tests.conftest import USERS, add_account
    from tests.mailbox import LEA, ME, TOM

    add_account(db, "reset@agency.example", dovecot, "reset")
    settings = ConnectionSettings(address="reset@agency.example", host=dovecot.host,
                                  port=dovecot.port, username="reset", security="none")  # fmt: skip
    mails = [
        DemoMail("Reset", LEA, [ME], "Today 1", 0.1, message_id="<r1@mail.example>"),
        DemoMail("Reset", TOM, [ME], "Today 2", 0.05, message_id="<r2@mail.example>"),
        DemoMail("Reset", LEA, [ME], "Last week", 7, message_id="<r3@mail.example>"),
    ]
    with connect(settings, USERS["reset"]) as box:
        if "Reset" in {f.name for f in box.list_folders()}:
            box._client.delete_folder("Reset")
        seed_mailbox(box, mails, now=now)

    def review_reset(option="since-last"):
        return review_mailbox(db, "reset@agency.example", ["Reset"], option=option,
                              secret=USERS["reset"], today=now.date())  # fmt: skip

    first = review_reset()
    summary = import_selected(db, first, first.frame, user="ana", accessible_to="Public",
                              secret=USERS["reset"])  # fmt: skip
    assert summary.imported == 3
    with Session(db) as session:
        old_state = session.scalars(select(FolderState).where(FolderState.folder == "Reset")).one()
        old_validity = old_state.uidvalidity
    # the folder is deleted and recreated with the same messages, and one new one
    time.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock
    with connect(settings, USERS["reset"]) as box:
        box._client.delete_folder("Reset")
        seed_mailbox(box, [mails[2], mails[0], mails[1]], now=now)
        seed_mailbox(box, [DemoMail("Reset", TOM, [ME], "New", 0.01,
                                    message_id="<r4@mail.example>")], now=now)  # fmt: skip
    second = review_reset()
    assert second.scans[0].uidvalidity != old_validity
    assert "UIDVALIDITY changed" in second.scans[0].note
    frame = second.frame.set_index(F.MESSAGE_ID)
    # SINCE the last sync date: today's messages; the week-old one is not offered again
    assert sorted(frame.index) == ["<r1@mail.example>", "<r2@mail.example>", "<r4@mail.example>"]
    assert frame[F.ALREADY_IMPORTED].to_dict() == {
        "<r1@mail.example>": True,
        "<r2@mail.example>": True,
        "<r4@mail.example>": False,
    }
    summary = import_selected(db, second, second.frame, user="ana", accessible_to="Public",
                              secret=USERS["reset"])  # fmt: skip
    assert (summary.imported, summary.skipped) == (1, 2)
    assert count(db, ImportedMessage) == 4
    with Session(db) as session:
        state = session.scalars(select(FolderState).where(FolderState.folder == "Reset")).one()
        assert (state.uidvalidity, state.last_uid) == (second.scans[0].uidvalidity, 4)
