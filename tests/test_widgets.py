"""The widgets without a browser: set values, click, and check what reached the database."""

from __future__ import annotations

import html

import pytest

pytest.importorskip(
    "ipywidgets", reason="the notebook extra is not installed: pip install -e '.[notebook]'"
)

from sqlalchemy import select
from sqlalchemy.orm import Session

from primsync import frame as F
from primsync.db.models import ImportedMessage
from primsync.demo import DEMO_ACCOUNT
from primsync.options import SyncOption
from primsync.widgets import SyncApp
from tests.conftest import HOSTILE_ACCOUNT, PASSWORD, USERS, group_id
from tests.hostile_mail import ACTIVE
from tests.mailbox import BILL_ID, INITECH_ID, LEA_ID


@pytest.fixture(autouse=True)
def handler_errors_fail_tests(monkeypatch):
    """ipywidgets only logs an exception raised in a callback: here it propagates."""
    from ipywidgets.widgets.widget import CallbackDispatcher

    def call(self, *args, **kwargs):
        values = [callback(*args, **kwargs) for callback in self.callbacks]
        return next((v for v in values if v is not None), None)

    monkeypatch.setattr(CallbackDispatcher, "__call__", call)


@pytest.fixture
def app(db):
    app = SyncApp(db, DEMO_ACCOUNT, "ana", secret=PASSWORD, raise_errors=True)
    yield app
    assert app.errors == []


def keys(frame):
    return list(zip(frame[F.FOLDER], frame[F.UID], strict=True))


def position(app, key):
    return keys(app.grid.frame).index(key)


def test_folder_tree_and_options(app):
    names = list(app.folders.checkboxes)
    assert {"INBOX", "INBOX/Candidates", "Sent", "Entretiens planifiés"} <= set(names)
    assert app.folders.checkboxes["INBOX/Candidates"].layout.margin == "0 0 0 24px"
    assert app.options.option is SyncOption.SINCE_LAST
    assert app.options.dates.layout.display == "none"
    app.options.dropdown.value = "range"
    assert app.options.dates.layout.display == ""
    assert list(app.accessible_to.options) == ["Public", "Recruiters"]


def test_synchronize_tick_choose_and_import(app, db):
    app.folders.select(["INBOX", "Sent"])
    app.options.dropdown.value = "all"
    app.sync_button.click()
    grid = app.grid
    assert len(grid.frame) == 7
    green = [
        k for k, c in zip(keys(grid.frame), grid.frame[F.CONTEXT], strict=True) if c == "green"
    ]
    assert sorted(green) == [("INBOX", 1), ("INBOX", 2), ("Sent", 1)]
    assert sorted(grid.table.ticked) == sorted(position(app, k) for k in green)
    view = grid.table.view
    assert list(view.columns) == [*F.GRID_COLUMNS.values(), "kind"]
    assert view.iloc[position(app, ("INBOX", 1))]["kind"] == "green"
    assert grid.table.rows == view.to_numpy().tolist()  # what the browser gets
    received = list(grid.frame[F.RECEIVED])
    assert received == sorted(received, reverse=True)  # newest first
    assert grid.record_choice.layout.display == "none"  # no row needs a choice yet

    # untick a green row, tick two yellow ones, file the ambiguous one into Bill's record
    ticked = [position(app, ("INBOX", 1)), position(app, ("Sent", 1))]
    initech = position(app, ("INBOX", 6))
    grid.select_positions([*ticked, position(app, ("INBOX", 3)), initech])
    assert grid.current == initech
    assert not grid.record_choice.disabled
    assert [v for _, v in grid.record_choice.options] == [INITECH_ID, BILL_ID]
    grid.record_choice.value = BILL_ID
    assert grid.frame.loc[initech, F.RECORD_ID] == BILL_ID
    assert "Bill Lumbergh" in grid.frame.loc[initech, F.IMPORTED_INTO]
    assert app.accessible_to.value == "Recruiters"  # her own group, without touching it
    assert "Re: Checking in" not in app.details.value and "Office move" in app.details.value

    app.import_button.click()
    assert (app.summary.imported, app.summary.skipped) == (4, 0)
    with Session(db) as session:
        stored = {(m.folder, m.uid): m for m in session.scalars(select(ImportedMessage))}
    assert set(stored) == {("INBOX", 1), ("Sent", 1), ("INBOX", 3), ("INBOX", 6)}
    assert stored[("INBOX", 6)].record_id == BILL_ID
    assert stored[("Sent", 1)].record_id == LEA_ID and stored[("Sent", 1)].direction == "out"
    assert {m.accessible_to_id for m in stored.values()} == {group_id(db, "Recruiters")}
    assert "imported" in app.summary_view.value

    # imported rows are greyed and cannot be ticked again
    done = position(app, ("INBOX", 1))
    assert grid.frame.loc[done, F.ALREADY_IMPORTED]
    grid.select_positions([done])
    assert grid.table.ticked == [] and grid.ticked.empty
    assert grid.table.view.iloc[done]["kind"] == grid.table.rows[done][-1] == "imported"


