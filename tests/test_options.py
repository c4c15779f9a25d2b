"""options: each sync option as the UID SEARCH it sends."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from primsync.db.runs import SyncState
from primsync.errors import ConfigurationError
from primsync.options import SyncOption, search_plan

TODAY = date(2026, 11, 27)


def test_plain_options():
    assert search_plan("unread", today=TODAY).criteria == ["UNSEEN"]
    assert search_plan("all", today=TODAY).criteria == ["ALL"]
    assert search_plan("today", today=TODAY).criteria == ["SINCE", TODAY]
    assert search_plan("7d", today=TODAY).criteria == ["SINCE", date(2026, 11, 20)]
    assert search_plan("30d", today=TODAY).criteria == ["SINCE", date(2026, 10, 28)]


def test_range_includes_both_days():
    plan = search_plan("range", today=TODAY, since=date(2026, 1, 1), until=date(2026, 1, 31))
    assert plan.criteria == ["SINCE", date(2026, 1, 1), "BEFORE", date(2026, 2, 1)]
    with pytest.raises(ConfigurationError):
        search_plan("range", today=TODAY)
    with pytest.raises(ConfigurationError):
        search_plan("range", today=TODAY, since=date(2026, 2, 1), until=date(2026, 1, 1))


def test_since_last():
    state = SyncState(uidvalidity=5, last_uid=41, last_sync_at=datetime(2026, 11, 2, tzinfo=UTC))
    assert search_plan("since-last", today=TODAY).criteria == ["ALL"]
    same = search_plan("since-last", today=TODAY, state=state, uidvalidity=5)
    assert (same.criteria, same.min_uid) == (["UID", "42:*"], 41)
    changed = search_plan("since-last", today=TODAY, state=state, uidvalidity=6)
    assert (changed.criteria, changed.min_uid) == (["SINCE", date(2026, 11, 2)], 0)


def test_unknown_option_and_labels():
    with pytest.raises(ConfigurationError):
        search_plan("yesterday", today=TODAY)
    assert SyncOption("since-last").label == "Since the last synchronization"
