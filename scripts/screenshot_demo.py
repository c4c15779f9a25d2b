"""Take the pictures of docs/: the review grid of the demo in JupyterLab (docs/review-grid.png:
ticked and unticked rows of both contexts) and the same screen as the app
(docs/app.png), in headless Chromium, with no pop-up over them.

python3 scripts/screenshot_demo.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import quiet_lab_config  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def demo(*flags: str) -> tuple[subprocess.Popen, str]:
    db = Path(tempfile.mkdtemp()) / "demo.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "primsync.cli", "demo", "--db", f"sqlite:///{db}", *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(quiet_lab_config(Path(tempfile.mkdtemp())))},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline() if process.stdout else ""
        found = re.search(r"(http://127\.0\.0\.1\S+)", line)
        if found:
            return process, found.group(1)
    process.terminate()
    raise SystemExit("primsync demo printed no address")


def review(page: Page) -> None:
    """All messages of the inbox and the sent folder; a yellow row ticked, a green one not."""
    page.wait_for_selector(".primsync-folder", timeout=120_000)
    page.locator(".widget-dropdown", has_text="Option").locator("select").select_option(
        label="All messages"
    )
    page.get_by_role("button", name="Synchronize").click()
    page.get_by_text(re.compile(r"\d+ ticked")).wait_for(timeout=60_000)
    rows = page.locator("table.dataTable tbody tr")
    rows.filter(has=page.get_by_text("Candidatura — sviluppatrice", exact=True)).click()
    rows.filter(has=page.get_by_text("Re: Interview on Monday", exact=True)).click()
    page.get_by_text("2 ticked").wait_for(timeout=10_000)  # 2 green, one of them unticked
    page.mouse.move(0, 0)  # no hover highlight in the picture


def main() -> int:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        process, url = demo()
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            review(page)
            widget = page.locator(".jp-OutputArea-output", has=page.locator(".primsync-grid"))
            widget.locator(".primsync-grid").screenshot(path=str(ROOT / "docs" / "review-grid.png"))
        finally:
            process.terminate()
            process.wait(timeout=30)
        process, url = demo("--app")
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(url)
            review(page)
            page.screenshot(path=str(ROOT / "docs" / "app.png"))
        finally:
            process.terminate()
            process.wait(timeout=30)
        browser.close()
    print("wrote docs/review-grid.png and docs/app.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