def test_the_tick_buttons_add_to_the_ticks(app):
    """A yellow row ticked by hand, then "Tick all green": both kept; "Tick all probable" with
    no probable row changes nothing; "Tick all yellow" adds; "Untick all" clears."""
    app.folders.select(["INBOX", "Sent"])
    app.options.dropdown.value = "all"
    app.sync_button.click()
    grid = app.grid
    green = sorted(grid.table.ticked)
    yellow = position(app, ("INBOX", 3))
    grid.select_positions([yellow])  # the green ones unticked, one yellow ticked by hand
    grid.tick_buttons["green"].click()
    assert sorted(grid.table.ticked) == sorted([*green, yellow])
    grid.tick_buttons["probable"].click()  # none here: nothing changes
    assert sorted(grid.table.ticked) == sorted([*green, yellow])
    grid.tick_buttons["yellow"].click()
    every_yellow = [i for i, c in enumerate(grid.frame[F.CONTEXT]) if c == "yellow"]
    assert sorted(grid.table.ticked) == sorted({*green, *every_yellow})
    assert grid.frame[F.SELECTED].sum() == len({*green, *every_yellow})
    grid.tick_buttons["none"].click()
    assert grid.table.ticked == [] and not grid.frame[F.SELECTED].any()


def test_a_bug_in_a_handler_is_logged_with_its_traceback_and_the_file_named(
    db, tmp_path, monkeypatch
):
    """As the command line does: the person sees the kind of error and the log file; the
    traceback is in that file (private), not on the screen."""
    monkeypatch.setenv("PRIMSYNC_LOG_DIR", str(tmp_path / "logs"))
    app = SyncApp(db, DEMO_ACCOUNT, "ana", secret=PASSWORD)

    def broken(*_a, **_k):
        raise KeyError("a bug")

    monkeypatch.setattr("primsync.widgets.app.review_mailbox", broken)
    app.sync_button.click()
    (log,) = (tmp_path / "logs").iterdir()
    assert html.unescape(app.status.value) == (
        f'<span style="color:#b71c1c">Error: unexpected error (KeyError); the traceback is in '
        f"{log} — please attach it to a bug report</span>"
    )
    written = log.read_text()
    assert "app: synchronize" in written and "Traceback" in written and "a bug" in written
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_errors_are_shown_and_raised_in_tests(db):
    app = SyncApp(db, DEMO_ACCOUNT, "ana", secret="wrong-secret-xyz")
    assert len(app.errors) == 1 and "login refused" in app.status.value
    assert "wrong-secret-xyz" not in app.status.value
    app.import_button.click()  # nothing reviewed yet: a message, no error
    assert app.status.value == "Synchronize first."
    strict = SyncApp(db, DEMO_ACCOUNT, "ana", secret=PASSWORD, raise_errors=True)
    assert strict.folders.selected == ["INBOX", "Sent"]  # ticked when the picker opens
    strict.options.dropdown.value = "range"
    with pytest.raises(Exception, match='Choose the first day \\("From"\\)'):
        strict.sync_button.click()
    assert "--since" not in strict.status.value and "&quot;From&quot;" in strict.status.value
    strict.options.dropdown.value = "all"
    strict.folders.select([])
    with pytest.raises(Exception, match="Tick at least one folder"):
        strict.sync_button.click()


@pytest.mark.parametrize(("user", "group"), [("ana", "Recruiters"), ("marc", "Managers")])
def test_accessible_to_starts_on_the_users_own_group(db, user, group):
    app = SyncApp(db, DEMO_ACCOUNT, user, secret=PASSWORD, raise_errors=True)
    assert app.accessible_to.value == group
    assert "than your group" not in app.audience.value


