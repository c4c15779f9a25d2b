"""The sync notebook in a real JupyterLab, driven in headless Chromium by Playwright."""

from __future__ import annotations

import contextlib
import os
import re
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
from tests.conftest import HOSTILE_ACCOUNT, PASSWORD, ROOT, USERS, group_id
from tests.hostile_mail import EVIL_NAME, SUBJECT
from tests.mailbox import LEA_ID, SOFIA_ID
from tests.processes import printed_address, running
from tests.servers import quiet_lab_config

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"

sync_api = pytest.importorskip("playwright.sync_api")


@contextlib.contextmanager
def running_lab(tmp_path, account: str, db_url: str, password: str, notebooks=("01_sync.ipynb",)):
    """JupyterLab on loopback over copies of ``notebooks``; yields (base URL, token)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed: .ci/run must install it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    for name in notebooks:
        shutil.copy(ROOT / "notebooks" / name, tmp_path / name)
    port, token = free_port(), secrets.token_hex(8)
    env = {
        **os.environ,
        "PRIMSYNC_ACCOUNT": account,
        "PRIMSYNC_DB": db_url,
        "PRIMSYNC_PASSWORD": password,
        "JUPYTER_CONFIG_DIR": str(quiet_lab_config(tmp_path)),  # no news pop-up
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
        yield f"http://127.0.0.1:{port}", token
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def lab(db, tmp_path):
    with running_lab(tmp_path, DEMO_ACCOUNT, str(db.url), PASSWORD) as (base, token):
        yield f"{base}/lab/tree/01_sync.ipynb?token={token}"


@contextlib.contextmanager
def chromium():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            yield browser
        finally:
            browser.close()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_sync_notebook_in_a_real_browser(lab, db):
    with chromium() as browser:  # a laptop's screen, JupyterLab's file browser open
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            drive(page, lab)
        finally:
            shot(page, "browser-final")
    with Session(db) as session:
        stored = {(m.folder, m.uid): m for m in session.scalars(select(ImportedMessage))}
    # green INBOX:2 and Sent:1 imported, green INBOX:1 unticked, yellow INBOX:3 ticked
    assert set(stored) == {("INBOX", 2), ("Sent", 1), ("INBOX", 3)}
    assert stored[("INBOX", 3)].record_id == SOFIA_ID and stored[("INBOX", 3)].context == "yellow"
    assert stored[("Sent", 1)].record_id == LEA_ID and stored[("Sent", 1)].direction == "out"
    assert {m.accessible_to_id for m in stored.values()} == {group_id(db, "Recruiters")}


def run_all(page, url):
    page.goto(url)
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def drive(page, url):
    run_all(page, url)
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
    if not page.locator(".jp-FileBrowser").is_visible():
        page.locator(".jp-SideBar [data-id='filebrowser']").click()
    page.locator(".jp-FileBrowser").wait_for(state="visible", timeout=10_000)
    for label in ("Tick all green", "Tick all probable", "Tick all yellow", "Tick all",
                  "Untick all", "Synchronize", "Import"):  # fmt: skip
        exact = label.startswith(("Tick", "Untick"))  # the others carry an icon in their name
        button = page.get_by_role("button", name=label, exact=exact).first
        cut = button.evaluate("b => b.scrollWidth > b.clientWidth + 1")
        assert not cut, f"the button {label!r} is cut at 1280 px"

    def row(subject):
        return rows.filter(has=page.get_by_role("cell", name=subject, exact=True))

    def ticked(n):
        page.get_by_text(f"{n} ticked").wait_for(timeout=10_000)
        assert rows.and_(page.locator("tr.selected")).count() == n

    ticked(3)  # the green rows
    shot(page, "browser-2-reviewed")
    row("Candidatura — sviluppatrice").locator("td").first.click()  # a plain click on a box
    ticked(4)  # ... adds that yellow row; the green ones stay ticked
    page.get_by_role("button", name="Tick all green").click()
    ticked(4)  # the button adds the green rows: the yellow one ticked by hand stays
    page.locator(".jp-OutputArea table.dataTable thead th", has_text="From").click()
    ticked(4)  # sorted by From: the same rows ticked
    assert "selected" in row("Candidatura — sviluppatrice").get_attribute("class")
    page.get_by_role("button", name="Untick all").click()
    ticked(0)
    header_box = page.locator(".primsync-tick-table thead input.primsync-all")
    header_box.check()  # the box in the grid's own heading: every row
    ticked(7)
    header_box.uncheck()
    ticked(0)

    def selected():
        return [bool(re.search(r"\bselected\b", rows.nth(i).get_attribute("class") or ""))
                for i in range(rows.count())]  # fmt: skip

    rows.nth(1).locator("td").nth(4).click()
    ticked(1)
    rows.nth(4).locator("td").nth(4).click(modifiers=["Shift"])  # a range, as in a mail list
    ticked(4)
    assert selected() == [False, True, True, True, True, False, False]
    rows.nth(6).locator("input.dt-select-checkbox").focus()
    page.keyboard.press("Space")  # the focused row's box
    ticked(5)
    assert selected()[6]
    page.keyboard.press("Space")
    ticked(4)
    page.get_by_role("button", name="Untick all").click()
    ticked(0)
    page.get_by_role("button", name="Tick all green").click()
    ticked(3)
    row("Re: Interview on Monday").click()  # a plain click on a green row unticks it alone
    ticked(2)
    row("Candidatura — sviluppatrice").click()
    ticked(3)
    # a ticked green row keeps its green: the Context cell's background, read off the screen
    from io import BytesIO

    from matplotlib.image import imread

    cell = row("RE: Shortlist").locator("td").nth(7)
    pixels = imread(BytesIO(cell.screenshot()), format="png")
    red, green, blue = (float(v) for v in pixels[2, 2][:3])
    assert green > red + 0.1 and green > blue + 0.1, (red, green, blue)
    # least privilege: "Accessible to" starts on Ana's own group, Recruiters
    page.get_by_text("visible to 3 users: Ana Martin, Dora Director, Marc Manager").wait_for(
        timeout=10_000
    )
    shot(page, "browser-3-ticked")
    page.locator("button.widget-button[title='Import']").click()
    page.get_by_text("Imported 3, skipped 0").wait_for(timeout=60_000)
    shot(page, "browser-4-imported")


def assert_inert_on_page(page, selector):
    """The rendered message carries nothing active: no script, image, handler or code link."""
    message = page.locator(selector)
    assert message.count() == 1
    counts = message.evaluate(
        """m => ({
            scripts: m.querySelectorAll('script, iframe, object, embed, style').length,
            images: m.querySelectorAll('img, image, picture, video, audio').length,
            handlers: [...m.querySelectorAll('*')].filter(
                e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
            codeLinks: [...m.querySelectorAll('[href], [src], [action]')].filter(
                e => /^\\s*(javascript|data|vbscript):/i.test(
                    e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action'))
            ).length,
        })"""
    )
    assert counts == {"scripts": 0, "images": 0, "handlers": 0, "codeLinks": 0}


def test_a_hostile_message_is_inert_in_the_details_pane_and_the_explore_notebook(
    hostile_db, tmp_path
):
    notebooks = ("01_sync.ipynb", "02_explore.ipynb")
    with running_lab(tmp_path, HOSTILE_ACCOUNT, str(hostile_db.url), USERS["hostile"],
                     notebooks) as (base, token), chromium() as browser:  # fmt: skip
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        requests, dialogs = [], []
        context.on("request", lambda r: requests.append(r.url))
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            run_all(page, f"{base}/lab/tree/01_sync.ipynb?token={token}")
            page.wait_for_selector(".primsync-folder", timeout=90_000)
            page.locator(".primsync-folder", has_text="INBOX").locator("input").check()
            page.locator(".widget-dropdown", has_text="Option").locator("select").select_option(
                label="All messages"
            )
            page.get_by_role("button", name="Synchronize").click()
            page.get_by_text("1 messages: 0 green, 1 yellow").wait_for(timeout=60_000)
            grid = ".jp-OutputArea .primsync-tick-table table.dataTable tbody"
            assert_inert_on_page(page, grid)  # the stranger's subject is text in the grid
            assert page.locator(grid).get_by_text(SUBJECT, exact=True).count() == 1
            page.locator(".jp-OutputArea table.dataTable tbody tr").first.click()
            page.get_by_text("0 ticked").or_(page.get_by_text("1 ticked")).wait_for()
            page.get_by_role("button", name="Show message").click()
            page.wait_for_selector(".primsync-message", timeout=60_000)
            shot(page, "hostile-details")
            assert_inert_on_page(page, ".primsync-message")
            assert page.locator(".primsync-message").get_by_text(EVIL_NAME).count() == 1
            page.locator("button.widget-button[title='Import']").click()
            page.get_by_text("Imported 1, skipped 0").wait_for(timeout=60_000)

            page = context.new_page()  # leaving the first would ask about its unsaved changes
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            run_all(page, f"{base}/lab/tree/02_explore.ipynb?token={token}")
            page.wait_for_selector(".jp-OutputArea .primsync-message", timeout=120_000)
            page.locator(".jp-OutputArea pre", has_text="Set attachment_id to save").wait_for(
                timeout=60_000
            )
            shot(page, "hostile-explore")
            assert_inert_on_page(page, ".jp-OutputArea .primsync-message")
            page.wait_for_timeout(1000)  # time for anything the page would still load
        finally:
            shot(page, "hostile-final")
            context.close()
    assert dialogs == []
    away = [u for u in requests if not u.startswith(("http://127.0.0.1", "ws://127.0.0.1",
                                                       "data:", "blob:"))]  # fmt: skip
    assert away == []
    assert not list(tmp_path.rglob("evil.sh"))  # shown, never saved unless asked


def test_the_same_walk_in_the_app_has_no_code_on_the_page(db, tmp_path):
    """`primsync app`: the sync notebook in Voilà, widgets only, for a recruiter."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    pytest.importorskip("voila")
    project = tmp_path / "project"
    shutil.copytree(ROOT / "notebooks", project / "notebooks")
    env = {**os.environ, "PRIMSYNC_PASSWORD": PASSWORD, "PRIMSYNC_DB": str(db.url)}
    env.pop("PRIMSYNC_ACCOUNT", None)
    with running(
        [sys.executable, "-m", "primsync.cli", "app", "--account", DEMO_ACCOUNT],
        cwd=project, env=env,
    ) as app:  # fmt: skip
        url = printed_address(app, "App")
        assert url and url.startswith("http://127.0.0.1:") and "token=" in url
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            try:
                page.goto(url)
                page.wait_for_selector(".primsync-folder", timeout=120_000)
                assert page.locator(".jp-InputArea-editor, .cm-editor, .CodeMirror").count() == 0
                assert "import" not in page.locator("body").inner_text().split("Email sync")[0]
                body = page.locator("body").inner_text()
                for analysts_only in ("To use your own account", "Without the widgets",
                                      "papermill", "user ana", "## "):  # fmt: skip
                    assert analysts_only not in body, analysts_only
                page.get_by_text("No synchronization yet.").wait_for(timeout=10_000)
                page.locator(".widget-dropdown", has_text="Option").locator("select").select_option(
                    label="All messages"
                )
                page.get_by_role("button", name="Synchronize").click()
                page.get_by_text("7 messages: 3 green, 4 yellow").wait_for(timeout=60_000)
                rows = page.locator("table.dataTable tbody tr")
                rows.filter(
                    has=page.get_by_role("cell", name="Candidatura — sviluppatrice", exact=True)
                ).click()
                page.get_by_text("4 ticked").wait_for(timeout=10_000)
                shot(page, "app-1-ticked")
                page.locator("button.widget-button[title='Import']").click()
                page.get_by_text("Imported 4, skipped 0").wait_for(timeout=60_000)
                # the summary of the runs and the health read again after the import
                page.get_by_role("cell", name="Import", exact=True).wait_for(timeout=30_000)
                assert page.get_by_text("No synchronization yet.").count() == 0
                shot(page, "app-2-imported")
            finally:
                shot(page, "app-final")
    with Session(db) as session:
        stored = {(m.folder, m.uid) for m in session.scalars(select(ImportedMessage))}
    assert stored == {("INBOX", 1), ("INBOX", 2), ("Sent", 1), ("INBOX", 3)}


def test_adding_an_unknown_correspondent_from_the_explore_notebook_then_undoing_it(
    db, tmp_path
):
    """The coverage view, clicked as a person does: the suggestion (a reply to the CRM message
    to Tom, from an address on no record), "Add to the record…", "Confirm", then "Undo"."""
    from primsync.db.models import RecordAddress, RecordAddressChange
    from tests.mailbox import TOM_ID

    def on_tom() -> list[str]:
        with Session(db) as session:
            return list(session.scalars(select(RecordAddress.address).where(
                RecordAddress.record_id == TOM_ID)))  # fmt: skip

    before = on_tom()
    with running_lab(tmp_path, DEMO_ACCOUNT, str(db.url), PASSWORD,
                     ("02_explore.ipynb",)) as (base, token), chromium() as browser:  # fmt: skip
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            run_all(page, f"{base}/lab/tree/02_explore.ipynb?token={token}")
            add = page.get_by_role("button", name="Add to the record…")
            add.wait_for(timeout=180_000)
            add.scroll_into_view_if_needed()
            offered = page.locator(".widget-dropdown", has_text="Suggestion").locator("select")
            assert "someone@else.example → Tom Baker" in offered.inner_text().replace("\xa0", " ")
            add.click()
            page.get_by_text("Its mail then files to that record.").wait_for(timeout=30_000)
            assert on_tom() == before  # asked, not written
            page.get_by_role("button", name="Confirm").click()
            page.get_by_text("the next review files its mail there").wait_for(timeout=30_000)
            shot(page, "coverage-added")
            assert sorted(on_tom()) == sorted([*before, "someone@else.example"])
            page.get_by_role("button", name="Undo the last addition").click()
            page.get_by_text("undone.").wait_for(timeout=30_000)
        finally:
            shot(page, "coverage-final")
            page.close()
    assert on_tom() == before
    with Session(db) as session:
        change = session.scalars(select(RecordAddressChange)).one()
        assert (change.address, change.record_id) == ("someone@else.example", TOM_ID)
        assert change.undone_at is not None
