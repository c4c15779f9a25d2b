"""ReviewGrid: the review frame in an itables ``ITable`` widget — a checkbox grid: a click on
a row (or its box) ticks or unticks that row only (DataTables' "multi" selection), buttons tick
all green, all yellow, all, or none; ticked rows mapped back to the frame; already-imported
rows cannot be ticked; rows tinted by their context, ticked or not (``selection.GRID_CSS``)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w
import pandas as pd
from itables.widget import ITable

from primsync import frame as F
from primsync.selection import (
    GRID_CSS,
    TICK_COLUMN,
    after_tick_action,
    choose_record,
    grid_view,
    newest_first,
    positions_of,
    tickable_positions,
    with_selection,
)

__all__ = ["ReviewGrid"]

_COLUMN_DEFS: list[dict[str, object]] = [
    {"targets": [0], "orderable": False, "className": "dt-center", "width": "24px"},
    {"targets": [1], "width": "120px"},
    {"targets": [7], "className": "dt-center"},
    {"targets": "_all", "orderable": True},
]
_SELECT = {"style": "multi"}  # a click toggles that row only


class ReviewGrid(w.VBox):
    """``frame`` is the review frame with the user's ticks (``selected``) and record choices."""

    def __init__(self) -> None:
        self.table = ITable(
            pd.DataFrame(columns=[TICK_COLUMN, *F.GRID_COLUMNS.values()]),
            select=_SELECT,
            order=[],  # the rows come newest first; a click on a heading sorts
            allow_html=True,
            maxBytes=0,
            pageLength=25,
            columnDefs=_COLUMN_DEFS,
            showIndex=False,
        )
        self.record_choice = w.Dropdown(description="Import into", disabled=True)
        self.record_choice.layout.display = "none"  # shown for a row that needs a choice
        self.counts = w.HTML()
        self.tick_buttons = {
            which: w.Button(description=label, layout=w.Layout(width="auto", flex="0 0 auto"))
            for which, label in (
                ("green", "Tick all green"),
                ("probable", "Tick all probable"),
                ("yellow", "Tick all yellow"),
                ("all", "Tick all"),
                ("none", "Untick all"),
            )
        }
        for which, button in self.tick_buttons.items():
            button.on_click(lambda _b, which=which: self.tick(which))
        # the header checkbox: every row that can be ticked, or none; it shows whether all are
        self.all_box = w.Checkbox(value=False, description="All", indent=False)
        self.all_box.layout.width = "auto"
        self.all_box.observe(self._all_toggled, names="value")
        super().__init__(
            [
                w.HTML(GRID_CSS),
                # the buttons wrap to a second line rather than being cut ("Tic…")
                w.HBox(
                    [self.all_box, self.counts, *self.tick_buttons.values()],
                    layout=w.Layout(flex_flow="row wrap", align_items="center"),
                ),
                self.table,
                self.record_choice,
            ]
        )
        self.add_class("primsync-grid")
        self.frame = pd.DataFrame(columns=F.REVIEW_COLUMNS)
        self.current: int | None = None
        self._on_current: list[Callable[[pd.Series | None], None]] = []
        self._updating = False
        self.table.observe(self._selection_changed, names="selected_rows")
        self.record_choice.observe(self._record_chosen, names="value")

    def on_current(self, callback: Callable[[pd.Series | None], None]) -> None:
        """Call ``callback`` with the current row (the last one ticked) when it changes."""
        self._on_current.append(callback)

    def show(self, frame: pd.DataFrame) -> None:
        """Display a review frame, newest first; its ``selected`` column gives the ticks."""
        self.frame = newest_first(frame).reset_index(drop=True)
        ticked = [i for i, s in enumerate(self.frame[F.SELECTED]) if s]
        self._refresh(ticked)
        self._set_current(None)

    def _refresh(self, ticked: list[int]) -> None:
        self._updating = True
        try:
            self.table.update(
                grid_view(self.frame),
                selected_rows=ticked,
                select=_SELECT,
                order=[],
                columnDefs=_COLUMN_DEFS,  # itables drops them on update unless passed again
                allow_html=True,
                maxBytes=0,
            )
        finally:
            self._updating = False
        self._count()

    def _all_toggled(self, change: dict) -> None:
        if not self._updating:
            self.tick("all" if change["new"] else "none")

    def _count(self) -> None:
        f = self.frame
        every = positions_of(f, "all")
        self._updating, was = True, self._updating
        try:  # the header box follows the ticks: checked when every open row is ticked
            self.all_box.value = bool(every) and bool(f[F.SELECTED].to_numpy()[every].all())
        finally:
            self._updating = was
        self.counts.value = (
            f"{len(f)} messages: {int((f[F.CONTEXT] == 'green').sum())} green, "
            f"{int((f[F.CONTEXT] == 'yellow').sum())} yellow, "
            f"{int(f[F.ALREADY_IMPORTED].sum())} already imported — "
            f"<b>{int(f[F.SELECTED].sum())} ticked</b>"
        )

    def _selection_changed(self, change: dict) -> None:
        if self._updating:
            return
        wanted = list(change["new"])
        allowed = tickable_positions(self.frame, wanted)
        added = [p for p in wanted if p not in (change["old"] or [])]
        self.frame = with_selection(self.frame, allowed)
        if sorted(wanted) != allowed:  # an already-imported row was clicked: untick it
            self._updating = True
            try:
                self.table.selected_rows = allowed
            finally:
                self._updating = False
        self._count()
        if added and added[-1] in allowed:
            self._set_current(added[-1])

    def _set_current(self, position: int | None) -> None:
        self.current = position
        row = self.frame.iloc[position] if position is not None else None
        self._updating = True
        try:
            if row is not None and len(row[F.CANDIDATES]) > 1:
                self.record_choice.options = list(
                    zip(row[F.CANDIDATE_NAMES], row[F.CANDIDATES], strict=True)
                )
                self.record_choice.value = int(row[F.RECORD_ID])
                self.record_choice.disabled = False
                self.record_choice.layout.display = ""
            else:
                self.record_choice.options = []
                self.record_choice.disabled = True
                self.record_choice.layout.display = "none"
        finally:
            self._updating = False
        for callback in self._on_current:
            callback(row)

    def tick(self, which: str) -> None:
        """Add all "green" rows, all "probable" or "yellow" ones, or "all" to the ticks (imported
        rows never); "none" unticks every row."""
        ticked = [i for i, s in enumerate(self.frame[F.SELECTED].tolist()) if s]
        self.select_positions(after_tick_action(self.frame, ticked, which))

    def select_positions(self, positions: list[int]) -> None:
        """Tick exactly these rows (as a click in the browser would)."""
        self.table.selected_rows = list(positions)

    def choose(self, position: int, record_id: int) -> None:
        """File the row at ``position`` into another of its candidate records."""
        self.frame = choose_record(self.frame, self.frame.index[position], record_id)
        ticked = [i for i, s in enumerate(self.frame[F.SELECTED]) if s]
        self._refresh(ticked)

    def _record_chosen(self, change: dict) -> None:
        if self._updating or self.current is None or change["new"] is None:
            return
        self.choose(self.current, int(change["new"]))

    @property
    def ticked(self) -> pd.DataFrame:
        return self.frame[self.frame[F.SELECTED]]
