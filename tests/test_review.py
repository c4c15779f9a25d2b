"""The review against a real Dovecot: options, rows, context, and nothing flagged \\Seen."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from primsync import frame as F
from primsync.db.models import FolderState, SyncRun
from primsync.deflate import compression_wanted
from primsync.demo import DEMO_ACCOUNT
from primsync.errors import AuthenticationError, ConfigurationError
from primsync.opening import list_folders, open_mailbox
from primsync.review import review_mailbox
from tests.conftest import PASSWORD, RUN_COMPRESS, USERS, assert_lean_review_same, server_flags
from tests.forkserver import PRIMSYNC
from tests.mailbox import EXCLUDED, FOLDERS, MAILS, SHOWN, UNMATCHED


def review(db, folders=("INBOX",), **kw):
    kw.setdefault("secret", PASSWORD)
    return review_mailbox(db, DEMO_ACCOUNT, list(folders), **kw)


def uids(result, folder="INBOX"):
    rows = result.all_rows
    return sorted(rows.loc[rows[F.FOLDER] == folder, F.UID].tolist())


def test_folder_tree(db):
    folders = {f.name: f for f in list_folders(db, DEMO_ACCOUNT, secret=PASSWORD)}
    assert set(FOLDERS) <= set(folders)
    assert folders["Sent"].is_sent and folders["Sent"].special_use == "\\Sent"
    assert not folders["INBOX"].is_sent
    assert folders["INBOX/Candidates"].depth == 1 and folders["INBOX/Candidates"].delimiter == "/"
    assert "Entretiens planifiés" in folders


def test_the_mail_is_read_compressed_on_sqlite_and_plain_on_postgresql(db, backend):
    """conftest's split: the IMAP side's tests read their mail with COMPRESS=DEFLATE on one
    database and without it on the other (unless the run sets PRIMSYNC_COMPRESS itself)."""
    with open_mailbox(db, DEMO_ACCOUNT, secret=PASSWORD) as box:
        box.select("INBOX")
        assert len(list(box.fetch_headers([1]))) == 1
        compressed = box.compressed
    if RUN_COMPRESS is None:
        assert compressed == (backend == "sqlite")
    else:  # the run's own setting, read as the product reads it
        assert compressed == compression_wanted()


@pytest.mark.parametrize(
    ("option", "extra", "expected"),
    [
        ("all", {}, [1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ("unread", {}, [2, 3, 4, 5, 6, 7, 8]),
        ("today", {}, [3, 4]),
        ("7d", {}, [1, 2, 3, 4, 5, 6, 7]),
        ("30d", {}, [1, 2, 3, 4, 5, 6, 7, 8]),
        ("range", {"since": -6, "until": -2}, [2, 5, 6, 7]),
        ("range", {"since": -9}, [1, 2, 3, 4, 5, 6, 7]),
        ("since-last", {}, [1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ],
)
def test_each_option_returns_exactly_its_uids(db, now, option, extra, expected):
    today = now.date()
    dates = {k: today + timedelta(days=v) for k, v in extra.items()}
    result = review(db, option=option, today=today, **dates)
    assert uids(result) == expected


def _state(db, **values):
    with Session(db) as session, session.begin():
        session.add(FolderState(account_id=1, folder="INBOX", **values))


def test_since_last_takes_uids_above_the_last_one(db, now):
    first = review(db, option="all")
    uidvalidity = first.scans[0].uidvalidity
    _state(db, uidvalidity=uidvalidity, last_uid=6, last_sync_at=now)
    assert uids(review(db, option="since-last", today=now.date())) == [7, 8, 9]


def test_since_last_with_nothing_new_is_empty(db, now):
    uidvalidity = review(db, option="all").scans[0].uidvalidity
    _state(db, uidvalidity=uidvalidity, last_uid=9, last_sync_at=now)
    # "10:*" names UID 9 on the server: the plan's min_uid must drop it
    assert uids(review(db, option="since-last", today=now.date())) == []


def test_since_last_after_uidvalidity_change_falls_back_to_the_date(db, now):
    uidvalidity = review(db, option="all").scans[0].uidvalidity
    _state(db, uidvalidity=uidvalidity + 1, last_uid=9, last_sync_at=now - timedelta(days=5.5))
    result = review(db, option="since-last", today=now.date())
    assert uids(result) == [1, 2, 3, 4, 5, 6, 7]
    assert "UIDVALIDITY changed" in result.scans[0].note


def test_rows_record_context_annex_candidates_selected(db):
    result = review(db, FOLDERS, option="all")
    rows = result.all_rows.set_index([F.FOLDER, F.UID])
    assert len(rows) == len(MAILS)
    shown = result.frame.set_index([F.FOLDER, F.UID])
    assert set(shown.index) == set(SHOWN)
    for key, (record, context, annex, candidates, selected) in SHOWN.items():
        row = shown.loc[key]
        annexed = None if pd.isna(row[F.ANNEXED_TO_ID]) else int(row[F.ANNEXED_TO_ID])
        got = (int(row[F.RECORD_ID]), row[F.CONTEXT], annexed, row[F.CANDIDATES])
        assert got == (record, context, annex, candidates), key
        assert bool(row[F.SELECTED]) is selected, key
        assert not row[F.ALREADY_IMPORTED]
    unmatched = result.unmatched.set_index([F.FOLDER, F.UID])
    assert set(unmatched.index) == UNMATCHED
    assert set(rows.index[rows[F.EXCLUDED]]) == EXCLUDED


def test_a_lean_review_keeps_only_the_rows_shown_with_the_same_values(db):
    full, lean = assert_lean_review_same(db, DEMO_ACCOUNT, FOLDERS, secret=PASSWORD)
    assert (lean.left_out.unknown, lean.left_out.excluded) == (len(UNMATCHED), len(EXCLUDED))
    assert len(lean.frame) == len(SHOWN) and len(full.all_rows) == len(MAILS)
    with Session(db) as session:  # what sync_run records is the same too
        lean_run = review(db, FOLDERS, option="all", keep_unmatched=False).run_id
        assert (session.get(SyncRun, lean_run).fetched, session.get(SyncRun, lean_run).shown) == (
            len(MAILS),
            len(SHOWN),
        )


def test_a_lean_review_of_a_mailbox_half_unknown(empty_engine, dovecot, tmp_path):
    """benchmarks/mailbox.py's mailbox with half its mail from senders on no record: the rows
    shown are the same and the half let go of is counted."""
    from benchmarks.mailbox import build_messages, load_into_dovecot, seed_contacts

    messages, people, crm_ids = build_messages(1200, unknown=0.5, seed=11)
    folder = f"Lean{tmp_path.name[-12:].replace('_', '')}"
    load_into_dovecot(dovecot, "bench", USERS["bench"], folder, messages)
    seed_contacts(empty_engine, host=dovecot.host, port=dovecot.port, people=people,
                  crm_ids=crm_ids)  # fmt: skip
    full, lean = assert_lean_review_same(
        empty_engine, "ana@agency.example", [folder], secret=USERS["bench"]
    )
    assert len(full.all_rows) == 1200
    assert 0.4 < lean.left_out.unknown / 1200 < 0.6 and lean.left_out.excluded == 0
    assert len(lean.frame) + lean.left_out.unknown == 1200
    assert (lean.frame[F.CONTEXT] == "green").sum() > 100


def test_evidence_and_direction(db):
    rows = review(db, FOLDERS, option="all").all_rows.set_index([F.FOLDER, F.UID])
    assert rows.loc[("INBOX", 1), F.EVIDENCE].startswith(
        "green: References names <interview.demo@crm.agency.example> (its newest id)"
    )
    assert (
        "In-Reply-To names <shortlist.demo@crm.agency.example>"
        in rows.loc[("INBOX", 2), F.EVIDENCE]
    )
    assert "(id 2 of 2, counting from the newest)" in rows.loc[("INBOX/Candidates", 2), F.EVIDENCE]
    assert "record 7 by default (the most recent CRM message)" in rows.loc[("INBOX", 6), F.EVIDENCE]
    assert "add the address to record 2" in rows.loc[("INBOX", 7), F.EVIDENCE]
    assert rows.loc[("INBOX", 5), F.EVIDENCE].startswith("excluded from synchronization")
    assert "victor@stone.example" in rows.loc[("Sent", 2), F.EVIDENCE]
    assert rows.loc[("Sent", 1), F.DIRECTION] == "out"
    assert rows.loc[("INBOX", 1), F.DIRECTION] == "in"
    assert rows.loc[("INBOX", 2), F.MESSAGE_ID] == "<acme.7@acme.example>"
    no_id = rows.loc[("INBOX", 8)]
    assert pd.isna(no_id[F.MESSAGE_ID]) and no_id[F.DEDUPE_KEY].startswith("sha256:")
    assert "Message-ID: missing" in no_id[F.DEFECTS]
    assert rows.loc[("INBOX", 3), F.SUBJECT] == "Candidatura — sviluppatrice"
    assert rows.loc[("INBOX", 1), F.FROM] == "Léa Dubois"
    assert rows.loc[("INBOX", 1), F.FROM_ADDR] == "lea.dubois@mail.example"


def test_review_never_flags_seen_and_writes_a_sync_run(db, mailbox):
    before = server_flags(mailbox)
    result = review(db, FOLDERS, option="all")
    review(db, FOLDERS, option="unread")
    assert server_flags(mailbox) == before
    assert sum(before.values()) == 3
    with Session(db) as session:
        run = session.get(SyncRun, result.run_id)
        assert (run.kind, run.status, run.fetched, run.shown) == ("review", "ok", 15, 11)
        assert run.folders.splitlines() == FOLDERS


def test_errors_name_account_and_folder_never_the_secret(db):
    with pytest.raises(AuthenticationError) as err:
        review(db, secret="wrong-password-123")
    assert DEMO_ACCOUNT in str(err.value) and "wrong-password-123" not in str(err.value)
    with pytest.raises(ConfigurationError) as err:
        review(db, ["Nope"])
    assert "'Nope'" in str(err.value) and DEMO_ACCOUNT in str(err.value)
    with Session(db) as session:
        statuses = [r.status for r in session.query(SyncRun).order_by(SyncRun.id)]
        errors = [r.error for r in session.query(SyncRun)]
    assert statuses == ["failed", "failed"]
    assert not any("wrong-password-123" in (e or "") for e in errors)


def test_cli_json_gives_the_same_rows_as_the_api(db, tmp_path):
    api = F.frame_to_records(review(db, FOLDERS, option="all").frame)
    url = str(db.url)
    env = {**os.environ, "PRIMSYNC_PASSWORD": PASSWORD, "PRIMSYNC_DB": url}
    args = [*PRIMSYNC, "review", "--account", DEMO_ACCOUNT]
    for folder in FOLDERS:
        args += ["--folder", folder]
    out = subprocess.run(
        [*args, "--option", "all", "--format", "json"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    assert cli == api
    required = {"folder", "uid", "message_id", "received", "from", "subject", "imported_into",
                "record_id", "candidates", "context", "annexed_to", "selected",
                "already_imported", "defects", "evidence"}  # fmt: skip
    assert required <= set(cli[0])
    # the same rows as CSV, written in pieces: each value as Python writes it, ids whole
    import csv

    csv_out = ["--option", "all", "--format", "csv", "-o", str(tmp_path / "review.csv")]
    out = subprocess.run([*args, *csv_out], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "review.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert rows[0] == F.JSON_COLUMNS
    expected = [["" if (v := r.get(c)) is None else str(v) for c in F.JSON_COLUMNS] for r in api]
    assert rows[1:] == expected
    ids = [r[F.JSON_COLUMNS.index(F.ANNEXED_TO_ID)] for r in rows[1:]]
    assert "" in ids and any(i.isdigit() for i in ids)  # some annexed, some not: no "3.0"


def test_cli_exit_codes(db):
    env = {**os.environ, "PRIMSYNC_DB": str(db.url), "PRIMSYNC_PASSWORD": "not-the-password"}
    base = PRIMSYNC
    bad_login = subprocess.run(
        [*base, "review", "--account", DEMO_ACCOUNT, "--folder", "INBOX"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert bad_login.returncode == 3
    assert DEMO_ACCOUNT in bad_login.stderr and "not-the-password" not in bad_login.stderr
    usage = subprocess.run([*base, "review", "--folder", "INBOX"], env=env, capture_output=True)
    assert usage.returncode == 2


def test_the_review_frame_is_one_frame_the_user_changes(db):
    from primsync import import_selected

    result = review(db, option="all")
    assert result.frame is result.frame
    frame = result.frame
    sofia = (frame[F.FOLDER] == "INBOX") & (frame[F.UID] == 3)
    frame[F.SELECTED] = False
    frame.loc[sofia, F.SELECTED] = True  # tick one yellow row, untick the green ones
    assert list(result.frame.loc[result.frame[F.SELECTED], F.UID]) == [3]
    summary = import_selected(db, result, user="ana", accessible_to="Recruiters", secret=PASSWORD)
    assert (summary.imported, list(summary.rows[F.UID])) == (1, [3])
