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


def test_notebooks_run_on_the_demo_with_no_configuration(tmp_path, monkeypatch):
    monkeypatch.delenv("PRIMSYNC_ACCOUNT", raising=False)
    monkeypatch.delenv("PRIMSYNC_DB", raising=False)
    (tmp_path / "notebooks").mkdir()
    sync = run("01_sync.ipynb", tmp_path / "sync.ipynb", tmp_path / "notebooks")
    assert "account recruiter@agency.example, user ana" in outputs(sync)
    assert (tmp_path / "data" / "demo.db").exists()
    explore = run("02_explore.ipynb", tmp_path / "explore.ipynb", tmp_path / "notebooks")
    text = outputs(explore)
    assert "image/png" in text  # the weekly chart
    assert "news@deals.example" in text  # unknown senders by volume
    exported = sorted(p.name for p in (tmp_path / "data" / "exports").iterdir())
    assert exported == ["review.csv", "review.parquet", "review.xlsx", "visible_messages.csv"]


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
