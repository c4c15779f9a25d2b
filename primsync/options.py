"""The sync options of the review and the IMAP SEARCH each one sends.

>>> plan = search_plan("7d", today=date(2026, 11, 27))
>>> plan.criteria
['SINCE', datetime.date(2026, 11, 20)]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from primsync.errors import ConfigurationError

__all__ = [
    "LastSync",
    "SearchPlan",
    "SyncOption",
    "folder_names",
    "parse_option",
    "search_plan",
]


def folder_names(folders: str | Sequence[str]) -> list[str]:
    """The folders to review: a list as it is, or one folder's name, or a JSON list as
    papermill hands over ``-p folders '["INBOX", "Sent"]'`` (a string).

    >>> folder_names("INBOX/Clients"), folder_names('["INBOX", "Sent"]'), folder_names(["INBOX"])
    (['INBOX/Clients'], ['INBOX', 'Sent'], ['INBOX'])
    """
    if not isinstance(folders, str):
        return [str(f) for f in folders]
    text = folders.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            listed = json.loads(text)
        except ValueError:
            listed = None
        if isinstance(listed, list) and all(isinstance(f, str) for f in listed):
            return listed
    return [folders]


class SyncOption(StrEnum):
    """The options of the review, by their command-line names."""

    UNREAD = "unread"
    SINCE_LAST = "since-last"
    TODAY = "today"
    LAST_7_DAYS = "7d"
    LAST_30_DAYS = "30d"
    RANGE = "range"
    ALL = "all"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    SyncOption.UNREAD: "Unread messages",
    SyncOption.SINCE_LAST: "Since the last synchronization",
    SyncOption.TODAY: "Today",
    SyncOption.LAST_7_DAYS: "Last 7 days",
    SyncOption.LAST_30_DAYS: "Last 30 days",
    SyncOption.RANGE: "Between two dates",
    SyncOption.ALL: "All messages",
}


class LastSync(Protocol):
    """What the last import remembered of a folder, as far as the search needs it (the
    database layer's ``SyncState`` is one)."""

    @property
    def uidvalidity(self) -> int: ...
    @property
    def last_uid(self) -> int: ...
    @property
    def last_sync_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """The UID SEARCH to send, and the UIDs to keep of its answer (those above ``min_uid``)."""

    criteria: list[object]
    min_uid: int = 0
    note: str = ""


def parse_option(option: str | SyncOption) -> SyncOption:
    try:
        return SyncOption(option)
    except ValueError:
        names = ", ".join(o.value for o in SyncOption)
        raise ConfigurationError(f"unknown option {option!r}; choose one of {names}") from None


def search_plan(
    option: str | SyncOption,
    *,
    today: date,
    since: date | None = None,
    until: date | None = None,
    state: LastSync | None = None,
    uidvalidity: int | None = None,
) -> SearchPlan:
    """The search for ``option`` in a folder whose current UIDVALIDITY is ``uidvalidity``.

    "since-last" asks for the UIDs above the last one seen while UIDVALIDITY is unchanged; after
    a UIDVALIDITY change it falls back to the date of the last sync (the dedupe keys then keep
    anything from being imported twice); a folder never synced gives all its messages.
    "range" includes both ``since`` and ``until``.
    """
    opt = parse_option(option)
    if opt is SyncOption.UNREAD:
        return SearchPlan(["UNSEEN"])
    if opt is SyncOption.ALL:
        return SearchPlan(["ALL"])
    if opt is SyncOption.TODAY:
        return SearchPlan(["SINCE", today])
    if opt is SyncOption.LAST_7_DAYS:
        return SearchPlan(["SINCE", today - timedelta(days=7)])
    if opt is SyncOption.LAST_30_DAYS:
        return SearchPlan(["SINCE", today - timedelta(days=30)])
    if opt is SyncOption.RANGE:
        if since is None:
            raise ConfigurationError("the option 'range' needs --since (and optionally --until)")
        if until is not None and until < since:
            raise ConfigurationError(f"--until {until} comes before --since {since}")
        criteria: list[object] = ["SINCE", since]
        if until is not None:
            criteria += ["BEFORE", until + timedelta(days=1)]
        return SearchPlan(criteria)
    # since-last
    if state is None:
        return SearchPlan(["ALL"], note="never synchronized: all messages")
    if uidvalidity is not None and state.uidvalidity == uidvalidity:
        # "n:*" always names the highest UID even when it is below n: min_uid filters it out
        return SearchPlan(
            ["UID", f"{state.last_uid + 1}:*"],
            min_uid=state.last_uid,
            note=f"UIDs above {state.last_uid}",
        )
    if state.last_sync_at is not None:
        return SearchPlan(
            ["SINCE", state.last_sync_at.date()],
            note="UIDVALIDITY changed: messages since the last sync date",
        )
    return SearchPlan(["ALL"], note="UIDVALIDITY changed and no last sync date: all messages")
