"""The database: migrations that keep every row, and concurrent importers that never duplicate."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime

from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from primsync.db.engine import init_db, schema_revision
from primsync.db.models import ImportedMessage, MailAccount, Record
from primsync.demo import DEMO_ACCOUNT, seed_mailbox
from primsync.imap import ConnectionSettings, connect
from tests.conftest import PASSWORD, USERS
from tests.forkserver import PRIMSYNC
from tests.mailbox import LEA_ID, MAILS

FILL = {
    "security_group": [{"id": 1, "name": "Public", "level": 0}],
    "app_user": [{"id": 1, "login": "ana", "name": "Ana", "group_id": 1}],
    "mail_account": [{"id": 1, "address": "a@x.example", "provider": "imap", "host": "h",
                      "port": 993, "security": "ssl", "username": "a", "auth": "password",
                      "owner_id": 1, "ca_file": None}],
    "record": [{"id": 1, "kind": "candidate", "name": "Léa", "exclude_from_sync": False,
                "created_at": datetime(2025, 1, 1, tzinfo=UTC)}],
    "record_address": [{"id": 1, "record_id": 1, "address": "lea@x.example"}],
    "crm_message": [{"id": 1, "record_id": 1, "message_id": "<c@crm>", "subject": "Hi",
                     "sent_at": datetime(2025, 1, 2, tzinfo=UTC), "sent_by_id": 1}],
    "sync_run": [{"id": 1, "user_id": 1, "account_id": 1, "kind": "import",
                  "started_at": datetime(2025, 1, 3, tzinfo=UTC), "finished_at": None,
                  "folders": "INBOX", "option": "all", "fetched": 1, "shown": 1, "imported": 1,
                  "skipped": 0, "status": "ok", "error": None}],
    "imported_message": [{"id": 1, "record_id": 1, "account_id": 1, "folder": "INBOX", "uid": 7,
                          "uidvalidity": 4_000_000_000, "message_id": "<m@x>",
                          "dedupe_key": "<m@x>", "in_reply_to": "<c@crm>", "references": None,
                          "from_addr": "lea@x.example",
                          "from_name": "Léa", "to_addrs": "a@x.example", "cc_addrs": "",
                          "subject": "Re: Hi", "received_at": datetime(2025, 1, 4, tzinfo=UTC),
                          "body_text": "body", "body_html": "", "size": 123, "direction": "in",
                          "context": "green", "accessible_to_id": 1, "annexed_to_id": 1,
                          "imported_by_id": 1, "imported_at": datetime(2025, 1, 4, tzinfo=UTC),
                          "run_id": 1, "defects": ""}],
    "attachment": [{"id": 1, "message_id": 1, "filename": "cv.pdf",
                    "content_type": "application/pdf", "size": 3, "content": b"\x00\x01\x02",
                    "inline": False, "content_id": None}],
    "folder_state": [{"id": 1, "account_id": 1, "folder": "INBOX", "uidvalidity": 4_000_000_000,
                      "last_uid": 7, "highestmodseq": 2**40,
                      "last_sync_at": datetime(2025, 1, 4, tzinfo=UTC)}],
}  # fmt: skip


def _rows(engine, table):
    with engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{table}" ORDER BY id'))
        ]


def test_migration_from_the_first_schema_keeps_every_row(empty_engine):
    engine = empty_engine
    init_db(engine, revision="0001")
    assert schema_revision(engine) == "0001"
    assert "undone_at" not in {c["name"] for c in inspect(engine).get_columns("sync_run")}
    with engine.begin() as conn:
        for table, rows in FILL.items():
            for row in rows:
                columns = ", ".join(f'"{c}"' for c in row)
                values = ", ".join(f":{c}" for c in row)
                if conn.dialect.name == "sqlite":  # as SQLAlchemy writes them (sqlite3's own
                    # datetime adapter is deprecated since Python 3.12)
                    row = {k: v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime)
                           else v for k, v in row.items()}  # fmt: skip
                conn.execute(text(f'INSERT INTO "{table}" ({columns}) VALUES ({values})'), row)
            if conn.dialect.name == "postgresql":  # explicit ids: move the sequence past them
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {len(rows)})")
                )
    before = {table: _rows(engine, table) for table in FILL}

    assert set(init_db(engine)) == {
        "crm_message_copy",
        "record_address_change",  # 0004's
        "record_change",  # 0005's
        "sync_schedule",  # 0007's
    }
    assert schema_revision(engine) == "0007"
    for table in FILL:
        after = _rows(engine, table)
        for old, new in zip(before[table], after, strict=True):
            assert {k: new[k] for k in old} == old, table
    indexes = {i["name"] for i in inspect(engine).get_indexes("imported_message")}
    assert "ix_imported_message_dedupe_key" in indexes
    # 0006: CRM ids looked up lower-cased (an expression index: SQLAlchemy reflects none on
    # SQLite, so the catalogues are asked)
    catalogue = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'crm_message'"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename = 'crm_message'"
    )
    with engine.connect() as conn:
        assert "ix_crm_message_message_id_lower" in set(conn.execute(text(catalogue)).scalars())
    assert {c["name"] for c in inspect(engine).get_columns("sync_run")} >= {
        "undone_at",
        "undone_by_id",
        "note",
    }
    with engine.begin() as conn:  # the CRM may now insert a record naming only kind and name
        conn.execute(text("INSERT INTO record (kind, name) VALUES ('client', 'Initech')"))
    with Session(engine) as session:
        initech = session.scalars(select(Record).where(Record.name == "Initech")).one()
        assert initech.exclude_from_sync is False and initech.created_at is not None
        assert initech.external_id is None
        assert session.get(MailAccount, 1).token_expires_at is None


def test_init_on_a_current_database_changes_nothing(engine):
    assert schema_revision(engine) == "0007"
    assert init_db(engine) == []


def _import(db_url, account, password, folder):
    env = {**os.environ, "PRIMSYNC_DB": db_url, "PRIMSYNC_PASSWORD": password}
    return subprocess.Popen(
        [*PRIMSYNC, "import", "--account", account, "--folder", folder,
         "--option", "all", "--user", "ana" if account == DEMO_ACCOUNT else "marc",
         "--accessible-to", "Public", "--select", "green"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _count(db, **where):
    with Session(db) as session:
        query = select(func.count()).select_from(ImportedMessage)
        for column, value in where.items():
            query = query.where(getattr(ImportedMessage, column) == value)
        return session.scalar(query)


def test_two_importers_of_the_same_selection_store_one_copy(db):
    url = str(db.url)
    runs = [_import(url, DEMO_ACCOUNT, PASSWORD, "INBOX") for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert _count(db) == 2  # INBOX's two green rows, once each
    imported = [int(re.search(r"(\d+) imported", out).group(1)) for out, _ in outputs]
    assert sum(imported) == 2  # the loser reports "already imported", never an error


def test_two_users_syncing_the_same_thread_from_their_own_mailboxes(db, mailbox, now):
    # Marc's own mailbox holds the same reply (same Message-ID) as Ana's INBOX
    settings = ConnectionSettings(
        address="marc@agency.example", host=mailbox.host, port=mailbox.port, username="cli",
        security="none",
    )  # fmt: skip
    with connect(settings, USERS["cli"]) as box:
        if not box.list_folders() or box.select("INBOX").exists == 0:
            seed_mailbox(box, [MAILS[0]], now=now)
    with Session(db) as session, session.begin():
        session.add(
            MailAccount(address="marc@agency.example", host=mailbox.host, port=mailbox.port,
                        security="none", username="cli", owner_id=3)
        )  # fmt: skip
    url = str(db.url)
    runs = [
        _import(url, DEMO_ACCOUNT, PASSWORD, "INBOX"),
        _import(url, "marc@agency.example", USERS["cli"], "INBOX"),
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert _count(db, record_id=LEA_ID, dedupe_key="<lea.1@mail.example>") == 1
    assert _count(db) == 2


def test_the_schema_head_check_schema_expects_is_alembics():
    from alembic.script import ScriptDirectory

    from primsync.db.engine import MIGRATIONS, SCHEMA_HEAD

    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == SCHEMA_HEAD
