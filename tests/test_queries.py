"""db/accounts, directory, crm and runs: accounts, users, groups, contacts, CRM ids, dedupe keys
and sync state, on both databases (the ``engine`` fixture is SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import update

from primsync.accounts import ConnectionSettings
from primsync.db import accounts, crm, directory, runs
from primsync.db.engine import write_session
from primsync.db.models import FolderState, MailAccount
from primsync.demo import DEMO_ACCOUNT, crm_id, seed_database
from primsync.errors import ConfigurationError


@pytest.fixture
def seeded(engine):
    seed_database(engine, host="127.0.0.1", port=1143, username="ana")
    return engine


def test_accounts_users_and_groups(seeded):
    assert accounts.stored_settings(seeded, DEMO_ACCOUNT) == ConnectionSettings(
        address=DEMO_ACCOUNT, host="127.0.0.1", port=1143, username="ana", security="none",
        auth="password", ca_file=None,
    )  # fmt: skip
    assert accounts.account_ids(seeded, DEMO_ACCOUNT) == (1, 1)
    assert accounts.owner_login(seeded, DEMO_ACCOUNT) == "ana"
    assert directory.groups_up_to(seeded, "marc") == [
        ("Public", 0), ("Recruiters", 10), ("Managers", 20)
    ]  # fmt: skip
    assert directory.user_group(seeded, "paul") == "Public"
    assert directory.viewers_of(seeded, "Managers") == ["Dora Director", "Marc Manager"]
    with pytest.raises(ConfigurationError, match="no registered mail account 'x@y.example'"):
        accounts.account_ids(seeded, "x@y.example")
    with pytest.raises(ConfigurationError, match="no user with login 'zoe'"):
        directory.user_group(seeded, "zoe")


def test_contacts_and_crm_messages(seeded):
    contacts = crm.contacts_frame(seeded)
    lea = contacts[contacts["address"] == "lea.dubois@mail.example"].iloc[0]
    assert (lea["record_id"], lea["name"], lea["kind"], bool(lea["excluded"])) == (
        1, "Léa Dubois", "candidate", False
    )  # fmt: skip
    assert contacts.loc[contacts["excluded"], "name"].unique().tolist() == ["Victor Stone"]
    found = crm.crm_messages_frame(seeded, [crm_id("interview"), "<nobody@x>"])
    assert found["message_id"].tolist() == [crm_id("interview")]
    assert crm.crm_messages_frame(seeded, []).empty
    assert crm.imported_pairs(seeded, ["<never@x>"]) == set()


def test_a_querys_rows_make_the_frame_pandas_makes_of_them(seeded):
    """``crm.rows_frame`` reads each row as a tuple first (faster): the same frame, values and
    types, as pandas makes of SQLAlchemy's rows, on both databases; none gives the columns."""
    from pandas.testing import assert_frame_equal
    from sqlalchemy import select

    from primsync.db.models import CrmMessage, Record, RecordAddress

    query = select(
        RecordAddress.address, Record.id, Record.name, Record.exclude_from_sync,
        Record.created_at, CrmMessage.sent_at,
    ).join(Record, Record.id == RecordAddress.record_id).outerjoin(
        CrmMessage, CrmMessage.record_id == Record.id
    )  # fmt: skip
    columns = ["address", "id", "name", "excluded", "created_at", "sent_at"]
    with seeded.connect() as conn:
        rows = conn.execute(query).all()
        assert len(rows) > 5 and any(row.sent_at is None for row in rows)
        assert_frame_equal(crm.rows_frame(conn.execute(query), columns),
                           pd.DataFrame(rows, columns=columns))  # fmt: skip
        empty = crm.rows_frame(conn.execute(query.where(Record.id < 0)), columns)
    assert empty.empty and empty.columns.tolist() == columns


def test_folder_states_and_health(seeded):
    when = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with write_session(seeded) as session:
        session.add(FolderState(account_id=1, folder="INBOX", uidvalidity=7, last_uid=41,
                                highestmodseq=900, last_sync_at=when))  # fmt: skip
    assert runs.folder_states(seeded, 1) == {
        "INBOX": runs.SyncState(
            uidvalidity=7, last_uid=41, highestmodseq=900, last_sync_at=when
        )  # fmt: skip
    }
    assert runs.folder_states(seeded, 99) == {}
    with write_session(seeded) as session:
        session.execute(update(MailAccount).values(auth="xoauth2"))
    accounts.set_token_expiry(seeded, DEMO_ACCOUNT, when)
    health = runs.health_frame(seeded, DEMO_ACCOUNT)
    inbox = health[health["folder"] == "INBOX"].iloc[0]
    assert (inbox["uidvalidity"], inbox["last_uid"]) == (7, 41)


def test_runs_are_recorded_with_their_counts(seeded):
    run = runs.start_run(seeded, kind="review", account_id=1, user_id=1, folders=["INBOX"],
                            option="all")  # fmt: skip
    runs.finish_run(seeded, run, status="ok", fetched=9, shown=7)
    (row,) = runs.recent_runs(seeded, DEMO_ACCOUNT).to_dict("records")
    assert (row["status"], row["fetched"], row["shown"]) == ("ok", 9, 7)
