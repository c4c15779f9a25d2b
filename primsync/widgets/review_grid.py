"""ReviewGrid: the review frame in a checkbox grid (``TickTable``): a click on a row (or its
box) ticks or unticks that row only, Shift-click ticks a range, Space the focused box, the box in
the heading every row; buttons add all green, all probable, all yellow or all rows to the ticks,
or untick all; ticked rows mapped back to the frame; already-imported rows cannot be ticked;
rows tinted by their context, ticked or not."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w
import pandas as pd

from primsync import frame as F
from primsync.selection import (
    after_tick_action,
    choose_record,
    grid_view,
    newest_first,
    tickable_positions,
    with_selection,
)
from primsync.widgets.tick_table import TickTable

__all__ = ["ReviewGrid"]


class ReviewGrid(w.VBox):
    """``frame`` is the review frame with the user's ticks (``selected``) and record choices."""

    def __init__(self) -> None:
        self.table = TickTable(list(F.GRID_COLUMNS.values()))
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
        super().__init__(
            [
                # the buttons wrap to a second line rather than being cut ("Tic…")
                w.HBox(
                    [self.counts, *self.tick_buttons.values()],
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
        self.table.observe(self._selection_changed, names="ticked")
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
            self.table.show(grid_view(self.frame), ticked)
        finally:
            self._updating = False
        self._count()

    def _count(self) -> None:
        f = self.frame
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
        before = set(change["old"] or ())
        added = [p for p in wanted if p not in before]
        self.frame = with_selection(self.frame, allowed)
        if sorted(wanted) != allowed:  # an already-imported row was ticked: untick it
            self._updating = True
            try:
                self.table.ticked = allowed
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
        self.table.ticked = list(positions)

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
