"""The run summary, the account's health and the explore notebook's tables and chart as a
person reads them: plain headings, local time to the minute, domains in their own script,
nothing empty shown as None, NaN or a pandas repr — for the notebook and the app.

>>> runs_table(recent_runs(engine, "ana@agency.example"))          # doctest: +SKIP
>>> unicode_domain("xn--mnchen-3ya.example")
'münchen.example'
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

__all__ = [
    "domain_counts",
    "health_table",
    "html_table",
    "runs_table",
    "schedules_table",
    "unicode_domain",
    "weekly_chart",
    "weekly_counts",
]

CONTEXT_COLOURS = {"green": "#66bb6a", "probable": "#64b5f6", "yellow": "#fdd835"}

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


def schedules_table(schedules: pd.DataFrame) -> pd.DataFrame:
    """Every account on schedule (``schedule_frame``) in words: what is synced how often, the
    last sync and how it went, when the next one is due.

    >>> frame = pd.DataFrame([{"account": "a@x.example", "folders": "INBOX, Sent",
    ...     "option": "since-last", "select": "green", "accessible_to": "Recruiters",
    ...     "every": "15m", "enabled": False, "last_started_at": None, "last_status": None,
    ...     "last_error": None, "next_due_at": None}])
    >>> schedules_table(frame).iloc[0].tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['a@x.example', 'INBOX, Sent', 'every 15m', '', 'never run', '', 'switched off']
    """
    status = schedules["last_status"].map({"ok": "done", "failed": "failed"})
    out = pd.DataFrame(
        {
            "Account": schedules["account"],
            "Folders": schedules["folders"],
            "Every": "every " + schedules["every"].astype(str),
            "Last sync": _local_minute(schedules["last_started_at"]),
            "Outcome": status.where(schedules["last_status"].notna(), "never run"),
            "Last error": schedules["last_error"].fillna(""),
            "Next": _local_minute(schedules["next_due_at"]).where(
                schedules["enabled"].astype(bool), "switched off"
            ),
        }
    )
    return out.reset_index(drop=True)


def html_table(table: pd.DataFrame, empty: str = "Nothing to show.") -> str:
    """A small HTML table: no index column, escaped, wrapping within the width, headings
    aligned with their cells (left; numbers right), empty cells empty; ``empty`` in words when
    there is no row."""
    import html

    if table.empty:
        return f"<p>{html.escape(empty)}</p>"
    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    blank = table.astype(object).where(table.notna(), "")  # None, NaN, NaT, <NA>: empty cells
    out = blank.to_html(index=False, escape=True, border=0, na_rep="")

    def aligned(tag: str, text: str) -> str:
        """Each ``<tag>`` of ``text`` (one row, or the heading row) aligned as its column."""
        kinds = iter(numeric)

        def one(_match: re.Match[str]) -> str:
            return f'<{tag} style="text-align:{"right" if next(kinds, False) else "left"}">'

        return re.sub(f"<{tag}>", one, text)

    rows = [aligned("td", aligned("th", row)) for row in out.split("<tr>")]
    return "<tr>".join(rows).replace(
        "<table", '<table style="max-width:100%;white-space:normal"', 1
    )


def unicode_domain(domain: str) -> str:
    """A domain as people write it: its punycode labels (``xn--``) decoded; as it is when they
    cannot be."""
    if "xn--" not in domain:
        return domain
    labels = []
    for label in domain.split("."):
        try:
            labels.append(
                label.encode("ascii").decode("idna") if label.startswith("xn--") else label
            )
        except UnicodeError:
            labels.append(label)
    return ".".join(labels)


def domain_counts(messages: pd.DataFrame) -> pd.DataFrame:
    """Messages by sender's domain (in Unicode), most first: Domain, Messages."""
    domains = messages["from_addr"].fillna("").str.rsplit("@", n=1).str[-1].map(unicode_domain)
    counts = domains[domains != ""].value_counts()
    return pd.DataFrame({"Domain": counts.index, "Messages": counts.to_numpy()})


def weekly_counts(messages: pd.DataFrame) -> pd.DataFrame:
    """Messages per week (weeks ending on Sunday, every week between the first and the last) and
    context: one column per context, the week's last day as index."""
    if messages.empty:
        return pd.DataFrame(columns=list(CONTEXT_COLOURS))
    when = pd.to_datetime(messages["received_at"], utc=True)
    frame = pd.DataFrame({"when": when, "context": messages["context"].to_numpy()})
    weekly = (
        frame.set_index("when")
        .groupby("context")
        .resample("W")
        .size()
        .unstack(0, fill_value=0)
        .asfreq("W", fill_value=0)
    )
    weekly.columns.name = None
    weekly.index = weekly.index.tz_convert(None).normalize()
    return weekly.fillna(0).astype(int)


def weekly_chart(weekly: pd.DataFrame, title: str = "Imported messages per week") -> Any:
    """A stacked bar chart of :func:`weekly_counts`: one bar a week at its date, labelled by
    the week's last day (a matplotlib Figure, shown by the notebook as an image)."""
    from datetime import timedelta

    import numpy as np
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3), layout="constrained")
    axes = figure.subplots()
    days = list(weekly.index.to_pydatetime())
    bottom = np.zeros(len(days))
    for context, colour in CONTEXT_COLOURS.items():
        if context in weekly.columns and weekly[context].sum():
            heights = weekly[context].to_numpy(dtype=float)
            axes.bar(days, heights, width=5, bottom=bottom, color=colour, label=context)
            bottom += heights
    if days:
        axes.set_xlim(days[0] - timedelta(days=4), days[-1] + timedelta(days=4))
        step = max(1, -(-len(days) // 8))  # at most 8 labels, evenly spread
        shown = days[::step]
        axes.set_xticks(shown, [d.strftime("%d %b %Y") for d in shown])
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    axes.set_title(title)
    axes.set_xlabel("week ending")
    axes.set_ylabel("messages")
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return figure
