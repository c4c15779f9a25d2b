"""The review grid in a browser, as a recruiter meets it: a folder of N messages (5,000 by
default) reviewed in the sync notebook in JupyterLab, in headless Chromium.

    python3 benchmarks/grid.py [--messages 5000]

Prints, beside the in-process review of the same folder (the library call, the baseline of
this run): the time from the click on Synchronize to the first painted rows, the time a tick
(a plain click on a row) takes to show on the row and in the kernel's counts, "Tick all yellow"
(rows and counts), and the box in the grid's heading. Each time is taken inside the page (the
click dispatched, then every change of the page checked), not by polling from outside.
Figures, never asserted (these machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.mailbox import build_messages, load_into_dovecot, seed_contacts  # noqa: E402
from primsync.db.engine import open_engine  # noqa: E402
from primsync.review import review_mailbox  # noqa: E402
from primsync.selection import grid_view  # noqa: E402
from primsync.servers import free_port, wait_for_port  # noqa: E402
from tests.servers import DovecotServer, quiet_lab_config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT, USER, PASSWORD = "ana@agency.example", "bench", "bench-pw"
CHROMIUM = "/usr/bin/chromium"


def load_mailbox(dovecot: DovecotServer, n: int, db_url: str) -> None:
    messages, people, crm_ids = build_messages(n)
    load_into_dovecot(dovecot, USER, PASSWORD, "INBOX", messages)
    seed_contacts(
        open_engine(db_url, create=True),
        host=dovecot.host,
        port=dovecot.port,
        people=people,
        crm_ids=crm_ids,
    )


def start_lab(folder: Path, db_url: str) -> tuple[subprocess.Popen, str]:
    shutil.copy(ROOT / "notebooks" / "01_sync.ipynb", folder / "01_sync.ipynb")
    port, token = free_port(), secrets.token_hex(8)
    env = {
        **os.environ,
        "PRIMSYNC_ACCOUNT": ACCOUNT,
        "PRIMSYNC_DB": db_url,
        "PRIMSYNC_PASSWORD": PASSWORD,
        "JUPYTER_CONFIG_DIR": str(quiet_lab_config(folder)),
    }
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.root_dir={folder}",
            f"--IdentityProvider.token={token}",
            "--allow-root",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, timeout=90, process=lab, name="JupyterLab")
    return lab, f"http://127.0.0.1:{port}/lab/tree/01_sync.ipynb?token={token}"


# Times one gesture inside the page (no polling): the click is dispatched at t0 and the answer
# is the time until `done()` holds, checked on every change of the page.
TIMED = """async ([target, done]) => {
    const started = performance.now();
    const check = new Function("return (" + done + ")()");
    return await new Promise((resolve) => {
        const observer = new MutationObserver(() => {
            if (check()) { observer.disconnect(); resolve(performance.now() - started); }
        });
        observer.observe(document.body, { subtree: true, childList: true, attributes: true,
                                          characterData: true });
        eval(target).click();
    });
}"""
ROWS = "document.querySelectorAll('.jp-OutputArea table.dataTable tbody tr')"
BUTTON = "[...document.querySelectorAll('button')].find(b => b.innerText.trim() === {!r})"
YELLOW = f"[...{ROWS}].find(tr => tr.querySelector('.primsync-yellow') && !tr.matches('.selected'))"
COUNTS = "[...document.querySelectorAll('.widget-html-content')].map(e => e.innerText).join(' ')"


def timed(page, target: str, done: str) -> float:
    return page.evaluate(TIMED, [target, done]) / 1000


def ticked_count(page) -> int:
    return int(re.search(r"(\d+) ticked", page.evaluate(f"() => {COUNTS}")).group(1))


def in_browser(url: str, n: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        page.wait_for_selector(".primsync-folder", timeout=120_000)
        page.locator(".widget-dropdown", has_text="Option").locator("select").select_option(
            label="All messages"
        )
        figures = {}
        figures["first_rows"] = timed(
            page,
            BUTTON.format("Synchronize"),
            f"() => {ROWS}.length > 1 && {COUNTS}.includes('{n} messages')",
        )
        before = ticked_count(page)
        page.evaluate(f"() => {{ window.benchRow = {YELLOW}; }}")
        figures["tick_row"] = timed(
            page, "window.benchRow.cells[3]", "() => window.benchRow.classList.contains('selected')"
        )
        page.wait_for_function(f"() => {COUNTS}.includes('{before + 1} ticked')", timeout=60_000)
        page.evaluate(f"() => {{ window.benchRow = {YELLOW}; }}")
        figures["tick_counted"] = timed(
            page, "window.benchRow.cells[3]", f"() => {COUNTS}.includes('{before + 2} ticked')"
        )
        figures["tick_all_yellow"] = timed(
            page,
            BUTTON.format("Tick all yellow"),
            f"() => [...{ROWS}].filter(tr => tr.querySelector('.primsync-yellow'))"
            ".every(tr => tr.classList.contains('selected'))"
            f" && !{COUNTS}.includes('{before + 2} ticked')",
        )
        box = "document.querySelector('.primsync-tick-table thead input.primsync-all')"
        if page.evaluate(f"() => !!{box}"):  # the box in the grid's heading (absent before it)
            page.get_by_role("button", name="Untick all").click()
            page.wait_for_function(f"() => {COUNTS}.includes(' 0 ticked')", timeout=60_000)
            figures["heading_box_rows"] = timed(
                page, box, f"() => [...{ROWS}].every(tr => tr.classList.contains('selected'))"
            )
            page.wait_for_function(f"() => !{COUNTS}.includes(' 0 ticked')", timeout=60_000)
        browser.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    n = parser.parse_args(argv).messages
    if not Path(CHROMIUM).exists():
        print("Debian's chromium is not installed: nothing measured", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, DovecotServer({USER: PASSWORD}) as dovecot:
        db_url = f"sqlite:///{tmp}/grid.db"
        load_mailbox(dovecot, n, db_url)
        engine = open_engine(db_url)
        started = time.perf_counter()
        review = review_mailbox(engine, ACCOUNT, ["INBOX"], option="all", secret=PASSWORD)
        library = time.perf_counter() - started
        started = time.perf_counter()
        grid_view(review.frame)
        cells = time.perf_counter() - started
        shown = len(review.frame)
        lab, url = start_lab(Path(tmp), db_url)
        try:
            figures = in_browser(url, shown)
        finally:
            lab.terminate()
            lab.wait(timeout=30)
    print(f"grid of {shown:,} rows ({n:,} messages), JupyterLab in headless Chromium")
    print(f"  review, in-process (baseline)         {library:6.2f} s")
    print(f"  grid cells built (grid_view)          {cells:6.2f} s")
    first = figures["first_rows"]
    print(f"  Synchronize -> first rows painted     {first:6.2f} s  ({first / library:.1f}x)")
    for key, label in (
        ("tick_row", "a tick (plain click) on the row"),
        ("tick_counted", "... and counted by the kernel"),
        ("tick_all_yellow", "Tick all yellow: rows and counts"),
        ("heading_box_rows", "the heading's box: all rows ticked"),
    ):
        if key in figures:  # the heading's box is absent from the grid before it
            print(f"  {label:<36} {figures[key] * 1000:6.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
