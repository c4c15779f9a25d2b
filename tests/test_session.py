"""session: what a notebook opens first — a configured account, or the demo."""

from __future__ import annotations

import pytest

from primsync.demo import DEMO_ACCOUNT
from primsync.errors import ConfigurationError, SchemaMissing
from primsync.session import open_session, project_root
from tests.conftest import PASSWORD


def test_a_configured_account_and_its_owner(db, monkeypatch):
    monkeypatch.setenv("PRIMSYNC_PASSWORD", PASSWORD)
    monkeypatch.setenv("PRIMSYNC_ACCOUNT", DEMO_ACCOUNT)
    session = open_session(db=str(db.url), prompt=None)
    try:
        assert (session.account, session.user, session.demo_server) == (DEMO_ACCOUNT, "ana", None)
        assert session.secret == PASSWORD and PASSWORD not in repr(session)
        other = open_session(account=DEMO_ACCOUNT, db=str(db.url), user="marc", prompt=None)
        assert other.user == "marc"
        other.close()
    finally:
        session.close()


def test_no_secret_anywhere_asks_the_prompt(db, monkeypatch):
    monkeypatch.delenv("PRIMSYNC_PASSWORD", raising=False)
    with pytest.raises(ConfigurationError, match="no password"):
        open_session(account=DEMO_ACCOUNT, db=str(db.url), prompt=None)
    asked = open_session(account=DEMO_ACCOUNT, db=str(db.url), prompt=lambda q: "typed")
    try:
        assert asked.secret == "typed"
    finally:
        asked.close()


def test_a_wrong_database_path_says_init_and_creates_nothing(tmp_path):
    with pytest.raises(SchemaMissing, match="run `primsync init`"):
        open_session(account=DEMO_ACCOUNT, db=f"sqlite:///{tmp_path / 'nope' / 'x.db'}")
    assert list(tmp_path.iterdir()) == []


def test_the_demo_with_nothing_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("PRIMSYNC_ACCOUNT", raising=False)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert project_root() == tmp_path
    session = open_session()
    try:
        assert (session.account, session.user) == ("recruiter@agency.example", "ana")
        assert session.demo_server is not None and (tmp_path / "data" / "demo.db").is_file()
    finally:
        session.close()
    monkeypatch.chdir(tmp_path)
    assert project_root() == tmp_path
