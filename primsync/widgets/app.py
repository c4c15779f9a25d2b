"""SyncApp: the whole sync screen — folders, option, Synchronize, review grid, Accessible to,
Import, summary. It only wires widget events to the functions the command line calls."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any

import ipywidgets as w
import pandas as pd
from sqlalchemy import Engine

from primsync import frame as F
from primsync.commit import ImportSummary, import_selected
from primsync.db import directory
from primsync.errors import (
    ConfigurationError,
    PrimsyncError,
    log_unexpected,
    unexpected_words,
)
from primsync.oauth import TokenProvider
from primsync.opening import list_folders, read_message
from primsync.preview import AttachmentInfo, render_message
from primsync.replies import DEFAULT_THRESHOLD, apply_threshold
from primsync.report import html_table
from primsync.review import ReviewResult, review_mailbox
from primsync.selection import audience_note, carry_ticks, mark_imported, row_details
from primsync.widgets.account import AccountStep
from primsync.widgets.folders import FolderPicker
from primsync.widgets.options import OptionPicker
from primsync.widgets.review_grid import ReviewGrid

__all__ = ["SyncApp"]


def _guarded(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Show a handler's error in the app (ipywidgets would only log it); tests re-raise it."""

    @wraps(handler)
    def run(self: SyncApp, *args: Any) -> Any:
        try:
            return handler(self, *args)
        except Exception as exc:
            self.errors.append(exc)
            if isinstance(exc, PrimsyncError):
                text = str(exc)
            else:  # a bug: the traceback in a log file, as the command line does
                text = unexpected_words(exc, log_unexpected(f"app: {handler.__name__}"))
            self.status.value = f'<span style="color:#b71c1c">Error: {html.escape(text)}</span>'
            if self.raise_errors:
                raise
        finally:
            self.progress.layout.visibility = "hidden"

    return run


