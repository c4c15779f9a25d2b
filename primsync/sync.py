"""Unattended runs: review + import in one go under the account's lock, a log line per folder;
and every scheduled account that is due, several at a time (``primsync sync --all``).

For example, what ``primsync sync`` runs (with an engine on the CRM's database)::

    report = sync_account(engine, "ana@agency.example", ["INBOX"], accessible_to="Recruiters")
    outcomes = sync_due(engine, jobs=4)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from primsync import frame as F
from primsync.commit import ImportSummary, import_selected
from primsync.db import accounts
from primsync.db.locks import account_lock
from primsync.db.schedules import Schedule, claim, due_schedules, record_outcome
from primsync.errors import ConfigurationError, PrimsyncError, log_unexpected, unexpected_words
from primsync.oauth import TokenProvider
from primsync.options import SyncOption
from primsync.replies import DEFAULT_THRESHOLD
from primsync.review import ReviewResult, review_mailbox
from primsync.selection import choose_rows

__all__ = [
    "AccountOutcome",
    "SyncReport",
    "exit_code_of",
    "sync_account",
    "sync_due",
    "sync_scheduled",
]

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
    account_id, _ = accounts.account_ids(engine, account)
    user = user or accounts.owner_login(engine, account)
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
            keep_unmatched=False,
        )
        rows = choose_rows(review.frame, select=select)
        summary = import_selected(
            engine, review, rows, user=user, accessible_to=accessible_to, secret=secret
        )
    lines = folder_lines(account, review, summary)
    for line in lines:
        log(line)
    return SyncReport(review, summary, lines)


# ``sync --all``'s exit code: the most serious of the failed accounts' codes, in this order — a
# bug (1), a configuration a person must correct (2: a folder renamed, a group gone), a
# permission (4), a connection or login error (3: a password, a server down or busy), another
# sync holding the account (5: it is being synced)
SEVERITY = (1, 2, 4, 3, 5)
DEFAULT_JOBS = 4  # accounts at a time: each mostly waits on its server


@dataclass(frozen=True)
class AccountOutcome:
    """One account's part of ``sync --all``: what it fetched, imported and skipped, the seconds
    it waited for a busy server, and its error (None when it succeeded)."""

    account: str
    new: int = 0
    imported: int = 0
    skipped: int = 0
    waited: float = 0.0
    seconds: float = 0.0
    error: str | None = None
    exit_code: int = 0


def exit_code_of(outcomes: Sequence[AccountOutcome]) -> int:
    """0 when every account succeeded, else the most serious code of those that failed.

    >>> exit_code_of([AccountOutcome("a"), AccountOutcome("b", error="x", exit_code=3),
    ...               AccountOutcome("c", error="y", exit_code=5)])
    3
    """
    codes = {o.exit_code for o in outcomes if o.error}
    return next((c for c in SEVERITY if c in codes), max(codes, default=0))


def sync_scheduled(
    engine: Engine, schedule: Schedule, log: Callable[[str], None]
) -> AccountOutcome:
    """One scheduled account synced as its schedule says (claimed already), its outcome
    recorded on the schedule; a failure is the outcome's, never raised."""
    started = time.monotonic()
    try:
        report = sync_account(
            engine,
            schedule.address,
            schedule.folders,
            accessible_to=schedule.accessible_to,
            option=schedule.option,
            select=schedule.select,
            threshold=DEFAULT_THRESHOLD if schedule.threshold is None else schedule.threshold,
            log=log,
        )
    except PrimsyncError as exc:
        error, code = str(exc), exc.exit_code
    except Exception as exc:  # a bug: this account's traceback is logged, the others go on
        error, code = unexpected_words(exc, log_unexpected(f"sync --all {schedule.address}")), 1
    else:
        record_outcome(engine, schedule.address, error=None)
        return AccountOutcome(
            schedule.address,
            new=sum(len(scan.uids) for scan in report.review.scans),
            imported=report.summary.imported,
            skipped=report.summary.skipped,
            waited=report.review.waited,
            seconds=time.monotonic() - started,
        )
    record_outcome(engine, schedule.address, error=error)
    log(f"account={schedule.address} status=failed exit={code} error={error}")
    return AccountOutcome(
        schedule.address, seconds=time.monotonic() - started, error=error, exit_code=code
    )


def sync_due(
    engine: Engine,
    *,
    jobs: int = DEFAULT_JOBS,
    log: Callable[[str], None] = logger.info,
) -> list[AccountOutcome]:
    """Sync every scheduled account that is due, ``jobs`` at a time, each under its lock; one
    account's failure never stops the others. An account another run has just claimed is left
    to it. The outcomes come in the order the accounts were due."""
    if jobs < 1:
        raise ConfigurationError(f"--jobs {jobs}: at least 1")
    due = due_schedules(engine)
    mine = [s for s in due if claim(engine, s)]
    if not mine:
        return []
    with ThreadPoolExecutor(max_workers=min(jobs, len(mine)), thread_name_prefix="sync") as pool:
        return list(pool.map(lambda s: sync_scheduled(engine, s, log), mine))
