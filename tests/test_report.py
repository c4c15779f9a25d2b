"""report: the run summary and the health of an account, in words."""

from __future__ import annotations

import re

import pandas as pd

from primsync.db.runs import health_frame, recent_runs
from primsync.demo import DEMO_ACCOUNT
from primsync.report import health_table, html_table, runs_table
from primsync.review import review_mailbox
from tests.conftest import PASSWORD


def test_runs_and_health_read_as_words(db):
    review_mailbox(db, DEMO_ACCOUNT, ["INBOX"], option="7d", secret=PASSWORD)
    runs = runs_table(recent_runs(db, DEMO_ACCOUNT))
    assert list(runs.columns) == ["When", "What", "Messages", "Folders", "Fetched", "Shown",
                                  "Imported", "Skipped", "Outcome", "Why"]  # fmt: skip
    (row,) = runs.to_dict("records")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", row["When"])  # local time, to the minute
    assert (row["What"], row["Messages"], row["Folders"], row["Outcome"], row["Why"]) == (
        "Review", "Last 7 days", "INBOX", "done", ""
    )  # fmt: skip
    health = health_table(health_frame(db, DEMO_ACCOUNT))
    assert list(health.columns) == ["Folder", "Last sync", "Imported", "Last error", "Error at"]
    page = html_table(health)
    assert "None" not in page and "NaT" not in page and "<th></th>" not in page
    assert "highestmodseq" not in page and "uidvalidity" not in page


def _messages(rows: list[tuple[str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "received_at": pd.to_datetime([r[0] for r in rows], utc=True),
            "context": [r[1] for r in rows],
            "from_addr": [r[2] for r in rows],
        }
    )


def test_the_weekly_chart_shows_dated_weeks_with_their_bars_inside_the_axes():
    from primsync.report import weekly_chart, weekly_counts

    messages = _messages([
        ("2026-10-01 09:00", "green", "a@x.example"), ("2026-10-02 10:00", "yellow", "b@x.example"),
        ("2026-10-20 11:00", "green", "c@x.example"), ("2026-11-15 12:00", "probable", None),
    ])  # fmt: skip
    weekly = weekly_counts(messages)
    assert [d.strftime("%Y-%m-%d") for d in weekly.index] == [
        "2026-10-04", "2026-10-11", "2026-10-18", "2026-10-25", "2026-11-01", "2026-11-08",
        "2026-11-15",
    ]  # every week between the first and the last, empty ones too  # fmt: skip
    assert weekly.sum().to_dict() == {"green": 2, "probable": 1, "yellow": 1}
    axes = weekly_chart(weekly).axes[0]
    low, high = axes.get_xlim()
    bars = [p for p in axes.patches if p.get_height() > 0]
    assert len(bars) == 4
    for bar in bars:  # each bar within the axes, none in a sliver at an edge
        assert low < bar.get_x() and bar.get_x() + bar.get_width() < high
    spread = (max(b.get_x() for b in bars) - min(b.get_x() for b in bars)) / (high - low)
    assert spread > 0.7
    labels = [t.get_text() for t in axes.get_xticklabels()]
    assert labels[0] == "04 Oct 2026" and labels[-1] == "15 Nov 2026" and len(labels) <= 8
    positions = axes.get_xticks()
    assert list(positions) == sorted(positions) and len(set(positions)) == len(positions)
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["green", "probable", "yellow"]


def test_domains_in_their_own_script_and_empty_tables_in_words():
    from primsync.report import domain_counts, html_table, unicode_domain

    assert unicode_domain("xn--mnchen-3ya.example") == "münchen.example"
    assert unicode_domain("mail.xn--80akhbyknj4f.example") == "mail.испытание.example"
    assert unicode_domain("xn--broken-.example") == "xn--broken-.example"  # kept as it is
    messages = _messages([("2026-10-01", "green", "a@xn--mnchen-3ya.example"),
                          ("2026-10-02", "green", "b@MÜNCHEN.example".lower()),
                          ("2026-10-03", "yellow", "c@other.example")])  # fmt: skip
    assert domain_counts(messages).to_dict("list") == {
        "Domain": ["münchen.example", "other.example"], "Messages": [2, 1]}  # fmt: skip
    none = html_table(domain_counts(messages.iloc[0:0]), empty="No message.")
    assert none == "<p>No message.</p>"
    table = html_table(pd.DataFrame({"Name": ["x", None], "Score": [1.5, float("nan")],
                                     "When": [pd.NaT, pd.Timestamp("2026-01-01")]}))  # fmt: skip
    for shown in ("NaN", "NaT", "None", "&lt;NA"):
        assert shown not in table
    assert '<th style="text-align:left">Name</th>' in table
    assert '<th style="text-align:right">Score</th>' in table
    assert '<td style="text-align:right">1.5</td>' in table