class SyncApp(w.VBox):
    """The sync screen for one registered account and one user.

    >>> app = SyncApp(engine, "ana@agency.example", "ana", secret=password)   # doctest: +SKIP
    >>> app                                                                    # doctest: +SKIP
    """

    def __init__(
        self,
        engine: Engine,
        account: str,
        user: str,
        *,
        secret: str | TokenProvider | None = None,
        today: date | None = None,
        raise_errors: bool = False,
    ):
        self.engine, self.account, self.user = engine, account, user
        self._secret, self._today = secret, today
        self.raise_errors = raise_errors
        self.errors: list[Exception] = []
        self.result: ReviewResult | None = None
        self.summary: ImportSummary | None = None

        self.account_step = AccountStep(
            engine,
            user,
            account,
            secret=secret,
            on_change=self._use_account,
            raise_errors=raise_errors,
        )
        self.title = w.HTML(f"<h3>Email synchronization — {html.escape(account)}</h3>")
        self.folders = FolderPicker()
        self.options = OptionPicker()
        self.sync_button = w.Button(
            description="Synchronize", button_style="primary", icon="refresh"
        )
        # probable replies (a link inferred, not named) are ticked from this confidence on
        self.threshold = w.FloatSlider(
            value=DEFAULT_THRESHOLD,
            min=0.5,
            max=1.0,
            step=0.05,
            description="Tick probable replies from",
            readout_format=".0%",
            style={"description_width": "initial"},
            layout=w.Layout(width="30em"),  # a track people can drag (it was ~35 px)
        )
        self.progress = w.IntProgress(min=0, max=1, description="Fetching")
        self.progress.layout.visibility = "hidden"
        self.grid = ReviewGrid()
        self.details = w.HTML()
        self.show_button = w.Button(
            description="Show message",
            icon="envelope-open",
            disabled=True,
            tooltip="Fetch the current row's message (it stays unread) and show its text",
        )
        self.message_view = w.HTML()
        # least privilege: the user's own group, the smallest audience their team still sees;
        # a wider (lower) group is a deliberate choice, and the note below says whom it adds
        self.own_group = directory.user_group(engine, user)
        self._own_viewers = directory.viewers_of(engine, self.own_group)
        self.accessible_to = w.Dropdown(
            options=[name for name, _level in directory.groups_up_to(engine, user)],
            value=self.own_group,
            description="Accessible to",
            style={"description_width": "initial"},
        )
        self.audience = w.HTML()
        self.import_button = w.Button(description="Import", button_style="success", icon="download")
        self.status = w.HTML()
        self.summary_view = w.HTML()
        self._on_imported: list[Callable[[ImportSummary], None]] = []
        super().__init__(
            [
                self.title,
                self.account_step,
                w.HBox(
                    [
                        self.folders,
                        w.VBox(
                            [
                                self.options,
                                self.threshold,
                                w.HBox([self.sync_button, self.progress]),
                            ]
                        ),
                    ]
                ),
                self.grid,
                w.HBox([self.details, self.show_button]),
                self.message_view,
                w.HBox([self.accessible_to, self.import_button]),
                self.audience,
                self.status,
                self.summary_view,
            ]
        )
        self.sync_button.on_click(lambda _b: self.synchronize())
        self.import_button.on_click(lambda _b: self.import_ticked())
        self.show_button.on_click(lambda _b: self.show_message())
        self.grid.on_current(lambda _row: self._show_details())
        self.accessible_to.observe(lambda _c: self._show_audience(), names="value")
        self.threshold.observe(lambda _c: self._threshold_moved(), names="value")
        self._show_audience()
        self.load_folders()

    def _use_account(self, account: str, secret: str | TokenProvider | None) -> None:
        """Another account was chosen (or signed in): its folders, nothing of the last one's."""
        self.account, self._secret = account, secret
        self.title.value = f"<h3>Email synchronization — {html.escape(account)}</h3>"
        self.result, self.summary = None, None
        self.grid.show(self.grid.frame.iloc[0:0])
        self.summary_view.value = self.message_view.value = self.details.value = ""
        self.status.value = ""
        self.load_folders()

    @_guarded
    def load_folders(self) -> None:
        self.folders.set_folders(list_folders(self.engine, self.account, secret=self._secret))

    def _progress(self, done: int, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = done

    @_guarded
    def synchronize(self) -> ReviewResult:
        """Review the ticked folders with the chosen option and show the grid."""
        self.options.check()
        if not self.folders.selected:
            raise ConfigurationError("Tick at least one folder.")
        self.status.value = "Fetching headers…"
        self.progress.value, self.progress.layout.visibility = 0, "visible"
        previous, self.result = self.grid.frame, None
        self.grid.show(previous.iloc[0:0])  # an error must not leave the last grid on screen
        self.details.value = self.message_view.value = self.summary_view.value = ""
        self.result = review_mailbox(
            self.engine,
            self.account,
            self.folders.selected,
            option=self.options.option,
            since=self.options.since,
            until=self.options.until,
            today=self._today,
            secret=self._secret,
            progress=self._progress,
            threshold=self.threshold.value,
            keep_unmatched=False,  # the grid's rows only: the others are counted
        )
        self.grid.show(carry_ticks(self.result.frame, previous))
        unmatched = self.result.unmatched_count
        self.status.value = (
            f"{len(self.result.frame)} messages from known correspondents; "
            f"{unmatched} from unknown addresses left out"
        )
        self.summary_view.value = ""
        return self.result

    def _threshold_moved(self) -> None:
        """Probable replies ticked anew from the chosen confidence; other ticks stay."""
        if len(self.grid.frame):
            self.grid.show(apply_threshold(self.grid.frame, self.threshold.value))

    def _show_details(self) -> None:
        position = self.grid.current
        self.message_view.value = ""
        self.show_button.disabled = position is None
        self.details.value = "" if position is None else row_details(self.grid.frame.iloc[position])

    def _show_audience(self) -> None:
        group = self.accessible_to.value
        self.audience.value = audience_note(
            group,
            directory.viewers_of(self.engine, group),
            own_group=self.own_group,
            own_viewers=self._own_viewers,
        )

    @_guarded
    def show_message(self) -> str:
        """Fetch the current row's message and show it safely (text part, or cleaned HTML)."""
        position = self.grid.current
        if position is None:
            self.status.value = "Tick a row to show its message."
            return ""
        row = self.grid.frame.iloc[position]
        body = read_message(
            self.engine, self.account, str(row[F.FOLDER]), int(row[F.UID]), secret=self._secret
        )
        sender = (
            row[F.FROM]
            if row[F.FROM] == row[F.FROM_ADDR]
            else (f"{row[F.FROM]} <{row[F.FROM_ADDR]}>")
        )
        self.message_view.value = render_message(
            subject=str(row[F.SUBJECT]),
            sender=str(sender),
            received=row[F.RECEIVED],
            text=body.text,
            html_body=body.html,
            attachments=[AttachmentInfo(p.filename, p.content_type, p.size) for p in body.parts],
        )
        return self.message_view.value

    @_guarded
    def import_ticked(self) -> ImportSummary | None:
        """Import the ticked rows at the chosen "Accessible to" group and show the summary."""
        if self.result is None:
            self.status.value = "Synchronize first."
            return None
        rows = self.grid.ticked
        if rows.empty:
            self.status.value = "Tick at least one row."
            return None
        self.status.value = f"Importing {len(rows)} messages…"
        self.summary = import_selected(
            self.engine,
            self.result,
            rows,
            user=self.user,
            accessible_to=self.accessible_to.value,
            secret=self._secret,
        )
        self.grid.show(mark_imported(self.grid.frame, self.summary.rows))
        self.status.value = f"Imported {self.summary.imported}, skipped {self.summary.skipped}."
        self.summary_view.value = _summary_html(self.summary.rows)
        for callback in self._on_imported:
            callback(self.summary)
        return self.summary

    def on_imported(self, callback: Callable[[ImportSummary], None]) -> None:
        """Call ``callback`` after each import (the notebook's runs and health views refresh)."""
        self._on_imported.append(callback)


def _summary_html(rows: pd.DataFrame) -> str:
    """What was imported and skipped, in the grid's words (plain headings, no index)."""
    view = rows[[F.FOLDER, F.SUBJECT, F.IMPORTED_INTO, F.CONTEXT, "outcome", "reason"]]
    view = view.rename(
        columns={
            F.FOLDER: "Folder",
            F.SUBJECT: "Subject",
            F.IMPORTED_INTO: "Imported into",
            F.CONTEXT: "Context",
            "outcome": "Outcome",
            "reason": "Why",
        }
    )
    return html_table(view, empty="Nothing imported.")