def test_a_wider_group_says_whom_it_adds(app):
    assert app.audience.value == (
        "<div>Accessible to <b>Recruiters</b>: visible to 3 users: "
        "Ana Martin, Dora Director, Marc Manager.</div>"
    )
    app.accessible_to.value = "Public"
    assert app.audience.value == (
        '<div style="color:#b71c1c">Accessible to <b>Public</b>: visible to 4 users: '
        "Ana Martin, Dora Director, Marc Manager, Paul Public. "
        "That is 1 more user than your group Recruiters: Paul Public.</div>"
    )


def test_the_details_pane_shows_a_hostile_message_inert(hostile_db):
    app = SyncApp(hostile_db, HOSTILE_ACCOUNT, "ana", secret=USERS["hostile"], raise_errors=True)
    app.folders.select(["INBOX"])
    app.options.dropdown.value = "all"
    app.sync_button.click()
    assert app.show_button.disabled  # no current row yet
    app.grid.select_positions([0])
    assert not app.show_button.disabled
    app.show_button.click()
    shown = app.message_view.value.lower()
    for needle in ACTIVE:
        assert needle.lower() not in shown, needle
    assert "please see my <b>portfolio</b>." in shown and "../../evil.sh" in shown
    assert app.errors == []


def test_the_account_step_tests_switches_and_adds_accounts(hostile_db):
    app = SyncApp(hostile_db, DEMO_ACCOUNT, "ana", secret=PASSWORD, raise_errors=True)
    step = app.account_step
    assert list(step.choice.options) == [HOSTILE_ACCOUNT, DEMO_ACCOUNT]
    assert step.choice.value == DEMO_ACCOUNT and step.sign_in_button.layout.display == "none"
    assert step.test() == "OK: logged in, listed 4 folders, sent folder 'Sent'"
    assert "CONDSTORE yes" in step.status.value

    step.choice.value = HOSTILE_ACCOUNT  # another mailbox: its password is typed here
    assert "Type the password of hostile@agency.example" in step.status.value
    assert app.account == DEMO_ACCOUNT  # nothing loaded without a password
    step.password.value = USERS["hostile"]
    assert app.account == HOSTILE_ACCOUNT and list(app.folders.checkboxes) == ["INBOX"]
    assert HOSTILE_ACCOUNT in app.title.value and app.grid.frame.empty

    step.new_address.value = "new@agency.example"
    step.new_host.value = "mail.agency.example"
    step.new_port.value = 70000
    with pytest.raises(Exception, match="port 70000 is out of range"):
        step.add_button.click()
    assert "port 70000 is out of range" in step.status.value
    step.new_port.value = 993
    assert step.add() == "new@agency.example"
    assert step.choice.value == "new@agency.example"
    assert step.status.value == "Added new@agency.example. Type its password."
    assert app.account == HOSTILE_ACCOUNT  # the grid's account until the password is typed
    step.errors.clear()


@pytest.fixture
def contoso(db, tmp_path, monkeypatch):
    """A Microsoft 365 account of Ana's registered, and a file keyring (keyrings.alt) in a
    temporary folder for the notebook's process; the keyring module as it is set."""
    keyring = pytest.importorskip("keyring")
    plaintext = pytest.importorskip("keyrings.alt.file")
    from tests.conftest import add_account

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "keyring"))
    before = keyring.get_keyring()
    keyring.set_keyring(plaintext.PlaintextKeyring())
    nowhere = type("Server", (), {"host": "127.0.0.1", "port": 1})()
    add_account(db, "ana@contoso.example", nowhere, "ana", provider="outlook", auth="xoauth2")
    try:
        yield keyring
    finally:
        keyring.set_keyring(before)


def test_signing_in_from_the_notebook(db, tmp_path, monkeypatch, contoso):
    """The Sign in button with the real msal library and a local identity provider: the link
    and the code appear in the step, the sign-in goes to the keyring, nothing to the notebook."""
    import re
    import ssl
    import threading
    import time
    import urllib.request

    from tests.idp import IdentityProvider

    keyring = contoso
    with IdentityProvider(tmp_path) as idp:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(idp.ca_file))
        monkeypatch.setenv("PRIMSYNC_MS_CLIENT_ID", "client-of-the-test")
        monkeypatch.setenv("PRIMSYNC_MS_AUTHORITY", idp.authority)
        app = SyncApp(db, DEMO_ACCOUNT, "ana", secret=PASSWORD)
        step = app.account_step
        step.choice.value = "ana@contoso.example"
        assert step.sign_in_button.layout.display == ""
        assert "Not signed in yet" in step.status.value
        shown = []

        def person():  # reads the code off the step, and types it at the provider
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                found = re.search(r"enter the code (\w+)", step.status.value)
                if found:
                    shown.append(step.status.value)
                    context = ssl.create_default_context(cafile=str(idp.ca_file))
                    url = f"{idp.base}/device?user_code={found.group(1)}"
                    with urllib.request.urlopen(url, context=context) as page:
                        page.read()
                    return
                time.sleep(0.05)

        threading.Thread(target=person, daemon=True).start()
        step.sign_in_button.click()
        assert step.status.value == "Signed in: ana@contoso.example."
        assert f'<a href="{idp.base}/device" target="_blank">' in shown[0]
        assert app._secret is not None and not isinstance(app._secret, str)
        stored = keyring.get_password("primsync", "oauth:ana@contoso.example")
        for token in [*idp.state.access, *idp.state.refresh]:
            assert token in stored  # in the keyring ...
            assert token not in step.status.value + "".join(shown)  # ... not on screen


