"""Both notebooks, executed headless: on the demo with no configuration, and on Dovecot with
papermill parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from primsync.db.models import ImportedMessage
from primsync.demo import DEMO_ACCOUNT
from tests.conftest import PASSWORD, ROOT

papermill = pytest.importorskip("papermill")


def run(name: str, out: Path, cwd: Path, **parameters) -> dict:
    papermill.execute_notebook(
        str(ROOT / "notebooks" / name), str(out), parameters=parameters, cwd=str(cwd),
        kernel_name="python3", progress_bar=False, log_output=False,
    )  # fmt: skip
    return json.loads(out.read_text())


def outputs(nb: dict) -> str:
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])


def imported_count(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(ImportedMessage))


def every_count(engine) -> dict[str, int]:
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        return {
            table: conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
            for table in inspect(conn).get_table_names()
        }


def html_outputs(nb: dict) -> str:
    return "".join(
        "".join(o.get("data", {}).get("text/html", ""))
        for c in nb["cells"] for o in c.get("outputs", [])
    )  # fmt: skip


def test_notebooks_run_on_the_demo_with_no_configuration(tmp_path, monkeypatch):
    monkeypatch.delenv("PRIMSYNC_ACCOUNT", raising=False)
    monkeypatch.delenv("PRIMSYNC_DB", raising=False)
    (tmp_path / "notebooks").mkdir()
    sync = run("01_sync.ipynb", tmp_path / "sync.ipynb", tmp_path / "notebooks")
    assert "account recruiter@agency.example, user ana" in outputs(sync)
    assert (tmp_path / "data" / "demo.db").exists()
    explore = run("02_explore.ipynb", tmp_path / "explore.ipynb", tmp_path / "notebooks")
    text = outputs(explore)
    assert "Nothing imported yet that ana may see" in text and "No message to read yet" in text
    assert "news@deals.example" in text  # unknown senders by volume
    exported = sorted(p.name for p in (tmp_path / "data" / "exports").iterdir())
    assert exported == ["review.csv", "review.parquet", "review.xlsx", "visible_messages.csv"]


def test_explore_reads_after_an_import_under_the_demo_and_never_writes(tmp_path, monkeypatch):
    """As under `primsync demo`: both notebooks share the demo's database and mailbox."""
    from primsync.demo import DEMO_PASSWORD, start_demo

    url = f"sqlite:///{tmp_path / 'data' / 'demo.db'}"
    (tmp_path / "data").mkdir()
    engine, server = start_demo(url)
    try:
        for key, value in (("ACCOUNT", DEMO_ACCOUNT), ("DB", url), ("PASSWORD", DEMO_PASSWORD)):
            monkeypatch.setenv(f"PRIMSYNC_{key}", value)
        empty = every_count(engine)  # nothing imported yet: it says so, and writes nothing
        first = run("02_explore.ipynb", tmp_path / "first.ipynb", tmp_path)
        assert "Nothing imported yet" in outputs(first) and every_count(engine) == empty
        run("01_sync.ipynb", tmp_path / "sync.ipynb", tmp_path, folders=["INBOX"],
            option="all", accessible_to="Recruiters", select="all")  # fmt: skip
        before = every_count(engine)
        assert before["imported_message"] > 0
        explore = run("02_explore.ipynb", tmp_path / "explore.ipynb", tmp_path)
        assert every_count(engine) == before  # it only reads: not a row written anywhere
        assert "image/png" in outputs(explore)  # the weekly chart
        assert "Warning" not in outputs(explore)  # no pink box above it
        assert 'class="primsync-message"' in html_outputs(explore)  # the newest message, read
    finally:
        server.stop()
        engine.dispose()


def test_explore_shows_a_hostile_message_inert_and_saves_on_request(hostile_db, tmp_path,
                                                                   monkeypatch):  # fmt: skip
    from primsync.commit import import_selected
    from primsync.db.access import message_attachments, visible_messages
    from primsync.review import review_mailbox
    from primsync.selection import choose_rows
    from tests.conftest import HOSTILE_ACCOUNT, USERS
    from tests.hostile_mail import ACTIVE, EVIL_CONTENT

    review = review_mailbox(hostile_db, HOSTILE_ACCOUNT, ["INBOX"], option="all",
                            secret=USERS["hostile"])  # fmt: skip
    import_selected(hostile_db, review, choose_rows(review.frame, select="all"), user="ana",
                    accessible_to="Recruiters", secret=USERS["hostile"])  # fmt: skip
    (message_id,) = visible_messages(hostile_db, "ana")["id"]
    (evil,) = message_attachments(hostile_db, "ana", int(message_id))
    monkeypatch.setenv("PRIMSYNC_PASSWORD", USERS["hostile"])
    explore = run(
        "02_explore.ipynb", tmp_path / "explore.ipynb", tmp_path,
        account=HOSTILE_ACCOUNT, db=str(hostile_db.url), attachment_id=evil.id,
    )  # fmt: skip
    everything = html_outputs(explore)
    shown = everything[everything.index('<div class="primsync-message"') :]  # the message's output
    shown = shown[: shown.index("</ul></div></div>")]
    assert "Please see my <b>portfolio</b>." in shown
    for needle in ACTIVE:
        assert needle.lower() not in shown.lower(), needle
    assert "&lt;script&gt;alert(&#x27;subject&#x27;)" in everything  # the table escapes too
    assert "<script>" not in everything
    assert "saved evil.sh in" in outputs(explore)
    saved = [p for p in tmp_path.rglob("*") if p.is_file() and "evil" in p.name]
    assert saved == [tmp_path / "data" / "exports" / "attachments" / "evil.sh"]
    assert saved[0].read_bytes() == EVIL_CONTENT
    assert imported_count(hostile_db) == 1


def test_sync_notebook_imports_headless_on_dovecot(db, tmp_path, monkeypatch):
    monkeypatch.setenv("PRIMSYNC_PASSWORD", PASSWORD)
    nb = run(
        "01_sync.ipynb", tmp_path / "sync.ipynb", tmp_path, account=DEMO_ACCOUNT,
        db=str(db.url), folders=["INBOX", "Sent"], option="all", accessible_to="Recruiters",
    )  # fmt: skip
    text = outputs(nb)
    assert "3 imported, 0 skipped" in text
    assert PASSWORD not in json.dumps(nb)
    with Session(db) as session:
        assert session.scalar(select(func.count()).select_from(ImportedMessage)) == 3
    explore = run(
        "02_explore.ipynb", tmp_path / "explore.ipynb", tmp_path, account=DEMO_ACCOUNT,
        db=str(db.url), user="marc", folders=["INBOX"],
    )  # fmt: skip
    assert "someone@else.example" in outputs(explore)
    assert PASSWORD not in json.dumps(explore)
