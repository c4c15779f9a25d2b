"""selection: what the grid shows, what can be ticked, record choice — pure functions."""

from __future__ import annotations

import pandas as pd
import pytest

from primsync import frame as F
from primsync.errors import ConfigurationError
from primsync.selection import (
    audience_note,
    choose_record,
    choose_rows,
    grid_view,
    mark_imported,
    row_details,
    tickable_positions,
    with_selection,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    rows = [
        ("INBOX", 1, "Léa <b>", "lea@mail.example", "Re: Interview", "Léa Dubois", [1],
         ["Léa Dubois"], 1, "green", "Interview (3 Nov)", True, False),
        ("INBOX", 6, "Initech", "info@initech.example", "<script>x</script>", "Initech", [7, 8],
         ["Initech", "Bill Lumbergh"], 7, "yellow", None, False, False),
        ("Sent", 2, "Ana", "ana@agency.example", "Old", "Tom Baker", [2], ["Tom Baker"], 2,
         "yellow", None, False, True),
    ]  # fmt: skip
    columns = [F.FOLDER, F.UID, F.FROM, F.FROM_ADDR, F.SUBJECT, F.IMPORTED_INTO, F.CANDIDATES,
               F.CANDIDATE_NAMES, F.RECORD_ID, F.CONTEXT, F.ANNEXED_TO, F.SELECTED,
               F.ALREADY_IMPORTED]  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    out[F.RECEIVED] = pd.to_datetime(["2026-11-02 09:00", None, "2026-10-01 08:30"], utc=True)
    out[F.EVIDENCE] = ["green: References names <crm.1>", "yellow: no CRM id", "yellow"]
    out[F.DEFECTS] = [[], ["Date: unparsable 'x'"], []]
    return out


def test_grid_view_gives_the_browser_plain_text_and_each_row_its_kind(frame):
    """The browser escapes every cell (tests/test_browser.py reads them off the page): the
    kernel sends the text as written, strangers' markup included, and each row's kind."""
    view = grid_view(frame)
    assert list(view.columns) == [*F.GRID_COLUMNS.values(), "kind"]
    assert view["Received"].tolist() == ["2026-11-02 09:00", "", "2026-10-01 08:30"]
    assert view.iloc[0]["From"] == "Léa <b>" and view.iloc[1]["Subject"] == "<script>x</script>"
    assert view.iloc[1]["Imported into"] == "Initech (1 of 2, choose)"
    assert view.iloc[2]["Imported into"] == "Tom Baker"  # imported: no choice offered
    assert view["Context"].tolist() == ["green", "yellow", "imported"]
    assert view["kind"].tolist() == ["green", "yellow", "imported"]
    assert view["Annexed to"].tolist() == ["Interview (3 Nov)", "", ""]
    nested = grid_view(frame.assign(**{F.FOLDER: "INBOX/Clients/Acme"})).iloc[0]["Folder"]
    assert nested == "INBOX/Clients/Acme"  # the browser breaks it after each "/"
    sure = grid_view(frame.assign(**{F.CONTEXT: "probable", F.CONFIDENCE: 0.875}))
    assert sure["Context"].tolist() == ["probable 88%", "probable 88%", "imported"]
    assert sure["kind"].tolist() == ["probable", "probable", "imported"]


def test_tick_actions_newest_first_and_ticks_kept_on_a_new_synchronisation(frame):
    from primsync.selection import carry_ticks, newest_first, positions_of

    assert positions_of(frame, "green") == [0] and positions_of(frame, "yellow") == [1]
    assert positions_of(frame, "all") == [0, 1]  # never the imported row
    with pytest.raises(ConfigurationError, match="unknown tick action"):
        positions_of(frame, "blue")
    assert newest_first(frame)[F.UID].tolist() == [1, 2, 6]  # no date last
    before = with_selection(frame, [1])  # the user unticked the green row, ticked the yellow
    again = frame.copy()  # a new review of the same folders: the defaults again
    kept = carry_ticks(again, before)
    assert kept[F.SELECTED].tolist() == [False, True, False]


def test_ticks_never_reach_imported_rows(frame):
    assert tickable_positions(frame, [0, 1, 2, 7, -1]) == [0, 1]
    assert with_selection(frame, [1, 2])[F.SELECTED].tolist() == [False, True, False]
    assert frame[F.SELECTED].tolist() == [True, False, False]  # a copy: the input is unchanged


def test_choose_record_only_among_candidates(frame):
    chosen = choose_record(frame, 1, 8)
    assert (chosen.at[1, F.RECORD_ID], chosen.at[1, F.IMPORTED_INTO]) == (8, "Bill Lumbergh")
    with pytest.raises(ConfigurationError, match="record 3 is not a candidate"):
        choose_record(frame, 1, 3)


def test_mark_imported_after_an_import(frame):
    outcome = pd.DataFrame(
        {"outcome": ["imported", "skipped"], "reason": [None, "already imported into this record"]},
        index=[0, 1],
    )
    marked = mark_imported(with_selection(frame, [0, 1]), outcome)
    assert marked[F.ALREADY_IMPORTED].tolist() == [True, True, True]
    assert marked[F.SELECTED].tolist() == [False, False, False]


def test_choose_rows_green_all_uids_and_into(frame):
    assert choose_rows(frame)[F.UID].tolist() == [1]
    assert choose_rows(frame, select="all")[F.UID].tolist() == [1, 6]
    picked = choose_rows(frame, uids=["INBOX:6"], into=["INBOX:6=8"])
    assert picked[[F.UID, F.RECORD_ID]].values.tolist() == [[6, 8]]
    with pytest.raises(ConfigurationError, match="not rows of this review .*INBOX:99"):
        choose_rows(frame, uids=["INBOX:99"])
    with pytest.raises(ConfigurationError, match="expected FOLDER:UID, got 'INBOX'"):
        choose_rows(frame, uids=["INBOX"])
    with pytest.raises(ConfigurationError, match="--into names 'Sent:2'"):
        choose_rows(frame, into=["Sent:2=2"])


def test_details_and_audience(frame):
    details = row_details(frame.iloc[1])
    assert "&lt;script&gt;" in details and "Defects: Date: unparsable" in details
    same = audience_note("Recruiters", ["Ana"], own_group="Recruiters", own_viewers=["Ana"])
    assert same == "<div>Accessible to <b>Recruiters</b>: visible to 1 user: Ana.</div>"
    wider = audience_note("Public", ["Ana", "Paul <x>"], own_group="Recruiters",
                          own_viewers=["Ana"])  # fmt: skip
    assert "1 more user than your group Recruiters: Paul &lt;x&gt;." in wider
