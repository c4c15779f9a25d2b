"""Fixtures: a private Dovecot, databases, the shared corpus, the test mailbox."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from primsync.db.engine import init_db, open_engine
from primsync.servers import DovecotServer

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("PRIMSYNC_CORPUS", ROOT.parent / "shared" / "corpus"))
USERS = {"ana": "ana-test-pw", "corpus": "corpus-test-pw", "cli": "cli-test-pw"}


@pytest.fixture(scope="session")
def dovecot():
    """A private Dovecot on loopback (Debian's dovecot-imapd); in CI its absence is a failure."""
    if DovecotServer.binary() is None:
        if os.environ.get("CI"):
            pytest.fail("dovecot is not installed: .ci/run must install dovecot-imapd")
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    with DovecotServer(USERS) as server:
        yield server


@pytest.fixture
def engine(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'primsync.db'}")
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS} (set PRIMSYNC_CORPUS)")
    files = sorted(
        p for p in CORPUS.rglob("*")
        if p.is_file() and p.suffix.lower() not in (".md", ".txt") and "LICENSE" not in p.name
    )  # fmt: skip
    assert len(files) > 150, f"expected the ~190 messages of the corpus, found {len(files)}"
    return files


@pytest.fixture(scope="session")
def now() -> datetime:
    """Noon UTC today: the test mailbox's dates count back from here, away from midnight."""
    return datetime.combine(datetime.now(UTC).date(), time(12, 0), tzinfo=UTC)
