"""The CRM's people and contacts without SQL: groups, users, records from files people export,
and the exclusion flag as a user action (primsync.db.people, primsync groups/users/records)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from primsync import cli
from primsync.db.engine import init_db, open_engine
from primsync.db.models import Record, RecordAddress, RecordChange


@pytest.fixture
def sqlite_db(tmp_path, monkeypatch):
    """A SQLite database at the current schema, named by $PRIMSYNC_DB for the commands."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = open_engine(url, create=True)
    init_db(engine)
    monkeypatch.setenv("PRIMSYNC_DB", url)
    monkeypatch.chdir(tmp_path)
    yield engine
    engine.dispose()


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def counts(engine) -> tuple[int, int, int]:
    with Session(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Record)),
            session.scalar(select(func.count()).select_from(RecordAddress)),
            session.scalar(select(func.count()).select_from(RecordChange)),
        )


def test_groups_and_users(sqlite_db, capsys):
    assert run(capsys, "groups", "add", "Recruiters", "--level", "10")[0] == 0
    assert run(capsys, "groups", "add", "Managers", "--level", "20")[0] == 0
    code, _, err = run(capsys, "groups", "add", "Recruiters", "--level", "3")
    assert (code, err) == (
        2,
        "primsync groups: error: group 'Recruiters' exists already (level 10; see `primsync "
        "groups list`)\n",
    )
    add = ("users", "add", "ana", "--name", "Ana Martin", "--group", "Recruiters")
    code, out, _ = run(capsys, *add)
    assert (code, out) == (0, "user 'ana' added (Ana Martin, group Recruiters)\n")
    code, _, err = run(capsys, "users", "add", "bob", "--name", "Bob", "--group", "Sales")
    assert (code, err) == (
        2,
        "primsync users: error: no security group 'Sales'; the groups are: Recruiters, Managers\n",
    )
    code, out, _ = run(capsys, "users", "list", "--format", "json")
    assert json.loads(out) == [
        {"login": "ana", "name": "Ana Martin", "group": "Recruiters", "level": 10, "accounts": 0}
    ]
    code, out, _ = run(capsys, "groups", "list", "--format", "csv")
    assert out.splitlines() == ["name,level,users", "Recruiters,10,1", "Managers,20,0"]


PEOPLE = (
    "id;kind;name;email;exclude\r\n"
    "A1;candidate;Léa Dubois;lea@mail.example, lea.d@home.example;no\r\n"
    "C7;client;Initech;jobs@initech.example;\r\n"
    ";contact;Jürgen Müller;jm@initech.example;yes\r\n"
)


def test_a_file_imported_twice_changes_nothing_the_second_time(engine, tmp_path, capsys):
    url = engine.url.render_as_string(hide_password=False)
    path = tmp_path / "people.csv"
    path.write_bytes(PEOPLE.encode("cp1252"))
    code, out, _ = run(capsys, "records", "import", str(path), "--db", url, "--dry-run")
    assert code == 0
    assert out.splitlines() == [
        "line 2: create candidate 'Léa Dubois' <lea@mail.example, lea.d@home.example>",
        "line 3: create client 'Initech' <jobs@initech.example>",
        "line 4: create contact 'Jürgen Müller' <jm@initech.example> (excluded from email "
        "synchronization)",
        "3 to create, 0 to update, 0 unchanged, 0 refused (dry run: nothing written)",
    ]
    assert counts(engine) == (0, 0, 0)
    code, out, _ = run(capsys, "records", "import", str(path), "--db", url)
    assert out == "people.csv: 3 created, 0 updated, 0 unchanged, 0 refused\n"
    assert counts(engine) == (3, 4, 3)
    code, out, _ = run(capsys, "records", "import", str(path), "--db", url)
    assert out == "people.csv: 0 created, 0 updated, 3 unchanged, 0 refused\n"
    assert counts(engine) == (3, 4, 3)

    # the ATS renamed a candidate and gave her a new address: the same record, updated
    path.write_bytes(
        PEOPLE.replace("Léa Dubois;lea@mail.example", "Léa Dubois-Roy;lea@new.example")
        .encode("cp1252")
    )  # fmt: skip
    code, out, _ = run(capsys, "records", "import", str(path), "--db", url, "--dry-run")
    assert out.splitlines()[0] == (
        "line 2: update record 1: name 'Léa Dubois' → 'Léa Dubois-Roy'; adds lea@new.example"
    )
    run(capsys, "records", "import", str(path), "--db", url)
    code, out, _ = run(capsys, "records", "list", "--db", url, "--format", "json")
    listed = json.loads(out)
    assert [(r["name"], r["addresses"], r["excluded"], r["external_id"]) for r in listed] == [
        ("Léa Dubois-Roy", "lea@mail.example; lea.d@home.example; lea@new.example", False, "A1"),
        ("Initech", "jobs@initech.example", False, "C7"),
        ("Jürgen Müller", "jm@initech.example", True, None),
    ]
    code, out, _ = run(capsys, "records", "show", "lea@new.example", "--db", url)
    assert out.splitlines()[0] == "record 1: Léa Dubois-Roy (candidate)"
    assert "update    by system user" in out and "from people.csv line 2: name" in out


