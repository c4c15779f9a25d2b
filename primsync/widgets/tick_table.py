"""TickTable: a checkbox grid in the browser (DataTables with its Select extension, as itables
ships them), ticks kept in the browser and sent to the kernel once per gesture.

Chosen on measurement (``benchmarks/grid.py``, figures in benchmarks/RESULTS.md): itables' own
widget re-applies the whole selection on every change (every row unticked, then the ticked ones
ticked again) and renders every row's HTML in the kernel; here the rows go to the browser once
as plain values, a change is applied as a difference, and only the page shown gets DOM nodes.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from pathlib import Path

import anywidget
import pandas as pd
import traitlets

__all__ = ["TickTable"]

# each row tinted by its kind, ticked or not (a ticked row keeps its tint, darker, with a bar on
# the left, instead of DataTables' blue); long texts wrapped within the width
GRID_CSS = """
.primsync-tick-table table.dataTable tbody tr.selected > *,
.primsync-tick-table table.dataTable tbody tr.selected:hover > * {
  box-shadow: none !important; color: #111 !important; }
.primsync-tick-table table.dataTable tbody td { white-space: normal; overflow-wrap: anywhere;
  vertical-align: top; }
.primsync-tick-table .primsync-path { overflow-wrap: normal; word-break: keep-all; }
.primsync-tick-table thead th { cursor: pointer; }
.primsync-tick-table tr.primsync-row-green > * { background: #e8f5e9; }
.primsync-tick-table tr.primsync-row-yellow > * { background: #fffde7; }
.primsync-tick-table tr.primsync-row-probable > * { background: #e3f2fd; }
.primsync-tick-table tr.primsync-row-imported > * { background: #f2f2f2; color: #757575; }
.primsync-tick-table table.dataTable tbody tr.selected.primsync-row-green > * {
  background: #a5d6a7; }
.primsync-tick-table table.dataTable tbody tr.selected.primsync-row-yellow > * {
  background: #fff176; }
.primsync-tick-table table.dataTable tbody tr.selected.primsync-row-probable > * {
  background: #90caf9; }
.primsync-tick-table table.dataTable tbody tr.selected > *:first-child {
  border-left: 4px solid #1b5e20; }
.primsync-tick-table tr.primsync-row-imported .dt-select-checkbox { visibility: hidden; }
.primsync-tick-table input.dt-select-checkbox { width: 16px; height: 16px; cursor: pointer; }
.primsync-ctx { padding: 1px 8px; border-radius: 3px; font-weight: 600; white-space: nowrap; }
.primsync-green { background: #43a047; color: #fff; }
.primsync-yellow { background: #fdd835; color: #111; }
.primsync-probable { background: #1565c0; color: #fff; }
.primsync-imported { background: #bdbdbd; color: #111; }
"""

_EXPORTS = re.compile(r"export\s*\{([^}]*)\}\s*;?")


def _datatables_dir() -> Path:
    import itables

    return Path(itables.__file__).parent / "html"


@cache
def widget_module() -> str:
    """itables' DataTables bundle (an ES module) with its exports bound to names, then ours."""
    bundle = (_datatables_dir() / "dt_bundle.js").read_text(encoding="utf-8")
    exports = list(_EXPORTS.finditer(bundle))
    if len(exports) != 1:
        raise RuntimeError(
            f"itables' DataTables bundle has {len(exports)} export lists, not one: this version "
            "of itables is not one primsync knows (see constraints.txt)"
        )
    names = {}
    for item in exports[0].group(1).split(","):
        local, _, exported = item.strip().partition(" as ")
        names[exported.strip() or local] = local.strip()
    if "default" not in names:
        raise RuntimeError("itables' DataTables bundle exports no DataTable (its default)")
    match = exports[0]
    ours = files("primsync.widgets").joinpath("tick_table.js").read_text(encoding="utf-8")
    return (
        bundle[: match.start()]
        + f"\nconst DataTable = {names['default']};\n"
        + bundle[match.end() :]
        + "\n"
        + ours
    )


@cache
def widget_css() -> str:
    return (_datatables_dir() / "dt_bundle.css").read_text(encoding="utf-8") + GRID_CSS


class TickTable(anywidget.AnyWidget):
    """Rows of plain text (``selection.grid_view``) with a box each; ``ticked`` holds the ticked
    rows' positions, set from either side."""

    _esm = traitlets.Unicode().tag(sync=True)
    _css = traitlets.Unicode().tag(sync=True)
    headings = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rows: traitlets.List[list] = traitlets.List().tag(sync=True)
    ticked = traitlets.List(traitlets.Int()).tag(sync=True)
    page_length = traitlets.Int(25).tag(sync=True)

    def __init__(self, headings: list[str]) -> None:
        super().__init__(_esm=widget_module(), _css=widget_css(), headings=headings)
        self.view = pd.DataFrame(columns=[*headings, "kind"])

    def show(self, view: pd.DataFrame, ticked: list[int]) -> None:
        """Replace the rows (a ``grid_view`` frame) and the ticks in one message."""
        self.view = view
        with self.hold_sync():
            self.rows = view.to_numpy().tolist()
            self.ticked = list(ticked)
