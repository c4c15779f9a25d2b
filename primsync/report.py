"""The run summary and the account's health as a person reads them: plain headings, local
time to the minute, nothing empty shown as None — for the notebook and the app.

>>> runs_table(recent_runs(engine, "ana@agency.example"))          # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd

__all__ = ["health_table", "html_table", "runs_table"]

_KINDS = {"review": "Review", "import": "Import", "undo": "Undo"}
_OPTIONS = {
    "unread": "Unread",
    "since-last": "Since the last sync",
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "range": "Between two dates",
    "all": "All messages",
}


def _local_minute(values: pd.Series) -> pd.Series:
    """UTC instants as this machine's local time, to the minute ("" for none)."""
    import datetime as dt

    zone = dt.datetime.now().astimezone().tzinfo
    when = pd.to_datetime(values, utc=True)
    return pd.Series(
        [t.astimezone(zone).strftime("%Y-%m-%d %H:%M") if pd.notna(t) else "" for t in when],
        index=values.index,
        dtype=object,
    )


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The latest runs (``recent_runs``) in words: when, what, folders, counts, outcome."""
    out = pd.DataFrame(
        {
            "When": _local_minute(runs["started_at"]),
            "What": runs["kind"].map(_KINDS).fillna(runs["kind"]),
            "Messages": runs["option"].map(_OPTIONS).fillna(runs["option"]),
            "Folders": runs["folders"].fillna(""),
            "Fetched": runs["fetched"],
            "Shown": runs["shown"],
            "Imported": runs["imported"],
            "Skipped": runs["skipped"],
            "Outcome": runs["status"]
            .map({"ok": "done", "failed": "failed"})
            .fillna(runs["status"]),
            "Why": runs["error"].fillna(""),
        }
    )
    return out.reset_index(drop=True)


def health_table(health: pd.DataFrame) -> pd.DataFrame:
    """The account's health (``health_frame``) in words, per folder."""
    expires = _local_minute(health["token_expires_at"])
    out = pd.DataFrame(
        {
            "Folder": health["folder"],
            "Last sync": _local_minute(health["last_sync_at"]),
            "Imported": health["imported"],
            "Last error": health["last_error"].fillna(""),
            "Error at": _local_minute(health["last_error_at"]),
        }
    )
    if (expires != "").any():
        out["Sign-in token until"] = expires
    return out.reset_index(drop=True)


def html_table(table: pd.DataFrame) -> str:
    """A small HTML table: no index column, escaped, wrapping within the width."""
    return table.to_html(index=False, escape=True, border=0, na_rep="").replace(
        "<table", '<table style="max-width:100%;white-space:normal"', 1
    )
