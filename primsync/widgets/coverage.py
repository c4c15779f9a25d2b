"""The coverage view: unknown correspondents ranked, and adding one's address to the suggested
record — a write the user confirms, recorded, and undoable."""

from __future__ import annotations

import html

import ipywidgets as w
import pandas as pd
from sqlalchemy import Engine

from primsync.coverage import coverage_of
from primsync.db.addresses import add_address, undo_address_change
from primsync.errors import PrimsyncError
from primsync.report import html_table
from primsync.review import ReviewResult

__all__ = ["CoverageView"]

SHOWN = 25  # correspondents listed


class CoverageView(w.VBox):
    """``frame``: the ranked correspondents (:func:`primsync.coverage.coverage`); the dropdown
    offers those with a suggestion; "Add" asks to confirm, "Confirm" writes, "Undo" takes the
    last addition back."""

    def __init__(self, engine: Engine, review: ReviewResult, user: str):
        self.engine, self.user = engine, user
        self.frame = coverage_of(engine, review)
        self.changes: list[int] = []
        self.table = w.HTML(self._table())
        suggested = self.frame[self.frame["record_id"].notna()]
        self.choice = w.Dropdown(
            options=[
                (f"{row.address} → {row.record_name} ({row.reason})", i)
                for i, row in zip(suggested.index, suggested.itertuples(), strict=True)
            ],
            description="Suggestion",
            layout=w.Layout(width="100%"),
        )
        self.add_button = w.Button(
            description="Add to the record…", icon="user-plus", disabled=suggested.empty
        )
        self.confirm_button = w.Button(description="Confirm", button_style="warning")
        self.cancel_button = w.Button(description="Cancel")
        self.undo_button = w.Button(
            description="Undo the last addition", icon="undo", disabled=True
        )
        for button in (self.add_button, self.confirm_button, self.cancel_button, self.undo_button):
            button.layout.width = "auto"  # the whole label, never "Add to the rec…"
        self.question = w.HTML()
        self.status = w.HTML()
        self.confirm_box = w.HBox([self.question, self.confirm_button, self.cancel_button])
        self.confirm_box.layout.display = "none"
        super().__init__(
            [
                self.table,
                self.choice,
                w.HBox([self.add_button, self.undo_button]),
                self.confirm_box,
                self.status,
            ]
        )
        self.add_button.on_click(lambda _b: self.ask())
        self.confirm_button.on_click(lambda _b: self.confirm())
        self.cancel_button.on_click(lambda _b: self._hide_question())
        self.undo_button.on_click(lambda _b: self.undo())

    def _table(self) -> str:
        if self.frame.empty:
            return "<p>Every correspondent of this review is on a record.</p>"
        shown = self.frame.head(SHOWN)[
            ["address", "name", "messages", "last_seen", "record_name", "reason"]
        ].rename(columns={"record_name": "suggested record", "last_seen": "last seen"})
        shown["last seen"] = shown["last seen"].dt.strftime("%Y-%m-%d %H:%M")
        return html_table(shown)

    def _chosen(self) -> pd.Series:
        return self.frame.loc[self.choice.value]

    def ask(self) -> None:
        """Show what "Confirm" will write (nothing is written yet)."""
        if self.choice.value is None:
            return
        row = self._chosen()
        self.question.value = (
            f"Add <b>{html.escape(row['address'])}</b> to <b>{html.escape(row['record_name'])}"
            f"</b> (record {int(row['record_id'])})? Its mail then files to that record."
        )
        self.confirm_box.layout.display = "flex"

    def _hide_question(self) -> None:
        self.confirm_box.layout.display = "none"
        self.question.value = ""

    def confirm(self) -> int | None:
        """Write the addition asked for; returns the change's id."""
        row = self._chosen()
        self._hide_question()
        try:
            change = add_address(
                self.engine,
                int(row["record_id"]),
                row["address"],
                user=self.user,
                reason=row["reason"],
            )
        except PrimsyncError as exc:
            self.status.value = f'<span style="color:#b71c1c">{html.escape(str(exc))}</span>'
            return None
        self.changes.append(change)
        self.undo_button.disabled = False
        self.status.value = (
            f"Added {html.escape(row['address'])} to {html.escape(row['record_name'])} "
            f"(change {change}); the next review files its mail there."
        )
        return change

    def undo(self) -> None:
        """Take the last addition back."""
        if not self.changes:
            return
        change = self.changes.pop()
        try:
            undo_address_change(self.engine, change, user=self.user)
        except PrimsyncError as exc:
            self.status.value = f'<span style="color:#b71c1c">{html.escape(str(exc))}</span>'
            return
        self.undo_button.disabled = not self.changes
        self.status.value = f"Change {change} undone."
