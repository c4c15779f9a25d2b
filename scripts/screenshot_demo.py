"""Take docs/review-grid.png: the review grid of the demo, in JupyterLab, in headless Chromium.

python3 scripts/screenshot_demo.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    db = Path(tempfile.mkdtemp()) / "demo.db"
    demo = subprocess.Popen(
        [sys.executable, "-m", "primsync.cli", "demo", "--db", f"sqlite:///{db}"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = demo.stdout.readline() if demo.stdout else ""
            found = re.search(r"(http://127\.0\.0\.1\S+)", line)
            url = found.group(1) if found else None
        if url is None:
            raise SystemExit("primsync demo printed no JupyterLab address")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )  # fmt: skip
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(url)
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            page.wait_for_selector(".primsync-folder", timeout=90_000)
            for box in page.locator(".primsync-folder input").all():
                box.check()
            page.locator(".widget-dropdown", has_text="Option").locator("select").select_option(
                label="All messages"
            )
            page.get_by_role("button", name="Synchronize").click()
            page.get_by_text(re.compile(r"\d+ ticked")).wait_for(timeout=60_000)
            page.locator(".jp-OutputArea table.dataTable tbody tr").nth(3).click(
                modifiers=["Control"]
            )
            page.get_by_text("visible to").wait_for(timeout=10_000)
            widget = page.locator(".jp-OutputArea-output", has=page.locator(".primsync-folder"))
            widget.screenshot(path=str(ROOT / "docs" / "review-grid.png"))
            browser.close()
    finally:
        demo.terminate()
        demo.wait(timeout=30)
    print("wrote docs/review-grid.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