def test_tick_all_ticks_every_open_row_and_the_browser_box_of_all_is_heard(app):
    """The heading's box lives in the browser (tests/test_browser.py clicks it): what it sends
    is every row's position, imported ones too; the kernel keeps the open ones."""
    app.folders.select(["INBOX"])
    app.options.dropdown.value = "all"
    app.sync_button.click()
    grid = app.grid
    assert not grid.frame[F.SELECTED].all()  # only the green rows are ticked
    grid.tick("all")
    assert grid.frame[F.SELECTED].all() and len(grid.table.ticked) == len(grid.frame)
    grid.select_positions(grid.table.ticked[1:])  # untick one row by hand
    assert not grid.frame[F.SELECTED].all() and len(grid.ticked) == len(grid.frame) - 1
    grid.tick("none")
    assert grid.ticked.empty and grid.table.ticked == []
    grid.tick("green")
    assert sorted(grid.frame.loc[grid.frame[F.SELECTED], F.CONTEXT].unique()) == ["green"]
    grid.select_positions(list(range(len(grid.frame))))  # the heading's box, as the browser sends
    assert grid.frame[F.SELECTED].all()


def test_the_contacts_checkbox_excludes_and_includes_a_record(db):
    from primsync.db.models import Record, RecordChange
    from primsync.widgets import ContactsView

    view = ContactsView(db, "ana")
    labels = [label for label, _ in view.choice.options]
    assert any(label.startswith("Léa Dubois (candidate) — lea.dubois@mail.example")
               for label in labels)  # fmt: skip
    view.choice.value = LEA_ID
    assert "Léa Dubois" in view.details.value and view.excluded.value is False
    view.excluded.value = True
    assert "is now excluded from email synchronization (recorded: ana)" in view.status.value
    with Session(db) as session:
        assert session.get(Record, LEA_ID).exclude_from_sync is True
        change = session.scalars(select(RecordChange)).one()
        assert (change.record_id, change.action, change.changed_by) == (LEA_ID, "exclude", "ana")
    view.choice.value = INITECH_ID  # another record: its own state, nothing written
    view.choice.value = LEA_ID
    assert view.excluded.value is True
    view.excluded.value = False
    with Session(db) as session:
        assert session.get(Record, LEA_ID).exclude_from_sync is False
        assert [c.action for c in session.scalars(select(RecordChange))] == ["exclude", "include"]


def test_a_sign_in_service_not_trusted_is_one_line_in_the_account_step(
    db, tmp_path, monkeypatch, contoso
):
    import html

    from primsync.errors import AuthenticationError
    from tests.idp import IdentityProvider

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    with IdentityProvider(tmp_path) as idp:
        monkeypatch.setenv("PRIMSYNC_MS_CLIENT_ID", "client-of-the-test")
        monkeypatch.setenv("PRIMSYNC_MS_AUTHORITY", idp.authority)
        app = SyncApp(db, DEMO_ACCOUNT, "ana", secret=PASSWORD)
        step = app.account_step
        step.choice.value = "ana@contoso.example"
        step.sign_in_button.click()
        assert len(step.errors) == 1 and isinstance(step.errors[0], AuthenticationError)
        assert (
            "the certificate of Microsoft's sign-in service "
            f"(127.0.0.1:{idp.port}) cannot be verified: unable to get local issuer "
            "certificate; give its CA with REQUESTS_CA_BUNDLE=FILE"
        ) in html.unescape(step.status.value)
        assert "SSLError" not in step.status.value
        assert "HTTPSConnectionPool" not in step.status.value
