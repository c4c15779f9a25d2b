"""Coverage: unknown correspondents ranked with suggestions (primsync.coverage), adding one's
address from the notebook's view, and undoing it — on both databases."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from benchmarks.replies import ACCOUNT as REPLIES_ACCOUNT
from benchmarks.replies import CASES
from benchmarks.replies import FOLDERS as REPLIES_FOLDERS
from primsync import frame as F
from primsync.coverage import COVERAGE_COLUMNS, coverage, coverage_of, is_free_mail
from primsync.db.addresses import add_address, address_changes, undo_address_change
from primsync.db.models import RecordAddress, RecordAddressChange
from primsync.demo import DEMO_ACCOUNT
from primsync.errors import ConfigurationError
from primsync.review import review_mailbox
from primsync.widgets import CoverageView
from tests.conftest import PASSWORD, USERS
from tests.forkserver import PRIMSYNC
from tests.mailbox import FOLDERS, TOM_ID


def _row(sender="", name="", to=(), cc=(), direction="in", context="yellow", record=None,
         when="2026-11-01", subject="s"):  # fmt: skip
    return {F.DIRECTION: direction, F.FROM_ADDR: sender, F.FROM_NAME: name, F.TO_ADDRS: list(to),
            F.CC_ADDRS: list(cc), F.RECEIVED: pd.Timestamp(when, tz="UTC"), F.CONTEXT: context,
            F.RECORD_ID: record, F.IMPORTED_INTO: None, F.SUBJECT: subject}  # fmt: skip


CONTACTS = pd.DataFrame(
    [("hr@acme.example", 1, "Acme Corp", "client", False),
     ("jobs@acme.example", 1, "Acme Corp", "client", False),
     ("lea@mail.example", 2, "Léa Dubois", "candidate", False),
     ("boss@gmail.com", 3, "Gmail Shop", "client", False),
     ("victor@stone.example", 4, "Victor Stone", "candidate", True)],
    columns=["address", "record_id", "name", "kind", "excluded"],
)  # fmt: skip


def test_ranked_by_volume_with_a_suggestion_each_and_none_from_free_mail():
    rows = pd.DataFrame([
        _row("new.hire@acme.example", "New Hire", when="2026-11-02"),
        _row("new.hire@acme.example", "New Hire", when="2026-11-03"),
        _row("lea.private@home.example", "Lea DUBOIS", when="2026-11-01"),
        _row("lea@mail.example", to=["me@agency.example"], cc=["assistant@lea.example"]),
        _row("stranger@gmail.com", "Stranger"),  # gmail: no client, whatever has gmail
        _row("me@agency.example", direction="out", to=["bob@nowhere.example"],
             cc=["victor@stone.example"]),  # beside an excluded record: no suggestion
        _row("me@agency.example", direction="out", to=["lea@mail.example"]),
    ])  # fmt: skip
    found = coverage(rows, CONTACTS, me="me@agency.example")
    assert list(found.columns) == COVERAGE_COLUMNS
    assert found["address"].tolist()[0] == "new.hire@acme.example"  # 2 messages first
    assert "me@agency.example" not in set(found["address"])
    by = found.set_index("address")
    hire = by.loc["new.hire@acme.example"]
    assert (hire["record_id"], hire["messages"]) == (1, 2)
    assert hire["reason"] == "the domain acme.example is this client's (hr@acme.example)"
    assert by.loc["lea.private@home.example", "record_id"] == 2
    assert "display name 'Lea DUBOIS'" in by.loc["lea.private@home.example", "reason"]
    assert by.loc["assistant@lea.example", "record_id"] == 2
    cc = by.loc["assistant@lea.example", "reason"]
    assert cc == "in Cc beside lea@mail.example (Léa Dubois) in 1 message"
    assert pd.isna(by.loc["stranger@gmail.com", "record_id"])  # free mail suggests no client
    assert pd.isna(by.loc["bob@nowhere.example", "record_id"])
    assert by.loc["bob@nowhere.example", ["sent", "received"]].tolist() == [1, 0]
    assert is_free_mail("x@Yahoo.fr") and not is_free_mail("x@acme.example")
    assert coverage(rows.iloc[0:0], CONTACTS).empty


def test_coverage_of_the_test_mailbox(db):
    review = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all", secret=PASSWORD, record=False)
    found = coverage_of(db, review)
    by = found.set_index("address")
    # a reply to the CRM message to Tom, from an address on no record: Tom's record
    assert by.loc["someone@else.example", "record_id"] == TOM_ID
    assert "answered a CRM message to Tom Baker" in by.loc["someone@else.example", "reason"]
    assert pd.isna(by.loc["news@deals.example", "record_id"])
    assert pd.isna(by.loc["bob@nowhere.example", "record_id"])  # beside Victor, excluded
    assert set(found["address"]) == {"someone@else.example", "news@deals.example",
                                     "bob@nowhere.example"}  # fmt: skip
    assert found["messages"].tolist() == [1, 1, 1]
    assert found["last_seen"].is_monotonic_decreasing


def test_adding_an_address_from_the_notebook_then_undoing_it(replies_db):
    second = next(c for c in CASES if c.sender == "second")
    address = f"{second.key}.private@home.example"
    review = review_mailbox(replies_db, REPLIES_ACCOUNT, REPLIES_FOLDERS, option="all",
                            secret=USERS["replies"], record=False)  # fmt: skip
    assert address in set(review.unmatched[F.FROM_ADDR])
    view = CoverageView(replies_db, review, "ana")
    row = view.frame.set_index("address").loc[address]
    assert row["record_name"] == f"Person {second.key.upper()}"
    assert "answered a CRM message" in row["reason"]
    view.choice.value = int(view.frame.index[view.frame["address"] == address][0])
    view.add_button.click()  # asks first: nothing written yet
    assert "Add <b>" in view.question.value and view.confirm_box.layout.display == "flex"
    assert _addresses(replies_db, address) == []
    view.confirm_button.click()
    record_id = int(row["record_id"])
    assert _addresses(replies_db, address) == [record_id]
    changes = address_changes(replies_db)
    assert changes[["record_id", "address", "action", "changed_by"]].values.tolist() == [
        [record_id, address, "add", "ana"]]  # fmt: skip
    assert changes["undone_at"].isna().all() and "answered" in changes["reason"].iloc[0]

    after = review_mailbox(replies_db, REPLIES_ACCOUNT, ["INBOX"], option="all",
                           secret=USERS["replies"], record=False)  # fmt: skip
    mine = after.frame[after.frame[F.FROM_ADDR] == address]
    assert len(mine) == 1 and int(mine[F.RECORD_ID].iloc[0]) == record_id  # now in the grid

    view.undo_button.click()
    assert _addresses(replies_db, address) == []
    with Session(replies_db) as session:
        change = session.scalars(select(RecordAddressChange)).one()
        assert change.undone_at is not None and change.undone_by_id is not None
    again = review_mailbox(replies_db, REPLIES_ACCOUNT, ["INBOX"], option="all",
                           secret=USERS["replies"], record=False)  # fmt: skip
    assert address not in set(again.frame[F.FROM_ADDR])
    with pytest.raises(ConfigurationError, match="undone already"):
        undo_address_change(replies_db, change.id, user="ana")
    add_address(replies_db, record_id, address, user="ana")
    with pytest.raises(ConfigurationError, match="already on record"):
        add_address(replies_db, record_id, address.upper(), user="ana")
    with pytest.raises(ConfigurationError, match="no record"):
        add_address(replies_db, 999_999, "x@y.example", user="ana")


def _addresses(engine, address: str) -> list[int]:
    with Session(engine) as session:
        return list(session.scalars(
            select(RecordAddress.record_id).where(RecordAddress.address == address)))  # fmt: skip


def test_primsync_coverage_on_the_command_line(db, tmp_path):
    url = db.url.render_as_string(hide_password=False)
    out = subprocess.run(
        [*PRIMSYNC, "coverage", "--db", url, "--account", DEMO_ACCOUNT,
         "--folder", "INBOX", "--folder", "Sent", "--option", "all", "--format", "json"],
        env={**os.environ, "PRIMSYNC_PASSWORD": PASSWORD}, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["address"] for r in rows][0:1] and {r["address"] for r in rows} == {
        "someone@else.example", "news@deals.example", "bob@nowhere.example"}  # fmt: skip
    assert next(r for r in rows if r["address"] == "someone@else.example")["record_id"] == TOM_ID
    table = subprocess.run(
        [*PRIMSYNC, "coverage", "--db", url, "--account", DEMO_ACCOUNT,
         "--folder", "INBOX", "--option", "all"],
        env={**os.environ, "PRIMSYNC_PASSWORD": PASSWORD}, capture_output=True, text=True,
    )  # fmt: skip
    assert table.returncode == 0 and "someone@else.example" in table.stdout


def test_coverage_of_the_demo(tmp_path):
    """`primsync demo`'s mailbox (pymap): every kind of suggestion, and one without."""
    from primsync.demo import DEMO_PASSWORD, start_demo
    from primsync.opening import list_folders

    engine, server = start_demo(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        folders = [f.name for f in list_folders(engine, DEMO_ACCOUNT, secret=DEMO_PASSWORD)
                   if f.selectable]  # fmt: skip
        review = review_mailbox(engine, DEMO_ACCOUNT, folders, option="all",
                                secret=DEMO_PASSWORD, record=False)  # fmt: skip
        found = coverage_of(engine, review)
    finally:
        server.stop()
        engine.dispose()
    by = found.set_index("address")
    suggested = {a: (by.loc[a, "record_name"], by.loc[a, "reason"].split(" ")[1]) for a in by.index
                 if not pd.isna(by.loc[a, "record_id"])}  # fmt: skip
    assert suggested == {
        "lea.dubois.perso@gmail.com": ("Léa Dubois", "display"),  # free mail: by name only
        "maria.lopez@oldjob.example": ("Tom Baker", "Cc"),
        "recruiting@acme.example": ("Acme Corp", "domain"),
        "someone@else.example": ("Tom Baker", "answered"),
    }
    assert pd.isna(by.loc["news@deals.example", "record_id"])
    assert found["last_seen"].is_monotonic_decreasing  # all one message each: newest first
