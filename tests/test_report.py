"""report: the run summary and the health of an account, in words."""

from __future__ import annotations

import re

from primsync.db.queries import health_frame, recent_runs
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
