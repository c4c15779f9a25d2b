"""The Contacts section: the CRM's records with their addresses, and "Exclude this contact from
email synchronization" as a checkbox on a record — each change recorded (who, when)."""

from __future__ import annotations

import html

import ipywidgets as w
from sqlalchemy import Engine

from primsync.db.people import record_detail, records_frame, set_excluded
from primsync.errors import PrimsyncError

__all__ = ["ContactsView"]


class ContactsView(w.VBox):
    """A record chosen by name (or address); its addresses and messages; the exclusion
    checkbox writes at once and says so. ``user`` is who the change is recorded as."""

    def __init__(self, engine: Engine, user: str, *, kind: str | None = None):
        self.engine, self.user = engine, user
        self.frame = records_frame(engine, kind=kind)
        self.choice = w.Dropdown(
            options=[
                (f"{row.name} ({row.kind}) — {row.addresses}", int(row.id))
                for row in self.frame.itertuples()
            ],
            description="Record",
            layout=w.Layout(width="100%"),
        )
        self.details = w.HTML()
        self.excluded = w.Checkbox(
            description="Exclude this contact from email synchronization",
            indent=False,
            layout=w.Layout(width="auto"),
        )
        self.status = w.HTML()
        self._showing = False
        self.choice.observe(lambda _: self._show(), names="value")
        self.excluded.observe(self._toggled, names="value")
        super().__init__([self.choice, self.details, self.excluded, self.status])
        if self.frame.empty:
            self.choice.disabled = self.excluded.disabled = True
            self.status.value = "No record yet: `primsync records import FILE` adds them."
        else:
            self._show()

    def _show(self) -> None:
        if self.choice.value is None:
            return
        detail = record_detail(self.engine, int(self.choice.value))
        addresses = ", ".join(str(a) for a in detail["addresses"])  # type: ignore[attr-defined]
        self.details.value = (
            f"<b>{html.escape(str(detail['name']))}</b> ({detail['kind']}): "
            f"{html.escape(addresses)} — {detail['crm_messages']} sent from the CRM, "
            f"{detail['imported']} imported"
        )
        self._showing = True
        try:
            self.excluded.value = bool(detail["excluded"])
        finally:
            self._showing = False
        self.status.value = ""

    def _toggled(self, change: dict) -> None:
        if self._showing or self.choice.value is None:
            return
        try:
            record_id, name, _ = set_excluded(
                self.engine, int(self.choice.value), excluded=bool(change["new"]),
                changed_by=self.user,
            )  # fmt: skip
        except PrimsyncError as exc:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return
        state = "excluded from" if change["new"] else "included in"
        self.status.value = (
            f"{html.escape(name)} (record {record_id}) is now {state} email synchronization "
            f"(recorded: {html.escape(self.user)})."
        )
