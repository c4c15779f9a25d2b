"""The review grid's browser half (primsync/widgets/tick_table.js) in Chromium, without Jupyter:
the module imported into a blank page and given a stand-in for the widget's model (the
same calls anywidget makes: get, set, on, save_changes). What reaches the kernel is what the
model records; the clicks are real clicks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from primsync.widgets.tick_table import widget_css, widget_module

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api")

HEADINGS = ["Received", "Folder", "From", "Subject", "Imported into", "Context", "Annexed to"]
ROWS = [
    [f"2026-11-0{9 - i} 09:00", "INBOX/Clients/Acme" if i == 2 else "INBOX",
     f"Person {i}", f"Subject {i}", f"Record {i}", kind, "", kind]
    for i, kind in enumerate(["green", "yellow", "imported", "yellow", "probable", "green"])
]  # fmt: skip
ROWS[1][3] = "<img src=x onerror=alert(1)> & <script>alert('s')</script>"

# a stand-in for anywidget's model: Backbone's get/set/on, the messages sent to the kernel kept
MODEL = """
window.sent = [];
window.model = {
  values: %s, handlers: {},
  get(k) { return this.values[k]; },
  set(k, v) { this.values[k] = v; (this.handlers["change:" + k] || []).forEach((h) => h()); },
  on(e, h) { (this.handlers[e] = this.handlers[e] || []).push(h); },
  save_changes() { window.sent.push([...this.values.ticked]); },
  fromKernel(k, v) { this.set(k, v); },
};
"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed: .ci/run must install it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(d.message), d.dismiss()))
    values = {"headings": HEADINGS, "rows": ROWS, "ticked": [0, 5], "page_length": 25}
    page.set_content(f"<style>{widget_css()}</style><div id=grid></div>")
    page.evaluate(MODEL % json.dumps(values))
    page.evaluate(
        """async (source) => {
            const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
            const module = await import(url);
            module.default.render({ model: window.model, el: document.getElementById("grid") });
        }""",
        widget_module(),
    )
    yield page
    assert errors == []  # no script ran from a cell, no error in the module


def rows(page):
    return page.locator("#grid tbody tr")


def ticked_on_screen(page) -> list[int]:
    """Rows shown as ticked, by their sender's number (the order they have on the page)."""
    return page.evaluate(
        """() => [...document.querySelectorAll("#grid tbody tr.selected")].map(
               (tr) => Number(tr.cells[3].textContent.replace("Person ", "")))"""
    )


def sent(page) -> list[list[int]]:
    return page.evaluate("() => window.sent")


def test_cells_are_text_and_rows_carry_their_kind(page):
    body = page.locator("#grid tbody")
    assert body.evaluate("b => b.querySelectorAll('script, img, [onerror]').length") == 0
    assert body.get_by_text(ROWS[1][3], exact=True).count() == 1  # shown as written
    folder = rows(page).nth(2).locator("td").nth(2).locator("span")
    assert folder.inner_html() == "INBOX/<wbr>Clients/<wbr>Acme"  # breaks after "/" only
    assert folder.get_attribute("title") == "INBOX/Clients/Acme"  # the whole text on hover
    kinds = [rows(page).nth(i).get_attribute("class") for i in range(len(ROWS))]
    assert [k.split("primsync-row-")[1].split()[0] for k in kinds] == [r[7] for r in ROWS]
    assert ticked_on_screen(page) == [0, 5]  # the kernel's ticks, shown
    assert sent(page) == []  # showing them sends nothing back


def test_a_click_toggles_one_row_and_sends_once(page):
    rows(page).nth(1).locator("td").nth(3).click()  # a plain click, on the From cell
    assert ticked_on_screen(page) == [0, 1, 5]
    assert sent(page) == [[0, 1, 5]]
    rows(page).nth(0).locator("input.dt-select-checkbox").click()  # a click on the box
    assert sent(page) == [[0, 1, 5], [1, 5]]


def test_shift_click_ticks_a_range_and_skips_imported_rows(page):
    rows(page).nth(1).locator("td").nth(3).click()
    rows(page).nth(4).locator("td").nth(3).click(modifiers=["Shift"])
    assert ticked_on_screen(page) == [0, 1, 3, 4, 5]  # 2 is imported: never ticked
    assert sent(page)[-1] == [0, 1, 3, 4, 5]
    rows(page).nth(2).locator("td").nth(3).click()  # the imported row itself
    assert ticked_on_screen(page) == [0, 1, 3, 4, 5] and len(sent(page)) == 2


def test_the_heading_box_ticks_every_open_row_in_one_message(page):
    box = page.locator("#grid thead input.dt-select-checkbox")

    def state():
        return box.evaluate("b => [b.checked, b.indeterminate]")

    assert state() == [False, True]  # some rows ticked
    box.click()
    assert ticked_on_screen(page) == [0, 1, 3, 4, 5]
    assert sent(page) == [[0, 1, 3, 4, 5]]  # one batch, not a message per row
    assert state() == [True, False]  # every row that can be ticked is
    box.click()
    assert ticked_on_screen(page) == [] and sent(page)[-1] == []
    assert state() == [False, False]
    assert rows(page).first.locator("td").nth(3).inner_text() == "Person 0"  # no sort


def test_space_toggles_the_focused_box(page):
    rows(page).nth(3).locator("input.dt-select-checkbox").focus()
    page.keyboard.press("Space")
    assert ticked_on_screen(page) == [0, 3, 5]
    page.keyboard.press("Space")
    assert ticked_on_screen(page) == [0, 5]


def test_ticks_from_the_kernel_apply_as_a_difference_and_survive_sorting(page):
    page.evaluate("() => window.model.fromKernel('ticked', [1, 3])")
    assert ticked_on_screen(page) == [1, 3] and sent(page) == []
    heading = page.locator("#grid thead th", has_text="From")
    first_sender = rows(page).first.locator("td").nth(3)
    heading.click()  # a click on a heading's text sorts (DataTables sorts on its next tick:
    sync_api.expect(first_sender).to_have_text("Person 0")  # a second click waits for it)
    heading.click()  # descending: Person 5 first
    sync_api.expect(first_sender).to_have_text("Person 5")
    assert sorted(ticked_on_screen(page)) == [1, 3]
    new = [[*r[:4], "Other", *r[5:]] for r in ROWS[:3]]
    page.evaluate(
        "(rows) => { window.model.values.ticked = [0]; window.model.fromKernel('rows', rows); }",
        new,
    )
    assert rows(page).count() == 3 and ticked_on_screen(page) == [0]  # new rows, their ticks
