"""docs/crm.md as written: primsync on a CRM's own PostgreSQL database, the contract's five
tables as views over tables named otherwise; a review, an import, an exclusion and a records
import through the views."""

from __future__ import annotations

import re
import subprocess

import psycopg

from primsync.demo import DEMO_ACCOUNT, RECORDS, crm_id
from tests.conftest import PASSWORD, ROOT
from tests.forkserver import PRIMSYNC

CRM_SCHEMA = """
CREATE TABLE crm_team (team_id serial PRIMARY KEY, team_name text UNIQUE NOT NULL,
                       clearance integer NOT NULL);
CREATE TABLE crm_staff (staff_id serial PRIMARY KEY, username text UNIQUE NOT NULL,
                        full_name text NOT NULL, team_id integer REFERENCES crm_team);
CREATE TABLE crm_party (party_id serial PRIMARY KEY, party_type text NOT NULL,
                        display_name text NOT NULL, no_email_sync boolean NOT NULL DEFAULT false,
                        created timestamptz NOT NULL DEFAULT now(), ext_ref text UNIQUE);
CREATE TABLE crm_party_email (email_id serial PRIMARY KEY,
                              party_id integer NOT NULL REFERENCES crm_party,
                              email text NOT NULL, UNIQUE (party_id, email));
CREATE TABLE crm_outbox (mail_id serial PRIMARY KEY, party_id integer REFERENCES crm_party,
                         msgid text UNIQUE NOT NULL, subject text NOT NULL DEFAULT '',
                         sent timestamptz NOT NULL, sender_id integer REFERENCES crm_staff);
"""


def doc_sql() -> list[str]:
    text = (ROOT / "docs" / "crm.md").read_text()
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


def primsync(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*PRIMSYNC, *args], capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip


def test_primsync_on_the_crms_own_tables_through_views(postgres, mailbox, monkeypatch):
    first, views = doc_sql()
    owner_url = postgres.create_database("crm")
    plain = owner_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS primsync_app")  # a role outlives a test's database
        conn.execute(CRM_SCHEMA)
        conn.execute("INSERT INTO crm_team (team_name, clearance) VALUES ('Recruiters', 10)")
        conn.execute("INSERT INTO crm_staff (username, full_name, team_id) "
                     "VALUES ('ana', 'Ana Martin', 1)")  # fmt: skip
        seen: set[str] = set()
        for kind, name, addresses, excluded in RECORDS:
            party = conn.execute(
                "INSERT INTO crm_party (party_type, display_name, no_email_sync) "
                "VALUES (%s, %s, %s) RETURNING party_id", (kind, name, excluded),
            ).fetchone()[0]  # fmt: skip
            for address in addresses:
                if address not in seen:
                    seen.add(address)
                    conn.execute("INSERT INTO crm_party_email (party_id, email) VALUES (%s, %s)",
                                 (party, address))  # fmt: skip
            if name == "Léa Dubois":
                conn.execute(
                    "INSERT INTO crm_outbox (party_id, msgid, subject, sent, sender_id) "
                    "VALUES (%s, %s, 'Interview on Monday', now() - interval '6 days', 1)",
                    (party, crm_id("interview")),
                )  # fmt: skip
        conn.execute(first)
    url = owner_url.replace(f"://{postgres.user}@", "://primsync_app@")
    done = primsync("init", "--db", url)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(views)
        assert conn.execute("SELECT current_schema()").fetchone()[0] == "primsync"
    again = primsync("init", "--db", url)
    assert again.returncode == 0 and "schema already present" in again.stdout, again.stderr

    monkeypatch.setenv("PRIMSYNC_DB", url)
    monkeypatch.setenv("PRIMSYNC_PASSWORD", PASSWORD)
    done = primsync("account", "add", DEMO_ACCOUNT, "--owner", "ana", "--host", "127.0.0.1",
                    "--port", str(mailbox.port), "--security", "none",
                    "--username", "ana")  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = primsync("review", "--account", DEMO_ACCOUNT, "--folder", "INBOX", "--option", "all",
                    "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    import json

    rows = json.loads(done.stdout)
    green = [r for r in rows if r["context"] == "green"]
    assert green and all(r["imported_into"] == "Léa Dubois" for r in green
                         if r["subject"] == "Re: Interview on Monday")  # fmt: skip
    assert not [r for r in rows if "victor@stone.example" in json.dumps(r)]  # excluded in the CRM
    done = primsync("import", "--account", DEMO_ACCOUNT, "--folder", "INBOX", "--option", "all",
                    "--user", "ana", "--accessible-to", "Recruiters",
                    "--select", "green")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert int(re.search(r"(\d+) imported", done.stdout).group(1)) == len(green)

    done = primsync("records", "exclude", "lea.dubois@mail.example", "--user", "ana")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(plain) as conn:  # written in the CRM's own table
        assert conn.execute("SELECT no_email_sync FROM crm_party WHERE display_name = "
                            "'Léa Dubois'").fetchone()[0] is True  # fmt: skip
        stored = conn.execute("SELECT count(*) FROM primsync.imported_message").fetchone()[0]
        assert stored == len(green)

    # a records import through the views: a new party, with its address, in the CRM's tables
    path = mailbox.root / "new-people.csv"
    path.write_text("id,kind,name,email\nATS-9,candidate,Nina Park,nina@park.example\n")
    done = primsync("records", "import", str(path), "--user", "ana")
    assert done.returncode == 0, done.stderr
    assert "1 created" in done.stdout
    with psycopg.connect(plain) as conn:
        party = conn.execute("SELECT party_id, party_type, ext_ref FROM crm_party "
                             "WHERE display_name = 'Nina Park'").fetchone()  # fmt: skip
        assert party[1:] == ("candidate", "ATS-9")
        assert conn.execute("SELECT email FROM crm_party_email WHERE party_id = %s",
                            (party[0],)).fetchall() == [("nina@park.example",)]  # fmt: skip
