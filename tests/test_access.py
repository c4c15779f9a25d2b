"""The access rule everywhere: every public reader of message data, at every level, and search
strings that look like SQL are only text."""

from __future__ import annotations

import inspect
import json
import os
import subprocess

import pandas as pd
import pytest

from primsync.commit import import_selected
from primsync.db import access
from primsync.demo import DEMO_ACCOUNT
from primsync.errors import ConfigurationError
from primsync.export import export_visible_messages
from primsync.review import review_mailbox
from tests.conftest import PASSWORD
from tests.forkserver import PRIMSYNC
from tests.mailbox import FOLDERS

LEVELS = {"paul": 0, "ana": 10, "marc": 20, "dora": 30}
FILED = {"Public": ("INBOX", 1), "Recruiters": ("INBOX", 2), "Managers": ("INBOX/Candidates", 2),
         "Direction": ("Sent", 1)}  # fmt: skip
GROUP_LEVEL = {"Public": 0, "Recruiters": 10, "Managers": 20, "Direction": 30}


@pytest.fixture
def filed(db):
    """One message at each level (Ana is promoted to Direction to file them, then demoted)."""
    from sqlalchemy import update

    from primsync.db.engine import write_session
    from primsync.db.models import AppUser

    with write_session(db) as session:
        session.execute(update(AppUser).where(AppUser.login == "ana").values(group_id=4))
    result = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all", secret=PASSWORD)
    frame = result.frame
    for group, key in FILED.items():
        rows = frame[(frame["folder"] == key[0]) & (frame["uid"] == key[1])]
        import_selected(db, result, rows, user="ana", accessible_to=group, secret=PASSWORD)
    with write_session(db) as session:
        session.execute(update(AppUser).where(AppUser.login == "ana").values(group_id=2))
    messages = access.visible_messages(db, "dora")
    return {(r.folder, r.uid): r.id for r in messages.itertuples()}


def expected(login):
    return {key for group, key in FILED.items() if GROUP_LEVEL[group] <= LEVELS[login]}


def test_every_public_reader_takes_a_user_first():
    readers = [
        getattr(access, name)
        for name in access.__all__
        if inspect.isfunction(getattr(access, name))
    ]
    assert {f.__name__ for f in readers} == {
        "get_attachment",
        "get_message",
        "message_attachments",
        "visible_messages",
    }
    for function in [*readers, export_visible_messages]:
        params = list(inspect.signature(function).parameters)
        assert params[:2] == ["engine", "user"], function.__name__


def test_every_reader_at_every_level(db, filed, tmp_path):
    env = {**os.environ, "PRIMSYNC_DB": str(db.url)}
    for login in LEVELS:
        want = expected(login)
        frame = access.visible_messages(db, login)
        assert {(r.folder, r.uid) for r in frame.itertuples()} == want
        for key, mid in filed.items():
            assert (access.get_message(db, login, mid) is not None) == (key in want)
            assert bool(access.message_attachments(db, login, mid)) == (
                key in want and key == ("Sent", 1)
            )
        png = access.message_attachments(db, "dora", filed[("Sent", 1)])[0]
        assert (access.get_attachment(db, login, png.id) is not None) == (("Sent", 1) in want)
        path = export_visible_messages(db, login, tmp_path / f"{login}.parquet")
        assert len(pd.read_parquet(path)) == len(want)
        out = subprocess.run(
            [*PRIMSYNC, "messages", "--user", login, "--format", "json"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert {(m["folder"], m["uid"]) for m in json.loads(out.stdout)} == want


@pytest.mark.parametrize(
    "text",
    ["' OR '1'='1", "%", "_", "x'); DROP TABLE imported_message; --", "\\", "Shortlist' --"],
)
def test_search_strings_are_text(db, filed, text):
    assert access.visible_messages(db, "dora", search=text).empty
    assert len(access.visible_messages(db, "dora")) == 4  # nothing was dropped or widened


def test_search_finds_text_and_keeps_the_rule(db, filed):
    assert list(access.visible_messages(db, "dora", search="shortlist")["subject"]) == [
        "RE: Shortlist"
    ]
    assert access.visible_messages(db, "paul", search="shortlist").empty  # Recruiters' message
    with pytest.raises(ConfigurationError, match="no user"):
        access.visible_messages(db, "paul' OR '1'='1")
