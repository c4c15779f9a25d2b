"""Unattended runs: review + import in one go under the account's lock, a log line per folder.

For example, what ``primsync sync`` runs (with an engine on the CRM's database)::

    report = sync_account(engine, "ana@agency.example", ["INBOX"], accessible_to="Recruiters")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from primsync import frame as F
from primsync.commit import ImportSummary, import_selected
from primsync.db import queries
from primsync.db.locks import account_lock
from primsync.oauth import TokenProvider
from primsync.options import SyncOption
from primsync.replies import DEFAULT_THRESHOLD
from primsync.review import ReviewResult, review_mailbox
from primsync.selection import choose_rows

__all__ = ["SyncReport", "sync_account"]

logger = logging.getLogger("primsync.sync")


@dataclass(frozen=True)
class SyncReport:
    review: ReviewResult
    summary: ImportSummary
    lines: list[str]


def folder_lines(account: str, review: ReviewResult, summary: ImportSummary) -> list[str]:
    """One line per folder: what was fetched, shown, imported and skipped."""
    shown = review.frame[F.FOLDER].value_counts()
    outcome = summary.rows.groupby([F.FOLDER, "outcome"]).size()
    lines = []
    for scan in review.scans:
        imported = int(outcome.get((scan.folder, "imported"), 0))
        skipped = int(outcome.get((scan.folder, "skipped"), 0))
        lines.append(
            f"account={account} folder={scan.folder!r} fetched={len(scan.uids)} "
            f"shown={int(shown.get(scan.folder, 0))} imported={imported} skipped={skipped} "
            f"run={summary.run_id} status=ok"
        )
    return lines


def sync_account(
    engine: Engine,
    account: str,
    folders: str | Sequence[str],
    *,
    accessible_to: str,
    option: str | SyncOption = SyncOption.SINCE_LAST,
    select: str = "green",
    user: str | None = None,
    secret: str | TokenProvider | None = None,
    today: date | None = None,
    since: date | None = None,
    until: date | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    log: Callable[[str], None] = logger.info,
) -> SyncReport:
    """Review ``folders`` and import the ``select``-ed rows ("green": the pre-ticked ones, green
    and probable replies from ``threshold`` on; or "all"), holding the account's lock so that
    overlapping runs never collide (:class:`AccountLocked`)."""
    account_id, _ = queries.account_ids(engine, account)
    user = user or queries.owner_login(engine, account)
    with account_lock(engine, account_id, address=account):
        review = review_mailbox(
            engine,
            account,
            folders,
            option=option,
            secret=secret,
            today=today,
            since=since,
            until=until,
            threshold=threshold,
        )
        rows = choose_rows(review.frame, select=select)
        summary = import_selected(
            engine, review, rows, user=user, accessible_to=accessible_to, secret=secret
        )
    lines = folder_lines(account, review, summary)
    for line in lines:
        log(line)
    return SyncReport(review, summary, lines)