def test_an_address_on_another_record_is_reported_never_moved(sqlite_db, tmp_path, capsys):
    (tmp_path / "a.csv").write_text("kind,name,email\nclient,Initech,jobs@initech.example\n")
    run(capsys, "records", "import", "a.csv")
    (tmp_path / "b.csv").write_text(
        "kind,name,email\ncandidate,Bo,bo@x.example\ncontact,Jobs desk,JOBS@initech.example\n"
    )
    code, out, err = run(capsys, "records", "import", "b.csv")
    assert (code, out) == (2, "")
    assert err == (
        "primsync records: error: b.csv line 3, column email: jobs@initech.example is already on "
        "record 1 (Initech, client); not moved; nothing was written (see --dry-run; --skip-bad "
        "imports the good lines)\n"
    )
    assert counts(sqlite_db) == (1, 1, 1)
    code, out, err = run(capsys, "records", "import", "b.csv", "--dry-run")
    assert code == 2
    assert out.splitlines() == [
        "line 2: create candidate 'Bo' <bo@x.example>",
        "line 3, column email: jobs@initech.example is already on record 1 (Initech, client); "
        "not moved: refused",
    ]
    assert err.endswith("not moved; nothing was written\n")
    code, out, err = run(capsys, "records", "import", "b.csv", "--skip-bad")
    assert code == 0
    assert out == "b.csv: 1 created, 0 updated, 0 unchanged, 1 refused\n"
    assert "line 3, column email: jobs@initech.example is already on record 1" in err
    assert counts(sqlite_db) == (2, 2, 2)


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("kind,fullname_x,email\ncandidate,Lea,lea@a.example\n",
         "line 1, column name: no such column (the header has: kind, fullname_x, email)"),
        ("kind,name,email\ncandidate,Lea,lea@a.example\ncandidate,Bo,bo@@x\n",
         "line 3, column email: 'bo@@x' is not an address"),
        ("kind,name,email\ncandidate,Lea,lea@a.example\nclient,Acme,lea@a.example\n",
         "line 3, column email: lea@a.example is also on line 2"),
        ("kind,name,email\nwizard,Lea,lea@a.example\n",
         "line 2, column kind: unknown kind 'wizard' (candidate, client, employee or contact)"),
    ],
)  # fmt: skip
def test_a_bad_file_is_one_line_exit_2_and_nothing_written(sqlite_db, tmp_path, content, line):
    from tests.test_cli_errors import one_line, primsync

    (tmp_path / "people.csv").write_text(content)
    out = primsync("records", "import", "people.csv", cwd=tmp_path)
    assert out.returncode == 2
    assert one_line(out) == (
        f"primsync records: error: people.csv {line}; nothing was written (see --dry-run; "
        "--skip-bad imports the good lines)"
    )
    assert counts(sqlite_db) == (0, 0, 0)


def test_a_vcard_file(sqlite_db, tmp_path, capsys):
    (tmp_path / "c.vcf").write_bytes(
        b"BEGIN:VCARD\nVERSION:3.0\nFN:Lea Dubois\nEMAIL:lea@a.example\nUID:42\nEND:VCARD\n"
    )
    code, out, _ = run(capsys, "records", "import", "c.vcf", "--kind", "candidate")
    assert out == "c.vcf: 1 created, 0 updated, 0 unchanged, 0 refused\n"
    code, out, _ = run(capsys, "records", "import", "c.vcf", "--kind", "candidate")
    assert out == "c.vcf: 0 created, 0 updated, 1 unchanged, 0 refused\n"


def test_exclusion_as_a_user_action_recorded(sqlite_db, tmp_path, capsys):
    run(capsys, "groups", "add", "Recruiters", "--level", "10")
    run(capsys, "users", "add", "ana", "--name", "Ana", "--group", "Recruiters")
    (tmp_path / "a.csv").write_text("kind,name,email\ncandidate,Lea,lea@a.example\n")
    run(capsys, "records", "import", "a.csv")
    code, out, _ = run(capsys, "records", "exclude", "LEA@a.example", "--user", "ana")
    assert out == "record 1 (Lea) is now excluded from email synchronization\n"
    code, out, _ = run(capsys, "records", "exclude", "1", "--user", "ana")
    assert out == "record 1 (Lea) was already excluded from email synchronization\n"
    code, out, _ = run(capsys, "records", "exclude", "1", "--include")
    assert out == "record 1 (Lea) is now included in email synchronization\n"
    code, _, err = run(capsys, "records", "exclude", "9")
    assert (code, err) == (
        2,
        "primsync records: error: no record 9 (see `primsync records list`)\n",
    )
    code, _, err = run(capsys, "records", "exclude", "1", "--user", "zed")
    assert (code, err) == (2, "primsync records: error: no user with login 'zed'\n")
    with Session(sqlite_db) as session:
        changes = session.execute(
            select(RecordChange.action, RecordChange.changed_by).order_by(RecordChange.id)
        ).all()
    assert [a for a, _ in changes] == ["create", "exclude", "include"]
    assert changes[1][1] == "ana" and changes[2][1].startswith("system user ")


def test_an_excluded_record_is_left_out_of_the_review(db, capsys):
    """The flag set by command is the flag the review honours (the demo's Léa: a known
    contact whose mail is shown until she is excluded)."""
    from primsync import frame as F
    from primsync.db.people import set_excluded
    from primsync.demo import DEMO_ACCOUNT
    from primsync.review import review_mailbox
    from tests.conftest import PASSWORD

    def senders():
        result = review_mailbox(db, DEMO_ACCOUNT, ["INBOX"], option="all", secret=PASSWORD,
                                record=False)  # fmt: skip
        return set(result.frame[F.FROM_ADDR])

    before = senders()
    assert "lea.dubois@mail.example" in before
    set_excluded(db, "lea.dubois@mail.example", excluded=True, changed_by="ana")
    assert "lea.dubois@mail.example" not in senders()
