"""The sync notebook in a real JupyterLab, driven in headless Chromium by Playwright."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from primsync.db.models import ImportedMessage
from primsync.demo import DEMO_ACCOUNT
from primsync.servers import free_port, wait_for_port
from tests.conftest import PASSWORD, ROOT, group_id
from tests.mailbox import LEA_ID, SOFIA_ID

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def lab(db, tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed: .ci/run must install it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    shutil.copy(ROOT / "notebooks" / "01_sync.ipynb", tmp_path / "01_sync.ipynb")
    port, token = free_port(), secrets.token_hex(8)
    env = {
        **os.environ,
        "PRIMSYNC_ACCOUNT": DEMO_ACCOUNT,
        "PRIMSYNC_DB": str(db.url),
        "PRIMSYNC_PASSWORD": PASSWORD,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    log = open(tmp_path / "lab.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--ServerApp.root_dir={tmp_path}", f"--IdentityProvider.token={token}",
         "--allow-root", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=90, process=process)
        yield f"http://127.0.0.1:{port}/lab/tree/01_sync.ipynb?token={token}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_sync_notebook_in_a_real_browser(lab, db):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            drive(page, lab)
        finally:
            shot(page, "browser-final")
            browser.close()
    with Session(db) as session:
        stored = {(m.folder, m.uid): m for m in session.scalars(select(ImportedMessage))}
    # green INBOX:2 and Sent:1 imported, green INBOX:1 unticked, yellow INBOX:3 ticked
    assert set(stored) == {("INBOX", 2), ("Sent", 1), ("INBOX", 3)}
    assert stored[("INBOX", 3)].record_id == SOFIA_ID and stored[("INBOX", 3)].context == "yellow"
    assert stored[("Sent", 1)].record_id == LEA_ID and stored[("Sent", 1)].direction == "out"
    assert {m.accessible_to_id for m in stored.values()} == {group_id(db, "Recruiters")}


def drive(page, url):
    page.goto(url)
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_selector(".primsync-folder", timeout=90_000)
    shot(page, "browser-1-loaded")
    for name in ("INBOX", "Sent"):
        page.locator(".primsync-folder", has_text=name).locator("input").check()
    page.locator(".widget-dropdown", has_text="Option").locator("select").select_option(
        label="All messages"
    )
    page.get_by_role("button", name="Synchronize").click()
    rows = page.locator(".jp-OutputArea table.dataTable tbody tr")
    page.get_by_text("7 messages: 3 green, 4 yellow").wait_for(timeout=60_000)

    def row(subject):
        return rows.filter(has=page.get_by_role("cell", name=subject, exact=True))

    page.get_by_text("3 ticked").wait_for(timeout=10_000)
    shot(page, "browser-2-reviewed")
    row("Re: Interview on Monday").click(modifiers=["Control"])  # untick a green row
    page.get_by_text("2 ticked").wait_for(timeout=10_000)
    row("Candidatura — sviluppatrice").click(modifiers=["Control"])  # tick a yellow row
    page.get_by_text("3 ticked").wait_for(timeout=10_000)
    page.locator(".widget-dropdown", has_text="Accessible to").locator("select").select_option(
        label="Recruiters (10)"
    )
    page.get_by_text("Accessible to Recruiters").wait_for(timeout=10_000)
    shot(page, "browser-3-ticked")
    page.locator("button.widget-button[title='Import']").click()
    page.get_by_text("Imported 3, skipped 0").wait_for(timeout=60_000)
    shot(page, "browser-4-imported")
