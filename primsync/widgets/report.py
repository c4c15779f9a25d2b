"""The runs and the health of an account, and every account's schedule, as widgets that read
them again after an import."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w
import pandas as pd
from sqlalchemy import Engine

from primsync.db.runs import health_frame, recent_runs
from primsync.db.schedules import schedule_frame
from primsync.report import health_table, html_table, runs_table, schedules_table

__all__ = ["HealthView", "RunsView", "SchedulesView"]


class _AccountTable(w.HTML):
    """A table in words of one account, read from the database on ``refresh``."""

    read: Callable[[Engine, str], pd.DataFrame]
    empty: str

    def __init__(self, engine: Engine, account: str):
        super().__init__()
        self.engine, self.account = engine, account
        self.refresh()

    def refresh(self, account: str | None = None) -> None:
        """Read the table again (of ``account``, when the screen moved to another one)."""
        self.account = account or self.account
        self.value = html_table(type(self).read(self.engine, self.account), empty=self.empty)


class RunsView(_AccountTable):
    """The latest runs of an account in words (``primsync.report.runs_table``)."""

    read = staticmethod(lambda engine, account: runs_table(recent_runs(engine, account)))
    empty = "No synchronization yet."


class HealthView(_AccountTable):
    """The account's health per folder in words (``primsync.report.health_table``)."""

    read = staticmethod(lambda engine, account: health_table(health_frame(engine, account)))
    empty = "No folder synchronized yet."


class SchedulesView(w.HTML):
    """Every scheduled account (``primsync health --all``) in words: last sync, outcome, last
    error, next due time."""

    def __init__(self, engine: Engine):
        super().__init__()
        self.engine = engine
        self.refresh()

    def refresh(self, _account: str | None = None) -> None:
        self.value = html_table(
            schedules_table(schedule_frame(self.engine)),
            empty="No account is scheduled (primsync account schedule).",
        )
