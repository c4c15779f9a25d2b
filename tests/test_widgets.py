"""The widgets without a browser: set values, click, and check what reached the database."""

from __future__ import annotations

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
    assert sorted(grid.table.selected_rows) == sorted(position(app, k) for k in green)
    view = grid.table.df
    assert list(view.columns) == list(F.GRID_COLUMNS.values())
    assert "#c8f7c5" in view.iloc[position(app, ("INBOX", 1))]["Context"]

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
    assert grid.table.selected_rows == [] and grid.ticked.empty
    assert "#e0e0e0" in grid.table.df.iloc[done]["Context"]


def test_errors_are_shown_and_raised_in_tests(db):
    app = SyncApp(db, DEMO_ACCOUNT, "ana", secret="wrong-secret-xyz")
    assert len(app.errors) == 1 and "login refused" in app.status.value
    assert "wrong-secret-xyz" not in app.status.value
    app.import_button.click()  # nothing reviewed yet: a message, no error
    assert app.status.value == "Synchronize first."
    strict = SyncApp(db, DEMO_ACCOUNT, "ana", secret=PASSWORD, raise_errors=True)
    assert strict.folders.selected == ["INBOX", "Sent"]  # ticked when the picker opens
    strict.folders.select([])
    with pytest.raises(Exception, match="choose at least one folder"):
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
