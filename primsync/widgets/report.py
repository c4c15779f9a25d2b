"""The runs and the health of an account, as widgets that read them again after an import."""

from __future__ import annotations

import ipywidgets as w
from sqlalchemy import Engine

from primsync.db.queries import health_frame, recent_runs
from primsync.report import health_table, html_table, runs_table

__all__ = ["HealthView", "RunsView"]


class RunsView(w.HTML):
    """The latest runs of an account in words (``primsync.report.runs_table``)."""

    def __init__(self, engine: Engine, account: str):
        super().__init__()
        self.engine, self.account = engine, account
        self.refresh()

    def refresh(self, account: str | None = None) -> None:
        """Read the runs again (of ``account``, when the screen moved to another one)."""
        self.account = account or self.account
        runs = runs_table(recent_runs(self.engine, self.account))
        self.value = html_table(runs, empty="No synchronization yet.")


class HealthView(w.HTML):
    """The account's health per folder in words (``primsync.report.health_table``)."""

    def __init__(self, engine: Engine, account: str):
        super().__init__()
        self.engine, self.account = engine, account
        self.refresh()

    def refresh(self, account: str | None = None) -> None:
        """Read the health again (of ``account``, when the screen moved to another one)."""
        self.account = account or self.account
        health = health_table(health_frame(self.engine, self.account))
        self.value = html_table(health, empty="No folder synchronized yet.")
